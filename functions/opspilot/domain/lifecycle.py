"""An incident's status only moves forward.

``open`` (classified) -> ``planned`` (decided) -> ``awaiting_approval`` -> ``failed`` -> one of
``acted``, ``notified``, ``rejected``, ``approval_expired`` -> ``resolved``. Executions and
callbacks overlap (a recovery resolves an incident while another execution still waits for its
approver), so a late writer must not move an incident back: its other fields are recorded, its
status is not (``IncidentStore.update_incident``). ``unclassifiable`` is only ever written on a
new record.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from opspilot.domain.classify import combine
from opspilot.domain.format import iso, number
from opspilot.domain.model import Category, Disposition, Incident, Plan, QuotaScope, Severity, Signal

STAGES: dict[str, int] = {
    "open": 0,
    "planned": 1,
    "awaiting_approval": 2,
    "failed": 3,  # an execution failed; an outcome or a recovery may still follow
    "acted": 4,
    "notified": 4,
    "rejected": 4,
    "approval_expired": 4,
    "resolved": 5,
}


def statuses_after(status: str) -> list[str]:
    """The statuses an incident must not already have for ``status`` to be written."""
    if status not in STAGES:
        raise ValueError(f"unknown incident status {status!r}")
    return sorted(s for s, stage in STAGES.items() if stage > STAGES[status])


# ---------------------------------------------------------------------------- intake under storms
#
# One open incident per (model, Region). What became of each event is its ``Disposition``
# (domain/model.py). An event of the model is, in this order: refused (stamped
# too far in the past or the future), stale (older than the alarm's last state change we recorded,
# or than its current state), a duplicate (the same event again), or it opens, joins or reopens the
# model's incident. ``docs/architecture.md#intake`` has the whole picture.

# EventBridge retries a delivery for at most 24 h (the rule's MaximumEventAgeInSeconds 86400) and
# the dead-letter queue keeps what it could not deliver for 14 days (MessageRetentionPeriod
# 1209600, template.yaml), from where `opspilot events replay` starts it: a state change stamped
# earlier than that cannot be a delivery of ours.
MAX_EVENT_AGE = timedelta(days=15)
# CloudWatch stamps the state change when it evaluates; a stamp ahead of our clock by more than
# clock skew is forged or broken.
MAX_EVENT_LEAD = timedelta(minutes=5)


# Dispositions after which the workflow goes on to gather evidence and decide.
DECIDING = frozenset({Disposition.OPENED, Disposition.REVISED, Disposition.REOPENED})

_SEVERITY_RANK = {Severity.WARNING: 0, Severity.CRITICAL: 1}
_CATEGORY_RANK = {
    Category.RECOVERY: 0,
    Category.ANOMALY: 1,
    Category.FAILURE: 2,
    Category.QUOTA_PRESSURE: 3,
}
_SCOPE_RANK = {
    QuotaScope.NONE: 0,
    QuotaScope.RPM: 1,
    QuotaScope.TPM: 1,
    QuotaScope.TPD: 1,
    QuotaScope.BOTH: 2,
}


def refusal(stamped: datetime, now: datetime) -> str | None:
    """Why an event stamped ``stamped`` is refused outright, or None when its age is plausible."""
    if stamped < now - MAX_EVENT_AGE:
        return (
            f"its state change is stamped {iso(stamped)}, more than {MAX_EVENT_AGE.days} days before "
            f"{iso(now)}: older than any delivery or dead-letter replay can be"
        )
    if stamped > now + MAX_EVENT_LEAD:
        minutes = int(MAX_EVENT_LEAD.total_seconds() // 60)
        return (
            f"its state change is stamped {iso(stamped)}, more than {minutes} minutes after "
            f"{iso(now)}: CloudWatch cannot have sent it yet"
        )
    return None


def is_stale(stamped: str, event_id: str, recorded: Mapping[str, Any] | None) -> bool:
    """An event older than the alarm's last state change we recorded (both ``iso`` strings, which
    compare in time order). The recorded event itself (a retry, a duplicate) is not stale."""
    if not recorded:
        return False
    if recorded.get("event_id") == event_id:
        return False
    return stamped <= str(recorded.get("changed_at", ""))


def _scope_union(a: QuotaScope, b: QuotaScope) -> QuotaScope:
    scopes = {a, b} - {QuotaScope.NONE}
    if QuotaScope.BOTH in scopes or len(scopes) > 1:  # as classify.combine: several kinds are "both"
        return QuotaScope.BOTH
    return next(iter(scopes), QuotaScope.NONE)


def reclassify(current: Incident, joining: Sequence[Signal]) -> tuple[Incident, dict[str, Any]]:
    """The open incident with the joining alarms' signals: severity, category and quota scope can
    rise, never fall (an alarm that joins with less does not lower what the incident is). Returns
    the incident as it now stands and what rose (``{"severity": [old, new], ...}``, empty when
    nothing did)."""
    by_alarm = {s.alarm_name: s for s in current.signals}
    for signal in joining:
        by_alarm[signal.alarm_name] = signal
    signals = list(by_alarm.values())
    category, severity, scope, categories = combine(signals)
    if _CATEGORY_RANK[category] < _CATEGORY_RANK[current.category]:
        category = current.category
    if _SEVERITY_RANK[severity] < _SEVERITY_RANK[current.severity]:
        severity = current.severity
    scope = _scope_union(scope, current.quota_scope)
    before = set(current.categories) | {current.category}
    merged = sorted(set(categories) | before, key=lambda c: -_CATEGORY_RANK[c])
    rose: dict[str, Any] = {}
    if category is not current.category:
        rose["category"] = [current.category.value, category.value]
    if severity is not current.severity:
        rose["severity"] = [current.severity.value, severity.value]
    if scope is not current.quota_scope and _SCOPE_RANK[scope] >= _SCOPE_RANK[current.quota_scope]:
        rose["quota_scope"] = [current.quota_scope.value, scope.value]
    added = [c.value for c in merged if c not in before]
    if added:
        rose["categories_added"] = added
    revised = current.replace(
        category=category, severity=severity, quota_scope=scope, categories=merged, signals=signals
    )
    return revised, rose


def within_cooldown(resolved_at: str | None, now: datetime, cooldown_seconds: int) -> bool:
    """Whether an incident resolved at ``resolved_at`` reopens (rather than a new one opening)."""
    if not resolved_at or cooldown_seconds <= 0:
        return False
    return resolved_at >= iso(now - timedelta(seconds=cooldown_seconds))


# What makes a planned action what it is: a quota request's quota and value; a support case's
# subject and severity (its text restates the evidence, which a revision always changes; it is
# added to the case only with a change that makes the case an action again).
DECISIVE_PARAMS = ("QuotaCode", "DesiredValue", "subject", "severityCode")


def decisive(params: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters of an action that decide whether a revision changed it."""
    return {k: params[k] for k in DECISIVE_PARAMS if k in params}


