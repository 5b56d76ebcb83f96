"""Support cases: one open case per (Region, model, case type), the plan's limits, the rate limit."""

from __future__ import annotations

from typing import Any

import pytest

from opspilot_sim.runner import run_scenario
from opspilot_sim.scenario import validate

SUBJECT = "[OpsPilot] investigation: amazon.nova-pro-v1:0 in us-east-1"


def scenario(name: str, **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": name,
        "parameters": {"Environment": "production", "DryRun": False, "ApproverEmails": "oncall@example.com"},
        "models": [{"model_id": "amazon.nova-pro-v1:0", "usage": {"rpm_steady": 40, "rpm_peak": 90}}],
        "alarms": [
            {
                "name": "opspilot-nova-5xx",
                "metric": "InvocationServerErrors",
                "model_id": "amazon.nova-pro-v1:0",
                "threshold": 5,
            }
        ],
        "events": [{"alarm": "opspilot-nova-5xx", "state": "ALARM", "approval": "approve"}],
    }
    doc.update(extra)
    return validate(doc)


def operations(report: dict[str, Any]) -> list[str]:
    return [c["operation"] for c in report["changes_sent_to_aws"]]


def test_a_new_signal_is_appended_to_the_open_case_not_a_second_case() -> None:
    report = run_scenario(
        scenario("case-append", support={"plan": "business", "cases": [{"subject": SUBJECT}]})
    )
    assert operations(report) == ["AddCommunicationToCase"]
    (case,) = report["support_cases"]
    assert case["communications"] == 1
    (action,) = report["incidents"][0]["actions"]
    assert action["result"]["appended"] is True
    assert action["params"]["caseId"] == case["case_id"], "the params are those sent to AWS"


def test_a_resolved_case_is_not_reused() -> None:
    resolved = {"plan": "business", "cases": [{"subject": SUBJECT, "status": "resolved"}]}
    report = run_scenario(scenario("case-resolved", support=resolved))
    assert operations(report) == ["CreateCase"]


@pytest.mark.parametrize("plan", ["business", "enterprise"])
def test_the_case_severity_follows_the_incident_within_the_plan(plan: str) -> None:
    report = run_scenario(scenario(f"case-severity-{plan}", support={"plan": plan}))
    (created,) = [c["params"] for c in report["changes_sent_to_aws"] if c["operation"] == "CreateCase"]
    assert created["severityCode"] == "high"  # a critical incident: server errors


def test_the_case_creation_rate_limit_sends_the_case_to_people_instead() -> None:
    faults = [{"service": "support", "operation": "CreateCase", "error": "CaseCreationLimitExceeded"}]
    report = run_scenario(scenario("case-rate-limited", support={"plan": "business"}, faults=faults))
    (incident,) = report["incidents"]
    (action,) = incident["actions"]
    assert (action["status"], action["result"]["reason"]) == ("failed", "case_creation_limit")
    (outcome,) = [n for n in incident["notifications"] if "handled" in n["subject"]]
    assert "File this support case by hand" in outcome["message"]
    assert SUBJECT in outcome["message"]


def test_an_action_failing_unexpectedly_is_recorded_and_the_incident_carries_on() -> None:
    faults = [{"service": "support", "operation": "AddCommunicationToCase", "error": "CaseIdNotFound"}]
    support = {"plan": "business", "cases": [{"subject": SUBJECT}]}
    report = run_scenario(scenario("case-vanished", support=support, faults=faults))
    (incident,) = report["incidents"]
    (action,) = incident["actions"]
    assert action["status"] == "failed"
    assert action["result"]["error"] == "CaseIdNotFound"
    assert incident["status"] == "acted" and incident["execution"]["status"] == "SUCCEEDED"
    assert any("handled" in n["subject"] for n in incident["notifications"])


LOST_ANSWER = {"service": "support", "operation": "AddCommunicationToCase", "lost": True}
LOOK_THROTTLED = {
    "service": "support",
    "operation": "DescribeCommunications",
    "error": "ThrottlingException",
    "times": 3,  # botocore's attempts: the step fails
}


@pytest.mark.parametrize(
    ("faults", "found"),
    [
        # AWS adds the evidence, its answer is lost: found on the case, not sent again
        ([LOST_ANSWER], "the answer was lost; found on the case"),
        # ... and the look at the case is throttled until the step fails: the workflow retries
        # Execute Action, whose claim is still in progress; the retry finds the evidence
        ([LOST_ANSWER, LOOK_THROTTLED], "an earlier attempt; found on the case"),
    ],
    ids=["answer-lost", "answer-lost-then-step-retried"],
)
def test_evidence_added_to_an_open_case_whose_answer_was_lost_is_added_once(
    faults: list[dict[str, Any]], found: str
) -> None:
    cases = {"plan": "business", "cases": [{"subject": SUBJECT}]}
    report = run_scenario(scenario(f"case-append-lost-{len(faults)}", support=cases, faults=faults))
    (case,) = report["support_cases"]
    assert case["communications"] == 1, "one communication on the AWS Support case"
    (incident,) = report["incidents"]
    (action,) = incident["actions"]
    assert action["status"] == "executed" and action["result"]["reconciled"] is True
    assert found in action["result"]["summary"]
    assert action["params"]["communicationBody"].endswith(
        f"OpsPilot reference: incident {incident['incident_id']}, action open_support_case:investigation"
    )
    assert incident["execution"]["status"] == "SUCCEEDED"


def test_a_case_created_whose_answer_was_lost_is_found_not_created_twice() -> None:
    """Support creates the case and its answer is lost: botocore's retry (or the step's) finds the
    case the lost attempt created instead of opening a second one."""
    lost = [{"service": "support", "operation": "CreateCase", "lost": True}]
    report = run_scenario(scenario("case-created-answer-lost", support={"plan": "business"}, faults=lost))
    (case,) = report["support_cases"]
    assert case["subject"] == SUBJECT
    (incident,) = report["incidents"]
    assert incident["execution"]["status"] == "SUCCEEDED"
    assert [a["status"] for a in incident["actions"]] == ["executed"]
    control = run_scenario(scenario("case-created", support={"plan": "business"}))["incidents"][0]
    described = [i["execution"]["api_calls"]["support:DescribeCases"] for i in (control, incident)]
    assert described[1] == described[0] + 1, "the lost answer was looked up, so the fault fired"
