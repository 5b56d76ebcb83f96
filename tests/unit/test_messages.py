"""Notification texts: what the approver and the on-call engineer read in their mail."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from opspilot.domain import messages
from opspilot.domain.decide import DecisionSettings, plan_actions
from opspilot.domain.model import Environment, Incident, QuotaContext, Severity, SupportContext, UsageSummary
from opspilot.domain.policy import load_policy

MakeIncident = Callable[..., Incident]
MakeUsage = Callable[..., UsageSummary]
MakeQuotas = Callable[..., QuotaContext]

LINK = "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/approvals/Qm9vdHN0cmFwQXBwcm92YWxJZDAwMDAx"
EXPIRES = "2026-12-01T10:05:12Z"
LONG_MODEL = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/" + "x" * 64
SNS_SUBJECT_MAX = 100


@pytest.fixture
def incident(make_incident: MakeIncident) -> dict[str, Any]:
    return make_incident(environment=Environment.PILOT).to_json()


@pytest.fixture
def plan(make_incident: MakeIncident, make_usage: MakeUsage, make_quotas: MakeQuotas) -> dict[str, Any]:
    """A pilot plan at high usage: two quota requests that need approval."""
    planned = plan_actions(
        make_incident(environment=Environment.PILOT),
        make_usage(peak_rpm=200.0, daily_peak_rpm=[100.0, 150.0, 200.0], peak_tpm=1_700_000.0),
        make_quotas(),
        SupportContext(plan="business_or_enterprise"),
        load_policy(),
        DecisionSettings(threshold_percent=80, increase_percent=50, approval_timeout_seconds=86400),
    )
    assert len(planned.actions) == 2
    return planned.to_json()


def test_the_outcome_carries_the_decision_and_its_evidence(
    incident: dict[str, Any], plan: dict[str, Any]
) -> None:
    message = messages.outcome(incident, plan, {"status": "approved", "by": "lead@example.com"}, []).message

    assert "Policy rule: pilot-approve-every-change" in message
    assert "Forecast:  RPM quota reached in 1 days at the current trend" in message
    assert f"Incident:  {incident['incident_id']}" in message
    assert "Approval:  approved by lead@example.com" in message.splitlines()


@pytest.mark.parametrize(
    ("approval", "verb"),
    [
        ({"status": "rejected", "by": "platform-lead@example.com"}, "rejected"),
        ({"status": "expired"}, "approval expired"),
        ({"status": "approved", "by": "platform-lead@example.com"}, "handled"),
        ({"status": "not_required"}, "handled"),
        ({}, "handled"),
    ],
)
def test_outcome_subject_says_what_happened(
    incident: dict[str, Any], plan: dict[str, Any], approval: dict[str, Any], verb: str
) -> None:
    out = messages.outcome(incident, plan, approval, [])

    assert out.subject == f"[OpsPilot] {verb} (critical): us.anthropic.claude-3-7-sonnet-20250219-v1:0"
    assert out.severity is Severity.CRITICAL
    assert out.incident_id == incident["incident_id"]


def test_outcome_message_names_the_approver_and_each_action_result(
    incident: dict[str, Any], plan: dict[str, Any]
) -> None:
    results = [
        {
            "type": "request_quota_increase",
            "status": "executed",
            "result": {"summary": "requested L-3D8CC480 -> 375: pending"},
        },
        {
            "type": "request_quota_increase",
            "status": "dry_run",
            "result": {"summary": "dry run: request recorded"},
        },
    ]

    out = messages.outcome(incident, plan, {"status": "approved", "by": "platform-lead@example.com"}, results)

    lines = out.message.splitlines()
    assert "Approval:  approved by platform-lead@example.com" in lines
    assert "  - Quota increase request [done] requested L-3D8CC480 -> 375: pending" in lines
    assert "  - Quota increase request [dry run, nothing sent] dry run: request recorded" in lines
    assert "Category:  Quota pressure   Severity: Critical" in lines
    assert "Scenario:  High usage   Policy rule: pilot-approve-every-change" in lines
    evidence = next(line for line in lines if line.startswith("Evidence:  "))
    assert "peak RPM 200" in evidence and "peak TPM 1,700,000" in evidence, evidence
    for raw in (
        "quota_pressure",
        "request_quota_increase",
        "dry_run",
        "high_usage",
        "[executed]",
        "_rpm",
        "_tpm",
    ):
        assert raw not in out.message, raw
    assert "Actions:   none" not in lines


def test_outcome_without_actions_says_none(incident: dict[str, Any], plan: dict[str, Any]) -> None:
    out = messages.outcome(incident, plan, {"status": "expired"}, [])

    assert "Actions:   none" in out.message.splitlines()
    assert "Approval:  expired, nobody decided" in out.message.splitlines()


def test_failure_message_has_the_error_and_the_cause() -> None:
    cause = '{"errorMessage": "alarm \'opspilot-broken\': configuration.metrics has 0 metric(s)"}'

    out = messages.failure(
        "inc-0123456789abcdef",
        {"alarm_name": "opspilot-broken", "model_id": None},
        "UnclassifiableSignal",
        cause,
    )

    assert out.subject == "[OpsPilot] FAILED opspilot-broken: UnclassifiableSignal"
    assert out.severity is Severity.CRITICAL
    assert out.incident_id == "inc-0123456789abcdef"
    lines = out.message.splitlines()
    assert "Error:     UnclassifiableSignal" in lines
    assert f"Cause:     {cause}" in lines
    assert "Alarm:     opspilot-broken" in lines


def test_failure_subject_prefers_the_model_then_the_alarm_then_the_incident() -> None:
    by_model = messages.failure("inc-1", {"model_id": "amazon.nova-pro-v1:0", "alarm_name": "a"}, "E", "")
    by_alarm = messages.failure("inc-1", {"alarm_name": "opspilot-x"}, "E", "")
    by_incident = messages.failure("inc-1", {}, "E", "")

    assert [by_model.subject, by_alarm.subject, by_incident.subject] == [
        "[OpsPilot] FAILED amazon.nova-pro-v1:0: E",
        "[OpsPilot] FAILED opspilot-x: E",
        "[OpsPilot] FAILED inc-1: E",
    ]


def test_failure_cause_is_bounded() -> None:
    out = messages.failure("inc-1", {}, "States.Timeout", "x" * 5000)

    [cause_line] = [line for line in out.message.splitlines() if line.startswith("Cause:")]
    assert cause_line == "Cause:     " + "x" * 1500


def _subjects(incident: dict[str, Any], plan: dict[str, Any], error: str) -> list[str]:
    return [
        messages.outcome(incident, plan, {"status": "rejected"}, []).subject,
        messages.outcome(incident, plan, {"status": "expired"}, []).subject,
        messages.failure(str(incident["incident_id"]), incident, error, "cause").subject,
        messages.resolved(incident, "2026-11-30T10:41:07Z").subject,
    ]


@pytest.mark.parametrize(
    ("model_id", "error"),
    [
        ("us.anthropic.claude-3-7-sonnet-20250219-v1:0", "UnclassifiableSignal"),
        (LONG_MODEL, "States.TaskFailed"),
        ("amazon.nova-pro-v1:0", "Lambda.ServiceException" * 10),
    ],
    ids=["typical", "long-model-arn", "long-error"],
)
def test_subjects_fit_sns(
    make_incident: MakeIncident, plan: dict[str, Any], model_id: str, error: str
) -> None:
    incident = make_incident(model_id=model_id).to_json()

    for subject in _subjects(incident, plan, error):
        assert 0 < len(subject) <= SNS_SUBJECT_MAX, subject
        assert subject.startswith("[OpsPilot] ")
        assert subject.isprintable(), subject  # SNS: no line breaks or control characters


@pytest.mark.parametrize("verb", ["rejected", "approval expired"])
def test_outcome_subject_keeps_the_verb_for_a_model_arn(
    make_incident: MakeIncident, plan: dict[str, Any], verb: str
) -> None:
    model_arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/k3mq8z2b7c1d"
    incident = make_incident(model_id=model_arn).to_json()
    status = "rejected" if verb == "rejected" else "expired"

    out = messages.outcome(incident, plan, {"status": status}, [])

    assert verb in out.subject
    assert len(out.subject) <= SNS_SUBJECT_MAX


def test_resolved_names_the_model_and_the_time(make_incident: MakeIncident) -> None:
    incident = {**make_incident().to_json(), "status": "acted"}

    out = messages.resolved(incident, "2026-11-30T10:41:07Z")

    assert out.subject == "[OpsPilot] RESOLVED us.anthropic.claude-3-7-sonnet-20250219-v1:0: all alarms OK"
    assert "Resolved:  2026-11-30T10:41:07Z" in out.message.splitlines()
    assert "Status before: acted on" in out.message.splitlines()


def test_the_outcome_lists_each_refused_quota_request_with_its_reason(
    make_incident: MakeIncident, make_usage: MakeUsage, make_quotas: MakeQuotas
) -> None:
    planned = plan_actions(
        make_incident(environment=Environment.PILOT),
        make_usage(peak_rpm=200.0),  # TPM peak 500,000 of 2,000,000: no TPM request is justified
        make_quotas(),
        SupportContext(plan="business_or_enterprise"),
        load_policy(),
        DecisionSettings(threshold_percent=80, increase_percent=50, approval_timeout_seconds=86400),
    ).to_json()
    incident = make_incident(environment=Environment.PILOT).to_json()

    message = messages.outcome(incident, planned, {"status": "approved", "by": "lead"}, []).message

    assert (
        "Refused:   TPM quota L-6E888CC2: the evidence (peak 500,000) needs 750,000 to stay 20% below "
        "the 80% threshold; the quota is already 2,000,000. (usage is within the quota)"
    ) in message.splitlines()


def test_the_quota_watch_names_each_request_status_in_words() -> None:
    from opspilot.handlers.watch_quota_requests import _message

    incident = {"incident_id": "inc-1", "model_id": "m", "region": "us-east-1"}
    request = {"QuotaCode": "L-3D8CC480", "DesiredValue": 750.0, "Status": "CASE_CLOSED", "Id": "r-1"}
    subject, text = _message(incident, "denied", [request])
    assert subject == "[OpsPilot] quota increase denied: m"
    assert "- L-3D8CC480 -> 750: case closed (request r-1)" in text.splitlines()
    assert "CASE_CLOSED" not in text