def action_base(action_id: str) -> str:
    """``request_quota_increase:L-F2717A44#2`` -> ``request_quota_increase:L-F2717A44``."""
    return action_id.split("#", 1)[0]


def action_version(action_id: str) -> int:
    """1 for an action's first plan; n for the n-th, ``<id>#<n>``, planned with changed parameters."""
    _, _, version = action_id.partition("#")
    return int(version) if version.isdigit() else 1


def superseded_by(action_id: str, planned_ids: Iterable[str]) -> str | None:
    """The later version of ``action_id`` a revised plan holds, if any: a change asked again
    supersedes what was asked before (an execution still waiting for its approver acts on
    nothing once its action was revised)."""
    later = [
        i
        for i in planned_ids
        if action_base(i) == action_base(action_id) and action_version(i) > action_version(action_id)
    ]
    return max(later, key=action_version) if later else None


def _shown(value: Any) -> str:
    return number(value) if isinstance(value, int | float) else str(value)


def revise_plan(
    plan: Plan,
    known_action_ids: Iterable[str],
    known_params: Mapping[str, Mapping[str, Any]] | None = None,
) -> Plan:
    """A revised or reopened incident's plan keeps only what changed: an action this incident has
    not planned, asked approval for or acted on yet, and an action it has whose parameters changed
    (``decisive``: a larger quota value is a change). A changed action gets the next version of its
    id (``<id>#2``, ``#3``...: action ids are per incident, and an action runs at most once per
    incident) and its reason says what changed. Approval is asked only when something is left."""
    known = set(known_action_ids)
    if not known:
        return plan
    params = known_params or {}
    actions = []
    for action in plan.actions:
        versions = sorted((i for i in known if action_base(i) == action.action_id), key=action_version)
        if not versions:
            actions.append(action)
            continue
        before = params.get(versions[-1])
        if before is None or decisive(before) == decisive(action.params):
            continue  # planned already, as it stands (or no record of what it asked: not again)
        changed = ", ".join(
            f"{k} {_shown(before.get(k, '-'))} -> {_shown(v)}"
            for k, v in decisive(action.params).items()
            if before.get(k) != v
        )
        actions.append(
            action.replace(
                action_id=f"{action.action_id}#{action_version(versions[-1]) + 1}",
                reason=f"{action.reason} Revised: {changed} (planned before as {versions[-1]}).",
            )
        )
    return plan.replace(actions=actions, approval_required=plan.approval_required and bool(actions))
