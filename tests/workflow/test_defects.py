"""Defects of issue 12, each with the test that failed before its fix."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opspilot_sim.runner import run_scenario
from opspilot_sim.scenario import validate

World = Callable[..., dict[str, Any]]  # the nova_pro_world fixture (conftest.py)


def list_alarm_name(**extra: Any) -> dict[str, Any]:
    event = {
        "version": "0",
        "id": "5d2f7a9e-3b1c-4e8f-a6d0-9c8b7a6f5e4d",
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "account": "123456789012",
        "time": "2026-11-30T10:00:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:cloudwatch:us-east-1:123456789012:alarm:opspilot-a"],
        # EventBridge's prefix match passes a list when any element matches
        "detail": {
            "alarmName": ["opspilot-a", "opspilot-b"],
            "state": {
                "value": "ALARM",
                "reason": "Threshold Crossed",
                "timestamp": "2026-11-30T10:00:00.000+0000",
            },
            "configuration": {"metrics": []},
        },
    }
    return run_scenario(validate({"name": "list-alarm-name", "events": [{"raw": event}], **extra}))


def test_a_list_valued_alarm_name_is_recorded_and_notified_not_a_crash() -> None:
    report = list_alarm_name()

    (incident,) = report["incidents"]
    assert incident["execution"]["states"][-3:] == ["RecordFailure", "NotifyFailure", "Failed"]
    assert incident["status"] == "unclassifiable"
    assert incident["failure"]["error"] == "InvalidAlarmEvent"
    (notice,) = incident["notifications"]
    assert notice["subject"].startswith("[OpsPilot] FAILED ")
    assert "['opspilot-a', 'opspilot-b']" in notice["message"]


def test_record_failure_retried_after_a_lost_response_records_and_notifies_once() -> None:
    report = list_alarm_name(lost_lambda_responses=[{"function": "RecordFailureFunction"}])

    (incident,) = report["incidents"]
    assert incident["execution"]["states"][-3:] == ["RecordFailure", "NotifyFailure", "Failed"]
    assert (
        incident["execution"]["lambda_invocations"]
        == list_alarm_name()["incidents"][0]["execution"]["lambda_invocations"] + 1
    ), "the lost response was retried"
    (record,) = report["incident_records"]
    assert record["status"] == "unclassifiable"
    assert record["audit"] == ["failed"]
    (notice,) = incident["notifications"]
    assert notice["subject"].startswith("[OpsPilot] FAILED ")


def test_a_denied_usage_read_is_reported_as_access_denied_not_as_no_history(nova_pro_world: World) -> None:
    fault = {"service": "cloudwatch", "operation": "GetMetricData", "error": "AccessDenied", "status": 403}
    report = run_scenario(
        validate(
            nova_pro_world(
                "usage-denied",
                "pilot",
                dry_run=True,
                faults=[fault],
                events=[{"alarm": "opspilot-nova-rpm", "state": "ALARM"}],
            )
        )
    )
    (incident,) = report["incidents"]
    assert incident["scenario"] == "new_model"
    assert incident["evidence"]["why"].startswith("access denied: GetMetricData: AccessDenied")
