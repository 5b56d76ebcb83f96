"""The incident lifecycle under storms (issue 12): refusal by age, staleness by order, rising
classification, the reopen cooldown and the revised plan."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from opspilot.domain.lifecycle import (
    _scope_union,
    is_stale,
    reclassify,
    refusal,
    revise_plan,
    superseded_by,
    within_cooldown,
)
from opspilot.domain.model import ActionType, Category, Incident, Plan, PlannedAction, QuotaScope, Severity

NOW = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
MakeIncident = Callable[..., Incident]


def test_an_event_from_2001_or_2099_is_refused_and_says_why() -> None:
    old = refusal(datetime(2001, 1, 1, tzinfo=UTC), NOW)
    future = refusal(datetime(2099, 1, 1, tzinfo=UTC), NOW)
    assert old is not None and "2001-01-01T00:00:00.000Z, more than 15 days before" in old
    assert future is not None and "more than 5 minutes after" in future


def test_events_a_delivery_or_a_replay_can_bring_are_not_refused() -> None:
    for age in (timedelta(0), timedelta(hours=24), timedelta(days=14), timedelta(minutes=-4)):
        assert refusal(NOW - age, NOW) is None


def test_an_event_older_than_the_recorded_change_is_stale_but_the_recorded_one_is_not() -> None:
    recorded = {"changed_at": "2026-12-05T10:00:00.000Z", "event_id": "e2", "state": "ALARM"}
    assert is_stale("2026-12-05T09:59:59.999Z", "e1", recorded)
    assert not is_stale("2026-12-05T10:00:00.000Z", "e2", recorded), "a retry or duplicate of it"
    assert not is_stale("2026-12-05T10:00:00.001Z", "e3", recorded)
    assert not is_stale("2026-12-05T09:00:00.000Z", "e1", None)


def test_a_joining_alarm_raises_severity_and_widens_the_scope(make_incident: MakeIncident) -> None:
    current = make_incident(severity=Severity.WARNING, quota_scope=QuotaScope.RPM, alarm_name="rpm")
    joining = make_incident(alarm_name="throttles").signals  # critical, scope both
    revised, rose = reclassify(current, joining)
    assert (revised.severity, revised.quota_scope) == (Severity.CRITICAL, QuotaScope.BOTH)
    assert rose == {"severity": ["warning", "critical"], "quota_scope": ["rpm", "both"]}
    assert [s.alarm_name for s in revised.signals] == ["rpm", "throttles"]


def test_a_joining_alarm_never_lowers_what_the_incident_is(make_incident: MakeIncident) -> None:
    current = make_incident(alarm_name="throttles")  # quota pressure, critical, both
    weaker = make_incident(
        alarm_name="latency",
        category=Category.ANOMALY,
        severity=Severity.WARNING,
        quota_scope=QuotaScope.NONE,
    ).signals
    revised, rose = reclassify(current, weaker)
    assert (revised.category, revised.severity, revised.quota_scope) == (
        Category.QUOTA_PRESSURE,
        Severity.CRITICAL,
        QuotaScope.BOTH,
    )
    assert rose == {"categories_added": ["anomaly"]}, "a new category is still said"


def test_a_category_rises_to_the_stronger_one(make_incident: MakeIncident) -> None:
    current = make_incident(
        alarm_name="tokens", category=Category.ANOMALY, severity=Severity.WARNING, quota_scope=QuotaScope.TPM
    )
    revised, rose = reclassify(current, make_incident(alarm_name="throttles").signals)
    assert revised.category is Category.QUOTA_PRESSURE
    assert rose["category"] == ["anomaly", "quota_pressure"]
    assert revised.categories == [Category.QUOTA_PRESSURE, Category.ANOMALY]


def test_the_same_signal_joining_again_changes_nothing(make_incident: MakeIncident) -> None:
    current = make_incident(categories=[Category.QUOTA_PRESSURE])
    revised, rose = reclassify(current, current.signals)
    assert rose == {} and revised == current


def test_a_resolved_incident_reopens_only_within_the_cooldown() -> None:
    assert within_cooldown("2026-12-05T09:30:00.000Z", NOW, 3600)
    assert not within_cooldown("2026-12-05T08:59:59.999Z", NOW, 3600)
    assert not within_cooldown("2026-12-05T09:59:00.000Z", NOW, 0), "0 turns reopening off"
    assert not within_cooldown(None, NOW, 3600)


def _plan(*action_ids: str, approval: bool = True) -> Plan:
    actions = [
        PlannedAction(action_id=a, type=ActionType.REQUEST_QUOTA_INCREASE, reason="r", params={})
        for a in action_ids
    ]
    return Plan(
        scenario=None,
        rule="rule",
        approval_required=approval,
        approval_timeout_seconds=60,
        actions=actions,
        summary="s",
    )


def test_a_revised_plan_asks_again_only_for_what_changed() -> None:
    # L-RPM and L-TPM are in no catalog, on purpose: only the action ids' equality matters here
    plan = _plan("request_quota_increase:L-RPM", "request_quota_increase:L-TPM")
    revised = revise_plan(plan, ["request_quota_increase:L-RPM"])
    assert [a.action_id for a in revised.actions] == ["request_quota_increase:L-TPM"]
    assert revised.approval_required
    nothing_new = revise_plan(plan, ["request_quota_increase:L-RPM", "request_quota_increase:L-TPM"])
    assert nothing_new.actions == [] and not nothing_new.approval_required
    assert revise_plan(plan, []) == plan


def _request(action_id: str, value: float) -> PlannedAction:
    return PlannedAction(
        action_id=action_id,
        type=ActionType.REQUEST_QUOTA_INCREASE,
        reason="RPM quota 1,000 -> more.",
        params={"ServiceCode": "bedrock", "QuotaCode": "L-RPM", "DesiredValue": value},
    )


def test_an_action_planned_again_with_another_value_is_asked_again_under_its_next_version() -> None:
    asked = {"request_quota_increase:L-RPM": {"QuotaCode": "L-RPM", "DesiredValue": 1425.0}}
    plan = _plan().replace(actions=[_request("request_quota_increase:L-RPM", 1500.0)])

    revised = revise_plan(plan, list(asked), asked)

    (action,) = revised.actions
    assert action.action_id == "request_quota_increase:L-RPM#2"
    assert action.params["DesiredValue"] == 1500.0
    assert action.reason.endswith(
        "Revised: DesiredValue 1,425 -> 1,500 (planned before as request_quota_increase:L-RPM)."
    )
    assert revised.approval_required
    # the same value again is no change; a third value is the third version
    again = {**asked, "request_quota_increase:L-RPM#2": {"QuotaCode": "L-RPM", "DesiredValue": 1500.0}}
    assert revise_plan(plan, list(again), again).actions == []
    third = plan.replace(actions=[_request("request_quota_increase:L-RPM", 1800.0)])
    assert [a.action_id for a in revise_plan(third, list(again), again).actions] == [
        "request_quota_increase:L-RPM#3"
    ]


def test_a_support_cases_text_alone_is_no_change() -> None:
    case = PlannedAction(
        action_id="open_support_case:investigation",
        type=ActionType.OPEN_SUPPORT_CASE,
        reason="r",
        params={
            "subject": "[OpsPilot] investigation: m in r",
            "severityCode": "high",
            "communicationBody": "new",
        },
    )
    known = {case.action_id: {"subject": "[OpsPilot] investigation: m in r", "severityCode": "high"}}
    assert revise_plan(_plan().replace(actions=[case]), list(known), known).actions == []


def test_a_later_version_supersedes_an_earlier_one() -> None:
    ids = ["request_quota_increase:L-RPM", "request_quota_increase:L-RPM#2", "request_quota_increase:L-TPM"]
    assert superseded_by("request_quota_increase:L-RPM", ids) == "request_quota_increase:L-RPM#2"
    assert superseded_by("request_quota_increase:L-RPM#2", ids) is None
    assert superseded_by("request_quota_increase:L-TPM", ids) is None


def test_a_daily_scope_and_another_widen_to_both_as_classification_does() -> None:
    assert _scope_union(QuotaScope.TPD, QuotaScope.TPM) is QuotaScope.BOTH  # was TPM or TPD, by set order
    assert _scope_union(QuotaScope.TPD, QuotaScope.NONE) is QuotaScope.TPD
