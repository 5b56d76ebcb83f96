"""One threshold sync run: the pure plan (:mod:`opspilot.domain.threshold_sync`) carried out
through the adapters.

Calls per run: one paginated Query of the registry, one paginated ListServiceQuotas, DescribeAlarms
for the alarms worth checking (100 names a call), one write per alarm that changes, BatchWriteItem
for the new states and change records (25 a call), one PutItem for the run, and an SNS message
only when something failed. The alarm calls are paced to CloudWatch's documented rates by the
adapter; a run checks its time budget before every write and, when it must stop, says where
(``resume_after``) so that the next round starts there. No AWS SDK here: the adapters are passed in.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pydantic import Field

from opspilot.domain.base import Record
from opspilot.domain.errors import TransientAwsError
from opspilot.domain.labels import label
from opspilot.domain.model_alarms import QuotaSnapshot, StackDefaults
from opspilot.domain.registry import ModelEntry, RegistryError, validate_entry
from opspilot.domain.sync_state import ChangeRecord, ModelState
from opspilot.domain.threshold_sync import (
    AlarmWriteFailed,
    QuotaLookupFailed,
    SyncRequest,
    Write,
    plan_checks,
    plan_model,
)

# Stop writing this long before the Lambda timeout; the next round goes on from the saved states.
# Checked before every write: one write (paced to 3 a second, botocore's retries, then backed off up
# to 7 s) fits in it.
WRITE_MARGIN_SECONDS = 20.0


class RegistryPort(Protocol):
    def load(self) -> Any: ...
    def save_sync(
        self, states: dict[str, ModelState | None], changes: list[ChangeRecord], now: datetime
    ) -> int: ...
    def record_run(self, run: dict[str, Any], now: datetime) -> None: ...


class AlarmsPort(Protocol):
    def describe(self, names: list[str]) -> dict[str, dict[str, Any]]: ...
    def put(self, params: Mapping[str, Any]) -> None: ...
    def tag(self, arn: str, tags: Mapping[str, str]) -> None: ...
    def delete(self, names: list[str]) -> int: ...


@dataclass(frozen=True, kw_only=True)
class SyncDependencies:
    registry: RegistryPort
    alarms: AlarmsPort
    list_quotas: Callable[[], list[dict[str, Any]]]  # raises QuotaLookupFailed
    now: Callable[[], datetime]
    remaining_seconds: Callable[[], float] = lambda: float("inf")
    report_failure: Callable[[str, str], None] | None = None  # (subject, message)
    # the registered models and the quotas of this run: their ModelQuota* metrics (the dashboard)
    record_quotas: Callable[[list[ModelEntry], QuotaSnapshot], None] | None = None


class SyncReport(Record, frozen=False):
    """What a run did; returned by the handler and summarised in the run record."""

    run_id: str
    reason: str
    started_at: str
    finished_at: str = ""
    complete: bool = True
    models: int = 0
    reconciled: int = 0
    quota_checked: int = 0
    quota_lookup: str = "ok"
    described: int = 0
    created: int = 0
    threshold_updates: int = 0
    updated: int = 0
    retagged: int = 0
    deleted: int = 0
    kept: list[str] = Field(default_factory=list)
    pending: list[str] = Field(default_factory=list)
    over_budget: list[str] = Field(default_factory=list)  # anomaly alarms the budget leaves out
    resume_after: str | None = None  # an incomplete run's next round starts after this model
    problems: list[str] = Field(default_factory=list)
    failures: list[str] = Field(default_factory=list)
    changes: list[ChangeRecord] = Field(default_factory=list)

    def summary(self, max_changes: int = 50) -> dict[str, Any]:
        doc = self.to_json()
        doc["changes"] = doc["changes"][:max_changes]
        doc["changes_total"] = len(self.changes)
        doc["over_budget_total"] = len(self.over_budget)
        for key in ("kept", "pending", "over_budget", "problems", "failures"):
            doc[key] = doc[key][:200]
        return doc


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _snapshot(listed: list[dict[str, Any]]) -> QuotaSnapshot:
    return QuotaSnapshot(
        {q["QuotaCode"]: (q["QuotaName"], float(q["Value"])) for q in listed if "Value" in q}
    )


def _valid_entries(snapshot: Any, report: SyncReport) -> dict[str, tuple[ModelEntry, int]]:
    entries: dict[str, tuple[ModelEntry, int]] = {}
    for model_id, stored in snapshot.entries.items():
        try:
            entries[model_id] = (validate_entry(stored.entry), stored.version)
        except RegistryError as exc:  # stored by hand around the CLI: its alarms are left as they are
            report.problems.append(f"{model_id}: invalid registry entry, alarms left unchanged: {exc}")
    return entries


def run_sync(request: SyncRequest, stack: StackDefaults, deps: SyncDependencies) -> SyncReport:
    started = deps.now()
    at = _iso(started)
    report = SyncReport(run_id=uuid.uuid4().hex[:12], reason=request.reason, started_at=at)
    snapshot = deps.registry.load()
    entries = _valid_entries(snapshot, report)
    states: dict[str, ModelState] = dict(snapshot.states)
    invalid = set(snapshot.entries) - set(entries)
    if request.reason == "stack_delete":
        entries, invalid = {}, set()
    report.models = len(entries)
    quotas: QuotaSnapshot | None = None
    if entries:
        try:
            quotas = _snapshot(deps.list_quotas())
        except QuotaLookupFailed as exc:
            report.quota_lookup = f"failed: {exc}"
    if quotas is not None and deps.record_quotas and request.start_after is None:  # once a run
        deps.record_quotas([e for e, _ in entries.values()], quotas)
    checks = plan_checks(
        request, entries, {m: s for m, s in states.items() if m not in invalid}, quotas, stack
    )
    report.kept += checks.kept
    report.over_budget += checks.over_budget
    report.problems += checks.problems
    report.reconciled, report.quota_checked = len(checks.reconcile), len(checks.quota_checked)
    described = deps.alarms.describe(checks.names) if checks.names else {}
    report.described = len(checks.names)
    new_states: dict[str, ModelState | None] = {}
    stopped = False
    done = request.start_after  # the last model whose writes all went through (or were not needed)
    checked = set(checks.names)
    touched = {m for m in checks.quota_checked if any(a.name in checked for a in checks.desired[m])}
    for model_id in sorted(checks.reconcile | touched):
        if model_id in invalid:
            continue
        plan = plan_model(
            model_id,
            entry=entries.get(model_id),
            desired=checks.desired.get(model_id, []),
            checked=checked,
            described=described,
            state=states.get(model_id),
            reconcile=model_id in checks.reconcile,
            request=request,
            at=at,
            run_id=report.run_id,
        )
        report.kept += plan.kept
        report.pending += plan.pending
        if deps.remaining_seconds() < WRITE_MARGIN_SECONDS:
            stopped = True
            break
        failed, stopped = _execute(
            plan.writes, deps.alarms, report, lambda: deps.remaining_seconds() < WRITE_MARGIN_SECONDS
        )
        state = plan.state
        if failed and state is not None:
            old = states.get(model_id)
            alarms = {n: r for n, r in state.alarms.items() if n not in failed}
            if old:
                alarms |= {n: old.alarms[n] for n in failed if n in old.alarms}
            state = state.replace(alarms=alarms, fingerprint="")
        if state is None and failed:
            continue  # a removed model whose alarms could not all be deleted: retried next run
        if _changed(state, states.get(model_id)):
            new_states[model_id] = state
        if stopped:
            break
        done = model_id
    report.complete = not stopped
    report.resume_after = None if report.complete else done
    deps.registry.save_sync(new_states, report.changes, deps.now())
    report.finished_at = _iso(deps.now())
    deps.registry.record_run(report.summary(max_changes=0), deps.now())
    if deps.report_failure and needs_report(report):
        deps.report_failure(*failure_message(report))
    return report


def _changed(new: ModelState | None, old: ModelState | None) -> bool:
    if new is None or old is None:
        return new is not old
    return new.replace(synced_at=old.synced_at) != old


def _execute(
    writes: list[Write], alarms: AlarmsPort, report: SyncReport, out_of_time: Callable[[], bool]
) -> tuple[set[str], bool]:
    """Carry out one model's writes. Returns the alarm names whose write failed (or was not made),
    and whether to stop the run (CloudWatch still throttling after the retries, or the time budget
    spent)."""
    failed: set[str] = set()
    deletes = [w for w in writes if w.op == "delete"]
    try:
        for i, write in enumerate(writes):
            if write.op == "delete":
                continue
            if out_of_time():
                return failed | {w.alarm_name for w in writes[i:]}, True
            try:
                if write.op == "put":
                    alarms.put(write.params)
                else:
                    alarms.tag(write.params["ResourceARN"], write.params["Tags"])
            except AlarmWriteFailed as exc:
                failed.add(write.alarm_name)
                report.failures.append(f"{write.alarm_name}: {exc}")
                continue
            _count(write, report)
        if deletes:
            try:
                alarms.delete([w.alarm_name for w in deletes])
            except AlarmWriteFailed as exc:
                failed |= {w.alarm_name for w in deletes}
                report.failures.append(f"DeleteAlarms {[w.alarm_name for w in deletes]}: {exc}")
            else:
                for write in deletes:
                    _count(write, report)
    except TransientAwsError as exc:  # throttled beyond botocore's retries: stop, the next run goes on
        report.failures.append(f"stopped: {exc}")
        return failed | {w.alarm_name for w in writes}, True
    return failed, False


def _count(write: Write, report: SyncReport) -> None:
    record = write.record
    if record is None:
        return
    report.changes.append(record)
    attribute = {
        "create": "created",
        "threshold": "threshold_updates",
        "update": "updated",
        "retag": "retagged",
        "delete": "deleted",
    }[record.action]
    setattr(report, attribute, getattr(report, attribute) + 1)


def needs_report(report: SyncReport) -> bool:
    """Something a person must know: a quota that could not be read, a threshold kept or an alarm
    not created for lack of one, or a write CloudWatch refused."""
    return report.quota_lookup != "ok" or bool(report.failures or report.kept or report.pending)


def failure_message(report: SyncReport) -> tuple[str, str]:
    """The notification such a run sends: what failed and what was kept as it was."""
    why = label("sync_reason", report.reason)
    lines = [f"Alarm threshold sync {report.run_id} ({why}) at {report.started_at}:"]
    if report.quota_lookup != "ok":
        lines.append(f"- quota lookup {report.quota_lookup}. No threshold was changed for lack of a quota.")
    if report.kept:
        lines.append(f"- {len(report.kept)} pressure alarm(s) keep their last known good threshold:")
        lines += [f"  kept: {name}" for name in report.kept[:50]]
    if report.pending:
        lines.append(f"- {len(report.pending)} pressure alarm(s) not created yet (quota unknown):")
        lines += [f"  pending: {name}" for name in report.pending[:50]]
    lines += [f"- {problem}" for problem in report.problems[:50]]
    lines += [f"- write failed: {failure}" for failure in report.failures[:50]]
    lines.append("The next sync (daily, or on the next registry change) tries again.")
    if report.quota_lookup != "ok":
        what = "quota lookup failed"
    elif report.kept or report.pending:
        what = "quota not found"
    else:
        what = "alarm writes failed"
    return f"[OpsPilot] alarm threshold sync: {what}", "\n".join(lines)
