"""Acting safely: at most once, reuse before filing, degrade without failing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Report = Callable[[str], dict[str, Any]]


def test_a_retried_action_that_already_succeeded_files_nothing_twice(scenario_report: Report) -> None:
    report = scenario_report("retry-after-success")
    (incident,) = report["incidents"]
    sent = [c["params"]["QuotaCode"] for c in report["changes_sent_to_aws"]]
    assert sorted(sent) == ["L-CE33604C", "L-F2717A44"], "one request per quota despite the retry"
    # 9 through the outcome (8 + the retried ExecuteAction), then one look at the requests and the
    # threshold sync after AWS approves them
    assert incident["execution"]["lambda_invocations"] == 11
    assert {a["status"] for a in incident["actions"]} == {"executed"}


def test_a_pending_request_is_reused_not_filed_again(scenario_report: Report) -> None:
    report = scenario_report("pending-request-reused")
    (incident,) = report["incidents"]
    assert incident["actions"] == []
    (refusal,) = incident["refusals"]
    assert (refusal["quota_code"], refusal["reason"]) == ("L-F2717A44", "pending_request")
    assert report["changes_sent_to_aws"] == []
    (outcome,) = [n for n in incident["notifications"] if "handled" in n["subject"]]
    assert (
        "no request is stacked on a pending one. (a request for this quota is pending)" in outcome["message"]
    )


def test_basic_support_plan_sends_the_prefilled_case_to_people(scenario_report: Report) -> None:
    report = scenario_report("basic-support-plan")
    (incident,) = report["incidents"]
    (action,) = incident["actions"]
    assert action["status"] == "skipped"
    assert action["result"]["reason"] == "support_plan_basic"
    assert action["result"]["manual_filing"]["console_url"].startswith(
        "https://support.console.aws.amazon.com/"
    )
    assert report["changes_sent_to_aws"] == []
    (outcome,) = [n for n in incident["notifications"] if "handled" in n["subject"]]
    assert "File this support case by hand: https://support.console.aws.amazon.com/" in outcome["message"]
    assert "Model: amazon.nova-pro-v1:0" in outcome["message"]


def test_throttled_quota_lookup_is_unknown_not_a_crash(scenario_report: Report) -> None:
    report = scenario_report("quota-lookup-throttled")
    (incident,) = report["incidents"]
    assert incident["execution"]["status"] == "SUCCEEDED"
    assert incident["scenario"] == "new_model"
    assert report["changes_sent_to_aws"] == []


def test_experimentation_never_requests_quota(scenario_report: Report) -> None:
    report = scenario_report("experimentation-notify-only")
    (incident,) = report["incidents"]
    assert incident["policy_rule"] == "experimentation-recommend-only"
    assert incident["actions"] == []
    assert report["changes_sent_to_aws"] == []
    assert incident["notifications"], "people are still told"


def test_recovery_notes_the_open_case_and_resolves(scenario_report: Report) -> None:
    report = scenario_report("recovery-notes-case")
    alarm, ok = report["incidents"]
    assert ok["status"] == "resolved" and ok["incident_id"] == alarm["incident_id"]
    notes = [c for c in report["changes_sent_to_aws"] if c["operation"] == "AddCommunicationToCase"]
    (note,) = notes
    assert "recovered at" in note["params"]["communicationBody"]
    assert note["params"]["caseId"] == report["support_cases"][0]["case_id"]
    assert [n["subject"] for n in ok["notifications"]] == [
        "[OpsPilot] RESOLVED amazon.nova-pro-v1:0: all alarms OK"
    ]


def test_one_incident_owns_all_of_a_models_alarms_and_resolves_when_all_are_ok(
    scenario_report: Report,
) -> None:
    opened, second_alarm, first_ok, last_ok = scenario_report("two-alarms-recover")["incidents"]
    assert {a["alarm_name"] for a in opened["triggering_alarms"]} == {
        "opspilot-nova-throttles",
        "opspilot-nova-rpm",
    }
    assert second_alarm["attached_to_open_incident"] and second_alarm["incident_id"] == opened["incident_id"]
    assert second_alarm["execution"]["lambda_invocations"] == 0
    assert first_ok["notifications"] == [], "one alarm still in ALARM: not resolved yet"
    assert [n["subject"] for n in last_ok["notifications"]] == [
        "[OpsPilot] RESOLVED amazon.nova-pro-v1:0: all alarms OK"
    ]
    assert last_ok["status"] == "resolved" and last_ok["incident_id"] == opened["incident_id"]
