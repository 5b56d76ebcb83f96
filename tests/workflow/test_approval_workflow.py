"""Human approval in the real workflow: per-approver links, escalation, expiry, lowered values."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

Report = Callable[[str], dict[str, Any]]
ASL = json.loads((Path(__file__).resolve().parents[2] / "statemachines" / "incident.asl.json").read_text())


def test_an_escalated_approver_approves_a_lower_value_and_exactly_that_is_requested(
    scenario_report: Report,
) -> None:
    report = scenario_report("approval-escalated")
    (incident,) = report["incidents"]
    first, second = incident["approval_rounds"]
    assert (first["status"], first["approvers"]) == (
        "superseded",
        ["platform-lead@example.com", "sre-oncall@example.com"],
    )
    assert second["status"] == "decided" and second["approvers"] == ["head-of-platform@example.com"]
    assert second["decision"]["by"] == "head-of-platform@example.com"
    assert second["decision"]["values"] == {"request_quota_increase:L-F2717A44": 1200}
    assert incident["approval"] == {
        "required": True,
        "status": "approved",
        "by": "head-of-platform@example.com",
    }
    sent = [
        c["params"] for c in report["changes_sent_to_aws"] if c["operation"] == "RequestServiceQuotaIncrease"
    ]
    assert sent == [
        {
            "ServiceCode": "bedrock",
            "QuotaCode": "L-F2717A44",
            "DesiredValue": 1200.0,
            "SupportCaseAllowed": True,
        }
    ]
    (action,) = incident["actions"]
    assert action["params"]["DesiredValue"] == 1200.0 and action["result"]["planned_value"] == 1500.0
    states = incident["execution"]["states"]
    assert states.index("WaitForApproval") < states.index("WaitForEscalatedApproval") < states.index("Act")
    assert report["pending_approvals"] == []


def test_links_go_to_email_slack_and_teams(scenario_report: Report) -> None:
    report = scenario_report("approval-escalated")
    (incident,) = report["incidents"]
    for round_ in incident["approval_rounds"]:
        assert [c["channel"] for c in round_["channels"] if c["status"] == "sent"] == [
            "email",
            "slack",
            "teams",
        ]
    with_buttons = [(m["channel"], m["buttons"]) for m in report["chat_messages"] if m["buttons"]]
    assert with_buttons == [
        ("slack", ["Review as slack channel"]),
        ("teams", ["Review as teams channel"]),
        ("slack", ["Review as slack channel"]),
        ("teams", ["Review as teams channel"]),
    ]
    subjects = [n["subject"] for n in incident["notifications"]]
    assert (
        subjects.count("[OpsPilot] Approval needed: Quota pressure on amazon.nova-pro-v1:0") == 2
    )  # one each
    assert "[OpsPilot] approval escalated: amazon.nova-pro-v1:0" in subjects


def test_nobody_deciding_twice_expires_the_approval_and_changes_nothing(scenario_report: Report) -> None:
    report = scenario_report("approval-timeout")
    (incident,) = report["incidents"]
    assert [(r["round"], r["status"]) for r in incident["approval_rounds"]] == [
        (1, "superseded"),
        (2, "expired"),
    ]
    assert incident["approval_rounds"][1]["approvers"] == ["head-of-platform@example.com"]
    assert incident["status"] == "approval_expired"
    assert incident["approval"] == {"required": True, "status": "expired", "by": None}
    assert report["changes_sent_to_aws"] == [], "never approved by default"
    assert {a["status"] for a in incident["actions"]} == {"skipped"}
    assert "Act" not in incident["execution"]["states"]
    seen = [(p["round"], p["approvers"]) for p in report["pending_approvals_seen"]]
    assert seen == [(1, ["platform-lead@example.com"]), (2, ["head-of-platform@example.com"])]
    assert report["pending_approvals"] == [], "expired approvals are no longer pending"
    assert any(n["subject"].startswith("[OpsPilot] approval expired") for n in incident["notifications"])


def test_each_approver_got_a_link_and_one_decision_decided_for_all(scenario_report: Report) -> None:
    report = scenario_report("rpm-pressure")
    (incident,) = report["incidents"]
    (round_,) = incident["approval_rounds"]
    assert round_["approvers"] == ["platform-lead@example.com", "sre-oncall@example.com"]
    assert round_["status"] == "decided" and round_["decision"]["by"] == "platform-lead@example.com"
    assert round_["channels"] == [{"channel": "email", "status": "sent", "messages": 2}]


# ------------------------------------------------------------------------ the definition


def catches(state: str) -> dict[str, str]:
    return {error: c["Next"] for c in ASL["States"][state]["Catch"] for error in c["ErrorEquals"]}


def test_a_timeout_escalates_once_then_expires_and_never_approves() -> None:
    assert catches("WaitForApproval") == {
        "ApprovalRejected": "RecordOutcome",
        "States.Timeout": "WaitForEscalatedApproval",
        "States.ALL": "RecordFailure",
    }
    assert catches("WaitForEscalatedApproval") == {
        "ApprovalRejected": "RecordOutcome",
        "States.Timeout": "RecordOutcome",
        "States.ALL": "RecordFailure",
    }
    for state in ("WaitForApproval", "WaitForEscalatedApproval"):
        task = ASL["States"][state]
        assert task["Resource"].endswith(".waitForTaskToken")
        assert task["TimeoutSecondsPath"] == "$.plan.approval_timeout_seconds"
        assert task["ResultPath"] == "$.approval" and task["Next"] == "Act"  # only a decision leads to Act
    rounds = [
        ASL["States"][s]["Parameters"]["Payload"]["round"]
        for s in ("WaitForApproval", "WaitForEscalatedApproval")
    ]
    assert rounds == [1, 2]


def test_execute_action_receives_the_approval() -> None:
    selector = ASL["States"]["Act"]["ItemSelector"]
    assert selector["approval.$"] == "$.approval"
    assert ASL["States"]["ApprovalNeeded"]["Default"] == "ApprovalNotRequired"
    assert ASL["States"]["ApprovalNotRequired"]["Result"] == {"required": False, "status": "not_required"}


def test_every_incident_notification_reaches_chat_too(scenario_report: Report) -> None:
    report = scenario_report("approval-escalated")
    (incident,) = report["incidents"]
    titles = {(m["channel"], m["title"]) for m in report["chat_messages"] if not m["buttons"]}
    outcome = next(n["subject"] for n in incident["notifications"] if "handled" in n["subject"])
    decided = next(n["subject"] for n in incident["notifications"] if "quota increase" in n["subject"])
    for channel in ("slack", "teams"):
        assert (channel, outcome) in titles
        assert (channel, decided) in titles
