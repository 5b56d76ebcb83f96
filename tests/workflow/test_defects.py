"""Defects of issue 12, each with the test that failed before its fix."""

from __future__ import annotations

from opspilot_sim.runner import run_scenario
from opspilot_sim.scenario import validate


def test_a_list_valued_alarm_name_is_recorded_and_notified_not_a_crash() -> None:
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
    report = run_scenario(validate({"name": "list-alarm-name", "events": [{"raw": event}]}))

    (incident,) = report["incidents"]
    assert incident["execution"]["states"][-3:] == ["RecordFailure", "NotifyFailure", "Failed"]
    assert incident["status"] == "unclassifiable"
    assert incident["failure"]["error"] == "InvalidAlarmEvent"
    (notice,) = incident["notifications"]
    assert notice["subject"].startswith("[OpsPilot] FAILED ")
    assert "['opspilot-a', 'opspilot-b']" in notice["message"]


def test_a_denied_usage_read_is_reported_as_access_denied_not_as_no_history() -> None:
    report = run_scenario(
        validate(
            {
                "name": "usage-denied",
                "parameters": {"Environment": "pilot", "DryRun": True},
                "models": [
                    {"model_id": "amazon.nova-pro-v1:0", "usage": {"rpm_steady": 400, "rpm_peak": 950}}
                ],
                "quotas": [
                    {
                        "code": "L-F2717A44",
                        "name": "On-demand model inference requests per minute for Amazon Nova Pro",
                        "value": 1000,
                    }
                ],
                "alarms": [
                    {
                        "name": "opspilot-nova-rpm",
                        "metric": "Invocations",
                        "model_id": "amazon.nova-pro-v1:0",
                        "threshold": 800,
                    }
                ],
                "faults": [
                    {
                        "service": "cloudwatch",
                        "operation": "GetMetricData",
                        "error": "AccessDenied",
                        "status": 403,
                    }
                ],
                "events": [{"alarm": "opspilot-nova-rpm", "state": "ALARM"}],
            }
        )
    )
    (incident,) = report["incidents"]
    assert incident["scenario"] == "new_model"
    assert incident["evidence"]["why"].startswith("access denied: GetMetricData: AccessDenied")
