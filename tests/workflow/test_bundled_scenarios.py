"""Every bundled scenario, end to end: what a user would see."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

BUNDLED = Path(__file__).resolve().parents[2] / "scenarios"


Report = Callable[[str], dict[str, Any]]

REQUIRED_FIELDS = {
    "incident_id",
    "model_id",
    "region",
    "category",
    "severity",
    "scenario",
    "approval",
    "actions",
    "notifications",
    "execution",
}


def quota_requests_sent(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        c["params"] for c in report["changes_sent_to_aws"] if c["operation"] == "RequestServiceQuotaIncrease"
    ]


def subjects(incident: dict[str, Any]) -> list[str]:
    return [n["subject"] for n in incident["notifications"]]


@pytest.mark.parametrize("name", sorted(p.stem for p in BUNDLED.glob("*.yaml")))
def test_every_bundled_scenario_reports_every_field_and_ends_traceably(
    scenario_report: Report, name: str
) -> None:
    report = scenario_report(name)
    assert report["incidents"], "every bundled scenario starts at least one execution"
    for incident in report["incidents"]:
        assert incident.keys() >= REQUIRED_FIELDS
        assert incident["execution"]["status"] in {"SUCCEEDED", "FAILED"}
        assert incident["incident_id"], "no execution may end without an incident it can be traced to"
        for action in incident["actions"]:
            assert action["status"] in {"executed", "skipped", "dry_run", "failed"}


def test_a_v1_claude_under_cross_region_pressure_files_one_request_on_the_cross_region_tpm_quota(
    scenario_report: Report,
) -> None:
    """AWS names Claude 3.7 Sonnet's quotas "... V1"; its cross-Region RPM quota is not adjustable,
    and the Bedrock user guide asks for increases on the cross-Region TPM quota: one request, there."""
    report = scenario_report("throttling-high-usage")
    first, _repeat = report["incidents"]
    assert (first["category"], first["severity"], first["scenario"]) == (
        "quota_pressure",
        "critical",
        "high_usage",
    )
    assert first["approval"] == {"required": False, "status": "not_required", "by": None}
    assert quota_requests_sent(report) == [
        {
            "ServiceCode": "bedrock",
            "QuotaCode": "L-6E888CC2",  # Cross-region model inference tokens per minute for ... V1
            "DesiredValue": 1500000.0,
            "SupportCaseAllowed": True,
        },
    ]
    (planned,) = first["planned_actions"]
    assert "as the Bedrock user guide asks" in planned["reason"] and "L-3D8CC480" in planned["reason"]
    assert [a["params"] for a in first["actions"]] == quota_requests_sent(report)
    assert {a["status"] for a in first["actions"]} == {"executed"}
    assert any("handled" in s for s in subjects(first))
    assert first["execution"]["status"] == "SUCCEEDED"


def test_repeated_alarm_attaches_to_the_open_incident_cheaply(scenario_report: Report) -> None:
    first, repeat = scenario_report("throttling-high-usage")["incidents"]
    assert repeat["attached_to_open_incident"] is True
    assert repeat["incident_id"] == first["incident_id"]
    assert repeat["execution"]["state_transitions"] <= 3  # issue 2's target
    assert repeat["execution"]["lambda_invocations"] == 0
    assert repeat["execution"]["api_calls"] == {"aws-sdk:dynamodb:transactWriteItems": 1}
    assert repeat["notifications"] == []


def test_rpm_pressure_in_pilot_waits_for_the_approver_then_requests_only_rpm(scenario_report: Report) -> None:
    report = scenario_report("rpm-pressure")
    (incident,) = report["incidents"]
    assert incident["approval"] == {"required": True, "status": "approved", "by": "platform-lead@example.com"}
    assert quota_requests_sent(report) == [
        {
            "ServiceCode": "bedrock",
            "QuotaCode": "L-F2717A44",
            "DesiredValue": 1500.0,
            "SupportCaseAllowed": True,
        }
    ]
    assert "WaitForApproval" in incident["execution"]["states"]
    assert any(s.startswith("[OpsPilot] Approval needed") for s in subjects(incident))


def test_token_anomaly_with_low_usage_is_a_dry_run_after_approval(scenario_report: Report) -> None:
    report = scenario_report("token-anomaly-low-usage")
    (incident,) = report["incidents"]
    assert (incident["category"], incident["scenario"]) == ("anomaly", "low_usage")
    assert incident["policy_rule"] == "production-low-usage-investigate-first"
    # low usage in production proposes an investigation, not an increase
    assert [(a["type"], a["status"]) for a in incident["actions"]] == [("open_support_case", "dry_run")]
    params = incident["actions"][0]["params"]
    assert params["subject"].startswith("[OpsPilot] investigation: anthropic.claude-3-5-sonnet")
    assert params["communicationBody"].startswith("We are investigating an unexpected signal")
    assert report["changes_sent_to_aws"] == [], "dry run sends nothing"


def test_server_errors_open_one_investigation_case(scenario_report: Report) -> None:
    report = scenario_report("server-errors")
    (incident,) = report["incidents"]
    assert (incident["category"], incident["scenario"]) == ("failure", "non_quota")
    created = [c for c in report["changes_sent_to_aws"] if c["operation"] == "CreateCase"]
    assert len(created) == 1
    assert created[0]["params"]["subject"].startswith("[OpsPilot] investigation: anthropic.claude-3-5-sonnet")
    assert created[0]["params"]["severityCode"] == "high"
    assert "Server errors / throttles" in created[0]["params"]["communicationBody"]
    assert quota_requests_sent(report) == []


def test_recovery_resolves_the_incident_with_one_notification(scenario_report: Report) -> None:
    alarm, ok = scenario_report("recovery")["incidents"]
    assert ok["category"] == "recovery"
    assert ok["incident_id"] == alarm["incident_id"]
    assert ok["status"] == "resolved"
    assert subjects(ok) == ["[OpsPilot] RESOLVED amazon.nova-pro-v1:0: all alarms OK"]


def test_rejected_approval_changes_nothing_and_says_who(scenario_report: Report) -> None:
    report = scenario_report("approval-rejected")
    (incident,) = report["incidents"]
    assert incident["approval"] == {"required": True, "status": "rejected", "by": "finops@example.com"}
    assert quota_requests_sent(report) == []
    assert {a["status"] for a in incident["actions"]} == {"skipped"}
    assert any("rejected" in s for s in subjects(incident))


def test_timed_out_approval_expires_without_acting(scenario_report: Report) -> None:
    report = scenario_report("approval-timeout")
    (incident,) = report["incidents"]
    assert incident["approval"]["status"] == "expired"
    assert incident["status"] == "approval_expired"
    assert quota_requests_sent(report) == []
    assert any("approval expired" in s for s in subjects(incident))


def test_malformed_event_is_recorded_and_notified_never_silent(scenario_report: Report) -> None:
    report = scenario_report("malformed-event")
    (incident,) = report["incidents"]
    assert incident["status"] == "unclassifiable"
    assert incident["execution"]["status"] == "FAILED"
    assert "detail.state.timestamp" in incident["failure"]["cause"]
    assert any("FAILED" in s for s in subjects(incident))
    assert [e["index"] for e in report["ignored_events"]] == [1, 2]
