"""Threshold sync, decided without any AWS call: which alarms to look at, and what to write.

A sync run reads the registry (entries, and what the last run applied: one :class:`ModelState` per
model) and the Bedrock quotas once, then works in two steps:

1. :func:`plan_checks` chooses the alarms worth a DescribeAlarms. A model whose entry changed, or
   that has no state yet, is *reconciled*: all its alarms are compared with the registry. Any other
   model is only *quota-checked*: a pressure alarm is looked at only when its recomputed threshold
   differs from the one recorded. So a run where nothing changed describes and writes nothing:
   its cost follows what changes, not what exists.
2. :func:`plan_model` compares the described alarms with the registry and returns the writes, the
   change records and the model's new state.

A quota that cannot be read (lookup throttled or denied, or the quota missing from the listing)
leaves the threshold unknown; an alarm with an unknown threshold keeps the one it has. Nothing here
ever removes, disables or loosens an alarm for lack of a quota.

:func:`plan_threshold_changes` is the quota-only question on its own, for callers such as the
workflow right after an approved quota increase.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import Field

from opspilot.domain.alarm_names import ANOMALY, OPTIONAL_QUOTA_KINDS, PRESSURE, alarm_name
from opspilot.domain.aws_events import RegistryStreamBatch, StackEvent
from opspilot.domain.base import Record, RecordError
from opspilot.domain.errors import InvalidInput, OpsPilotError
from opspilot.domain.model_alarms import (
    KIND_TAG,
    DesiredAlarm,
    QuotaSnapshot,
    StackDefaults,
    create_params,
    current_threshold,
    desired_alarms,
    effective_percent,
    enabled_kinds,
    managed_differences,
    pool_members,
    profiles_by_pool,
    quota_code_for,
    replace_params,
    with_threshold,
)
from opspilot.domain.quotas import pressure_threshold
from opspilot.domain.registry import ModelEntry
from opspilot.domain.sync_state import Action, AlarmRecord, ChangeRecord, ModelState, Reason


class QuotaLookupFailed(OpsPilotError):
    """Service Quotas could not be read in this run (throttled, denied): thresholds stay as they are."""


class AlarmWriteFailed(OpsPilotError):
    """CloudWatch refused one alarm write (e.g. LimitExceeded, InvalidParameterValue)."""


class SyncIncomplete(OpsPilotError):
    """A run stopped before every write was made (time budget, throttling); what it did is saved and
    the next run carries on."""


class SyncRequest(Record):
    """Why a sync runs and what it covers. Empty ``model_ids`` and ``quota_codes``: every model."""

    reason: Reason
    full: bool = False  # reconcile every alarm in scope, not only quota-driven thresholds
    model_ids: list[str] = Field(default_factory=list)
    quota_codes: list[str] = Field(default_factory=list)
    execution_id: str | None = None
    # A run too large for one invocation goes on in rounds (the AlarmSyncStateMachine): a round
    # covers only the models after ``start_after`` (model ids in sorted order); ``continued`` marks
    # the rounds the state machine runs, which report back instead of starting another.
    start_after: str | None = None
    continued: bool = False


class ThresholdChange(Record):
    model_id: str
    alarm_name: str
    kind: str
    old_threshold: float | None
    new_threshold: float
    quota_code: str
    quota_value: float
    percent: float


@dataclass(frozen=True)
class Write:
    """One CloudWatch write: ``put`` (PutMetricAlarm params), ``tag`` (alarm ARN and tags) or
    ``delete`` (alarm name)."""

    op: Literal["put", "tag", "delete"]
    alarm_name: str
    params: dict[str, Any] = field(default_factory=dict)
    record: ChangeRecord | None = None


@dataclass
class ModelPlan:
    model_id: str
    writes: list[Write] = field(default_factory=list)
    state: ModelState | None = None  # None: forget the model (its entry is gone)
    kept: list[str] = field(default_factory=list)  # alarms whose threshold was kept (quota unknown)
    pending: list[str] = field(default_factory=list)  # alarms not created: quota unknown


@dataclass(frozen=True)
class Checks:
    """The models to reconcile or quota-check, and the alarm names to describe."""

    reconcile: frozenset[str]
    quota_checked: frozenset[str]
    names: list[str]
    desired: dict[str, list[DesiredAlarm]]
    problems: list[str]
    kept: list[str]
    over_budget: list[str] = field(default_factory=list)  # anomaly alarms left out: no model left


def _state_names(state: ModelState | None) -> list[str]:
    return list(state.alarms) if state else []


def _in_quota_scope(entry: ModelEntry, codes: set[str], quotas: QuotaSnapshot | None) -> bool:
    if not codes:
        return True
    if quotas is None:
        return False
    return any(quota_code_for(entry, kind, quotas) in codes for kind in ("rpm", "tpm", "tpd"))


def fingerprint(alarms: Sequence[DesiredAlarm]) -> str:
    """A digest of everything the registry and the stack decide about a model's alarms except the
    quota-driven thresholds: names, definitions, pool members, tags. While it is unchanged since the
    last reconcile, only thresholds can need a write."""
    canonical = json.dumps([[a.name, a.params, a.tags] for a in alarms], sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def models_to_reconcile(
    request: SyncRequest,
    entries: Mapping[str, tuple[ModelEntry, int]],
    states: Mapping[str, ModelState],
) -> set[str]:
    """Models whose every alarm is compared: all of them on ``full``; new and removed ones; those
    named by a registry change and the models sharing their quota pool. :func:`plan_checks` adds
    every model whose definitions changed since its last reconcile (see :func:`fingerprint`)."""
    everything = set(entries) | set(states)
    if request.full:
        return {m for m in everything if not request.model_ids or m in request.model_ids}
    chosen = (set(entries) - set(states)) | (set(states) - set(entries))
    if request.reason == "registry_change":
        named = set(request.model_ids)
        pools = {entries[m][0].pool for m in named if m in entries} | {
            states[m].pool for m in named if m in states
        }
        chosen |= named & everything
        chosen |= {m for m, (e, _) in entries.items() if e.pool in pools}
        chosen |= {m for m, s in states.items() if s.pool in pools}
    return chosen


def anomaly_allowance(
    entries: Mapping[str, tuple[ModelEntry, int]], states: Mapping[str, ModelState], stack: StackDefaults
) -> frozenset[str]:
    """The anomaly alarms the stack's budget of anomaly detection models allows (each alarm needs
    one model: its metric, dimensions and statistic). Alarms that exist keep theirs; then production
    models come first, then the others, each in model id order, so a new registration never takes a
    band away from a model that has one."""
    wanted: list[tuple[int, str, str]] = []
    for model_id, (entry, _) in entries.items():
        state = states.get(model_id)
        recorded = state.alarms if state else {}
        for kind in enabled_kinds(entry):
            if kind in ANOMALY:
                name = alarm_name(stack.alarm_name_prefix, model_id, kind)
                first = 0 if name in recorded else 1 if entry.environment.value == "production" else 2
                wanted.append((first, model_id, name))
    return frozenset(name for _, _, name in sorted(wanted)[: max(stack.anomaly_budget, 0)])


def plan_checks(
    request: SyncRequest,
    entries: Mapping[str, tuple[ModelEntry, int]],
    states: Mapping[str, ModelState],
    quotas: QuotaSnapshot | None,
    stack: StackDefaults,
) -> Checks:
    """Step 1: what to describe. ``entries`` maps model id -> (valid entry, version). A round that
    starts after a model (``request.start_after``) looks only at the models after it."""
    allowed = anomaly_allowance(entries, states, stack)
    after = request.start_after
    reconcile = {m for m in models_to_reconcile(request, entries, states) if after is None or m > after}
    pools = profiles_by_pool(e for e, _ in entries.values())
    codes = set(request.quota_codes)
    names: list[str] = []
    desired: dict[str, list[DesiredAlarm]] = {}
    problems: list[str] = []
    kept: list[str] = []
    quota_checked: set[str] = set()
    over_budget: list[str] = []
    for model_id in sorted(set(entries) | set(states)):
        if after is not None and model_id <= after:
            continue
        state = states.get(model_id)
        if model_id not in entries:
            if model_id in reconcile:
                names += _state_names(state)
            continue
        entry = entries[model_id][0]
        if model_id not in reconcile and not _in_quota_scope(entry, codes, quotas):
            continue
        alarms, issues = desired_alarms(entry, stack, quotas, pool_members(entry, pools))
        over_budget += [a.name for a in alarms if a.kind in ANOMALY and a.name not in allowed]
        alarms = [a for a in alarms if a.kind not in ANOMALY or a.name in allowed]
        if quotas is None:  # RPM and daily alarms exist where a quota was listed: keep what exists
            had = set(state.alarms) if state else set()
            alarms = [a for a in alarms if PRESSURE.get(a.kind) not in OPTIONAL_QUOTA_KINDS or a.name in had]
        desired[model_id] = alarms
        problems += issues
        if model_id not in reconcile and (state is None or state.fingerprint != fingerprint(alarms)):
            reconcile.add(model_id)
        if model_id in reconcile:
            names += [a.name for a in alarms]
            names += [n for n in _state_names(state) if n not in {a.name for a in alarms}]
            continue
        quota_checked.add(model_id)
        recorded = state.alarms if state else {}
        for alarm in alarms:
            if not alarm.is_pressure:
                continue
            if alarm.threshold is None:
                if alarm.name in recorded:
                    kept.append(alarm.name)
                continue
            record = recorded.get(alarm.name)
            if record is None or record.threshold != alarm.threshold:
                names.append(alarm.name)
    return Checks(frozenset(reconcile), frozenset(quota_checked), names, desired, problems, kept, over_budget)


def plan_threshold_changes(
    entries: Iterable[ModelEntry],
    states: Mapping[str, ModelState],
    quotas: QuotaSnapshot,
    stack: StackDefaults,
    quota_codes: Sequence[str] = (),
) -> list[ThresholdChange]:
    """The pressure alarms whose threshold the current ``quotas`` move away from the one the last
    sync recorded, e.g. right after an approved quota increase (``quota_codes`` narrows it)."""
    changes = []
    for entry in entries:
        state = states.get(entry.model_id)
        for kind, quota_kind in PRESSURE.items():
            code = quota_code_for(entry, quota_kind, quotas)
            value = quotas.limit(code, entry.pool) if code else None
            if code is None or value is None or (quota_codes and code not in quota_codes):
                continue
            name = next(
                (n for n, r in (state.alarms.items() if state else []) if r.kind == kind),
                None,
            )
            percent = effective_percent(entry, quota_kind, stack)
            new = float(pressure_threshold(value, percent))
            old = state.alarms[name].threshold if state and name else None
            if old != new:
                changes.append(
                    ThresholdChange(
                        model_id=entry.model_id,
                        alarm_name=name or alarm_name(stack.alarm_name_prefix, entry.model_id, kind),
                        kind=kind,
                        old_threshold=old,
                        new_threshold=new,
                        quota_code=code,
                        quota_value=value,
                        percent=percent,
                    )
                )
    return changes


def plan_model(
    model_id: str,
    *,
    entry: tuple[ModelEntry, int] | None,
    desired: Sequence[DesiredAlarm],
    checked: Collection[str],
    described: Mapping[str, Mapping[str, Any]],
    state: ModelState | None,
    reconcile: bool,
    request: SyncRequest,
    at: str,
    run_id: str,
) -> ModelPlan:
    """Step 2: the writes that bring one model's alarms in line, and its new state.

    ``checked`` are the names :func:`plan_checks` chose and ``described`` what DescribeAlarms
    returned for them (a checked name missing from it does not exist). On a reconcile every field
    is compared and tags follow the entry; on a quota check only thresholds move, written back
    from the described alarm with nothing else changed."""
    plan = ModelPlan(model_id)
    recorded = dict(state.alarms) if state else {}

    def record(
        alarm: DesiredAlarm | None,
        name: str,
        kind: str,
        action: Action,
        old: float | None,
        new: float | None,
        fields: Sequence[str] = (),
    ) -> ChangeRecord:
        basis = alarm.basis if alarm else None
        return ChangeRecord(
            model_id=model_id,
            alarm_name=name,
            kind=kind,
            action=action,
            old_threshold=old,
            new_threshold=new,
            quota_code=basis.quota_code if basis else None,
            quota_value=basis.quota_value if basis else None,
            percent=basis.percent if basis else None,
            fields=list(fields),
            at=at,
            reason=request.reason,
            run_id=run_id,
        )

    def delete(name: str, kind: str) -> None:
        old = current_threshold(described[name])
        plan.writes.append(Write("delete", name, record=record(None, name, kind, "delete", old, None)))

    if entry is None:  # removed from the registry: its alarms go, and so does its state
        for name, alarm_record in recorded.items():
            if name in described:
                delete(name, alarm_record.kind)
        return plan
    model_entry, version = entry
    tags = {k: v for k, v in (desired[0].tags if desired else {}).items() if k != KIND_TAG}
    retag = reconcile and (state is None or state.tags != tags)
    records: dict[str, AlarmRecord] = {}
    for alarm in desired:
        if not reconcile and alarm.name not in checked:
            if alarm.name in recorded:
                records[alarm.name] = recorded[alarm.name]  # not looked at: unchanged
            continue
        current = described.get(alarm.name)
        if current is None:
            if alarm.is_pressure and alarm.threshold is None:
                plan.pending.append(alarm.name)  # created by a later run, once the quota is known
                continue
            rec = record(alarm, alarm.name, alarm.kind, "create", None, alarm.threshold)
            plan.writes.append(Write("put", alarm.name, create_params(alarm), rec))
            records[alarm.name] = _alarm_record(alarm, alarm.threshold)
            continue
        old = current_threshold(current)
        unknown = alarm.is_pressure and alarm.threshold is None
        target = old if unknown else alarm.threshold
        if unknown:
            plan.kept.append(alarm.name)
        differences = managed_differences(alarm, current) if reconcile else []
        if differences:
            params = replace_params(alarm, old)
            rec = record(alarm, alarm.name, alarm.kind, "update", old, params.get("Threshold"), differences)
            plan.writes.append(Write("put", alarm.name, params, rec))
        elif target is not None and old is not None and target != old:
            rec = record(alarm, alarm.name, alarm.kind, "threshold", old, target)
            plan.writes.append(Write("put", alarm.name, with_threshold(current, target), rec))
        if retag:
            rec = record(alarm, alarm.name, alarm.kind, "retag", old, old, sorted(alarm.tags))
            params = {"ResourceARN": current["AlarmArn"], "Tags": alarm.tags}
            plan.writes.append(Write("tag", alarm.name, params, rec))
        if unknown and alarm.name in recorded:
            records[alarm.name] = recorded[alarm.name].replace(threshold=target)
        else:
            records[alarm.name] = _alarm_record(alarm, target)
    if reconcile:
        wanted = {a.name for a in desired}
        for name, alarm_record in recorded.items():
            if name not in wanted and name in described:
                delete(name, alarm_record.kind)
    plan.state = ModelState(
        model_id=model_id,
        pool=model_entry.pool,
        entry_version=version if reconcile or state is None else state.entry_version,
        tags=tags,
        alarms=records,
        fingerprint=fingerprint(desired) if reconcile else (state.fingerprint if state else ""),
        synced_at=at,
    )
    return plan


def _alarm_record(alarm: DesiredAlarm, threshold: float | None) -> AlarmRecord:
    basis = alarm.basis
    return AlarmRecord(
        kind=alarm.kind,
        threshold=threshold,
        quota_code=basis.quota_code if basis else None,
        quota_value=basis.quota_value if basis else None,
        percent=basis.percent if basis else None,
    )


def request_from_event(event: Any) -> tuple[SyncRequest, StackEvent | None]:
    """What started the sync: a registry stream batch, a stack lifecycle request, or a direct
    invocation (the daily schedule's input, the workflow after a quota increase, a person, a
    round of AlarmSyncStateMachine). A malformed event raises InvalidInput naming the field."""
    if not isinstance(event, Mapping):
        raise InvalidInput("field '<event>': expected an object")
    try:
        if "Records" in event:
            batch = RegistryStreamBatch.parse(event)
            return SyncRequest(reason="registry_change", model_ids=batch.model_ids()), None
        if "RequestType" in event and "ResponseURL" in event:
            stack = StackEvent.parse(event)
            reason: Reason = "stack_delete" if stack.request_type == "Delete" else "stack_update"
            return SyncRequest(reason=reason), stack
    except RecordError as exc:
        raise InvalidInput(str(exc)) from exc
    if set(event) == {"request", "execution_id"}:  # a round of AlarmSyncStateMachine (SyncRound)
        if not isinstance(event["request"], Mapping):
            raise InvalidInput("field 'request': expected an object")
        event = {**event["request"], "execution_id": event["execution_id"]}
    try:
        return SyncRequest.parse(event), None
    except RecordError as exc:
        raise InvalidInput(str(exc)) from exc
