"""AWS's own example events, about Bedrock, through the real workflow (the ASL on moto's
interpreter, the real handlers): each ends the way a person on call would call right.

The events are the fixtures ``events/aws-*.json`` (AWS's examples with a Bedrock alarm, metric and
figures; tests/unit/test_aws_events.py checks they keep AWS's shape), offered to the template's
EventBridge rule as they are.
"""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from opspilot.adapters.incidents import IncidentStore
from opspilot_sim.runner import run_scenario
from opspilot_sim.scenario import validate

EVENTS = Path(__file__).parents[2] / "events"
NOVA_PRO, NOVA_LITE = "amazon.nova-pro-v1:0", "amazon.nova-lite-v1:0"
CLAUDE_37 = "us.anthropic.claude-3-7-sonnet-20250219-v1:0"
# the alarm of AWS's muted example event, in ALARM as the event says
MUTED_THROTTLES = {
    "name": "opspilot-claude-3-7-sonnet-throttles",
    "metric": "InvocationThrottles",
    "model_id": CLAUDE_37,
    "threshold": 5,
    "state": "ALARM",
}
HAIKU = "us.anthropic.claude-3-5-haiku-20241022-v1:0"
QUOTAS = [  # codes and names as bedrock-quotas.json lists them
    {
        "code": "L-F2717A44",
        "name": "On-demand model inference requests per minute for Amazon Nova Pro",
        "value": 500,
        "adjustable": True,  # not adjustable in the June-2025 General Reference; here it is
    },
    {
        "code": "L-CE33604C",
        "name": "On-demand model inference tokens per minute for Amazon Nova Pro",
        "value": 2000000,
        "adjustable": True,  # not adjustable in the June-2025 General Reference; here it is
    },
    {
        "code": "L-3D8CC480",
        "name": "Cross-region model inference requests per minute for Anthropic Claude 3.7 Sonnet V1",
        "value": 500,
    },
    {
        "code": "L-6E888CC2",
        "name": "Cross-region model inference tokens per minute for Anthropic Claude 3.7 Sonnet V1",
        "value": 1000000,
    },
    {
        "code": "L-E386A278",
        "name": "On-demand model inference requests per minute for Amazon Nova Lite",
        "value": 2000,
        "adjustable": True,  # not adjustable in the June-2025 General Reference; here it is
    },
    {
        "code": "L-70423BF8",
        "name": "On-demand model inference tokens per minute for Amazon Nova Lite",
        "value": 4000000,
        "adjustable": True,  # not adjustable in the June-2025 General Reference; here it is
    },
]
MODELS = [
    {"model_id": NOVA_PRO, "usage": {"rpm_steady": 200, "rpm_peak": 430}},
    {
        "model_id": CLAUDE_37,
        "usage": {
            "rpm_steady": 120,
            "rpm_peak": 430,
            "input_tokens_per_request": 1800,
            "output_tokens_per_request": 350,
        },
    },
    {"model_id": NOVA_LITE, "usage": {"rpm_steady": 250, "rpm_peak": 520}},
]


_ORDER = itertools.count()


def event(name: str, **changes: Any) -> dict[str, Any]:
    """The example, delivered now: an event stamped years ago is refused (issue 12), so its state
    change is stamped at the time it is built, a millisecond apart in the order listed."""
    raw: dict[str, Any] = json.loads((EVENTS / name).read_text())
    at = datetime.now(UTC) + timedelta(milliseconds=next(_ORDER))
    raw["time"] = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    raw["detail"]["state"]["timestamp"] = (
        at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}+0000"
    )
    raw.update(changes)
    return {"raw": raw}


def _verbatim(example_id: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((EVENTS / "aws" / f"{example_id}.json").read_text())
    return document


@cache
def report(name: str) -> dict[str, Any]:
    scenarios: dict[str, dict[str, Any]] = {
        "aws-events": {
            "description": "AWS's single-metric, metric-math and anomaly examples, about Bedrock.",
            "parameters": {"Environment": "pilot", "DryRun": True},
            "alarms": [
                {  # the single-metric alarm, made by hand: tagged, without tag propagation
                    "name": "opspilot-nova-pro-invocations-5min",
                    "metric": "Invocations",
                    "model_id": NOVA_PRO,
                    "period": 300,
                    "threshold": 2000,
                    "tags": {"opspilot:environment": "production", "opspilot:owner": "claims-triage"},
                },
            ],
            "events": [
                event("aws-single-metric.json"),
                event("aws-metric-math-tokens.json"),
                event("aws-anomaly-drop.json"),
            ],
        },
        "aws-events-suppressed": {
            "description": "A muted alarm, its repeat, a suppressed composite; then unmuted.",
            "parameters": {"Environment": "production", "DryRun": True},
            "alarms": [
                MUTED_THROTTLES,
                {
                    "name": "opspilot-claude-3-7-sonnet-5xx",
                    "metric": "InvocationServerErrors",
                    "model_id": CLAUDE_37,
                    "threshold": 5,
                },
            ],
            "events": [
                event("aws-single-metric-muted.json"),
                event("aws-single-metric-muted.json", id="5f0e2c1d-3b4a-4e6f-8a9b-0c1d2e3f4a5b"),
                event("aws-composite-suppressed.json"),
                event("aws-single-metric.json"),
            ],
        },
        # the same, losing Classify's first response for the muted alarm (call 1) and for its repeat
        # (call 3, counting the retry): each retry finishes its first attempt's work, once
        "aws-events-suppressed-lossy": {
            "description": "A muted alarm and its repeat, their Classify responses lost.",
            "parameters": {"Environment": "production", "DryRun": True},
            "alarms": [
                MUTED_THROTTLES,
            ],
            "events": [
                event("aws-single-metric-muted.json"),
                event("aws-single-metric-muted.json", id="5f0e2c1d-3b4a-4e6f-8a9b-0c1d2e3f4a5b"),
            ],
            "lost_lambda_responses": [{"function": "ClassifyFunction", "on_call": n} for n in (1, 3)],
        },
        "aws-examples-verbatim": {
            "description": "AWS's twelve examples as written (EC2, DynamoDB), default prefix.",
            "parameters": {"Environment": "production", "DryRun": True},
            "events": [{"raw": _verbatim(path.stem)} for path in sorted((EVENTS / "aws").glob("*.json"))],
        },
        "aws-examples-verbatim-s": {
            "description": "The same examples with AlarmNamePrefix S.",
            "parameters": {"Environment": "production", "DryRun": True, "AlarmNamePrefix": "S"},
            "events": [{"raw": _verbatim(path.stem)} for path in sorted((EVENTS / "aws").glob("*.json"))],
        },
        "aws-events-metrics-insights": {
            "description": "Metrics Insights GROUP BY ModelId: its own change, 3 contributors, 1 recovery.",
            "parameters": {"Environment": "production", "DryRun": True},
            "events": [
                event("aws-metrics-insights-alarm.json"),
                event("aws-contributor-claude.json"),
                event("aws-contributor-nova.json"),
                event("aws-contributor-muted.json"),
                event("aws-contributor-claude-ok.json"),
            ],
        },
    }
    scenario = {
        "name": name,
        "models": MODELS,
        "quotas": QUOTAS,
        "support": {"plan": "business"},
        **scenarios[name],
    }
    return run_scenario(validate(scenario, f"<{name}>"))


def _requested(incident: dict[str, Any]) -> list[str]:
    return [
        a["params"]["QuotaCode"] for a in incident["planned_actions"] if a["type"] == "request_quota_increase"
    ]


def test_every_aws_example_reaches_the_workflow() -> None:
    for name in ("aws-events", "aws-events-suppressed", "aws-events-metrics-insights"):
        result = report(name)
        assert result["ignored_events"] == [], name
        assert {i["execution"]["status"] for i in result["incidents"]} == {"SUCCEEDED"}, name


def test_a_single_metric_over_five_minutes_is_rpm_pressure_read_per_minute() -> None:
    single = report("aws-events")["incidents"][0]

    assert (single["model_id"], single["category"]) == (NOVA_PRO, "quota_pressure")
    [signal] = single["triggering_alarms"]
    assert (signal["quota_scope"], signal["observed_per_minute"]) == ("rpm", 422.0)
    assert _requested(single) == ["L-F2717A44"]


def test_a_hand_made_alarm_with_the_right_tags_is_read_like_a_provisioned_one() -> None:
    """The event carries no alarmTags (no tag propagation): Classify reads the tags, one call."""
    single = report("aws-events")["incidents"][0]

    assert (
        single["policy_rule"] == "production-high-usage-within-guardrails"
    )  # the tag, not the stack's pilot
    assert single["execution"]["api_calls"]["cloudwatch:ListTagsForResource"] == 1
    opened = next(n for n in single["notifications"] if n["subject"].startswith("[OpsPilot] opened"))
    assert "Incident:" in opened["message"]


def test_metric_math_over_input_and_output_tokens_is_tpm_pressure() -> None:
    tokens = report("aws-events")["incidents"][1]

    assert (tokens["model_id"], tokens["category"]) == (CLAUDE_37, "quota_pressure")
    [signal] = tokens["triggering_alarms"]
    assert (signal["metric"], signal["quota_scope"], signal["observed_per_minute"]) == (
        "InputTokenCount+OutputTokenCount",
        "tpm",
        907300.0,
    )
    assert _requested(tokens) == ["L-6E888CC2"]  # the TPM quota only, never RPM


def test_a_drop_below_the_anomaly_band_is_a_traffic_drop_never_a_quota_request() -> None:
    result = report("aws-events")
    drop = result["incidents"][2]

    assert (drop["model_id"], drop["category"], drop["policy_rule"]) == (
        NOVA_LITE,
        "traffic_drop",
        "traffic-drop-investigate",
    )
    assert drop["planned_actions"] == [] and drop["actions"] == []
    assert next(r["code"] for r in drop["recommendations"]) == "investigate_traffic_drop"
    handled = next(n for n in drop["notifications"] if n["subject"].startswith("[OpsPilot] handled"))
    assert "a client outage, a deployment that broke or stopped the calls" in handled["message"]
    assert not any(
        "L-E386A278" in json.dumps(c) or "L-70423BF8" in json.dumps(c) for c in result["changes_sent_to_aws"]
    )


def test_a_muted_alarm_is_recorded_and_announced_once_and_nothing_is_done() -> None:
    muted, repeat, _, _ = report("aws-events-suppressed")["incidents"]

    assert (muted["status"], muted["model_id"], muted["category"]) == (
        "suppressed",
        NOVA_PRO,
        "quota_pressure",
    )
    assert muted["execution"]["states"][-2:] == ["NotifySuppressed", "Done"]
    [notice] = muted["notifications"]
    assert notice["subject"] == "[OpsPilot] suppressed (warning): amazon.nova-pro-v1:0"
    assert "Silenced:  muted by alarm mute rule testMute (2026-01-01T10:00:00.000+0000" in notice["message"]
    assert muted["planned_actions"] == [] and muted["actions"] == []
    # the same alarm again in the same mute window: recorded against the first, not announced
    assert repeat["incident_id"] == muted["incident_id"]
    assert repeat["attached_to_open_incident"] and repeat["notifications"] == []


def test_a_muted_alarm_retried_after_lost_responses_is_recorded_and_attached_once() -> None:
    result = report("aws-events-suppressed-lossy")
    muted, repeat = result["incidents"]

    assert muted["status"] == "suppressed" and repeat["incident_id"] == muted["incident_id"]
    [notice] = muted["notifications"]
    assert notice["subject"] == "[OpsPilot] suppressed (warning): amazon.nova-pro-v1:0"
    assert repeat["attached_to_open_incident"] and repeat["notifications"] == []
    [record] = [r for r in result["incident_records"] if r["incident_id"] == muted["incident_id"]]
    assert sorted(record["audit"]) == ["attached", "suppressed"]


def test_a_suppressed_composite_names_its_suppressor_and_acts_on_nothing() -> None:
    result = report("aws-events-suppressed")
    composite = result["incidents"][2]

    assert (composite["status"], composite["model_id"]) == ("suppressed", CLAUDE_37)
    assert [s["alarm_name"] for s in composite["triggering_alarms"]] == [
        "opspilot-claude-3-7-sonnet-throttles"
    ]
    [notice] = composite["notifications"]
    assert (
        "Silenced:  Actions suppressed by WaitPeriod (suppressor alarm opspilot-maintenance-window)"
        in (notice["message"])
    )
    assert [c for c in result["changes_sent_to_aws"] if c["operation"] != "PutMetricAlarm"] == []


def test_once_unmuted_the_same_alarm_is_handled() -> None:
    unmuted = report("aws-events-suppressed")["incidents"][3]

    assert (unmuted["status"], unmuted["category"]) == ("acted", "quota_pressure")
    assert not unmuted["attached_to_open_incident"]
    assert _requested(unmuted) == ["L-F2717A44"]


def test_a_metrics_insights_alarm_opens_nothing_itself() -> None:
    alarm_level = report("aws-events-metrics-insights")["incidents"][0]

    assert alarm_level["incident_id"] is None and alarm_level["notifications"] == []
    assert alarm_level["execution"]["states"][-2:] == ["RouteByCategory", "Done"]
    assert alarm_level["execution"]["lambda_invocations"] == 1


def test_each_metrics_insights_contributor_is_its_own_incident() -> None:
    _, claude, nova, muted, recovered = report("aws-events-metrics-insights")["incidents"]

    assert (claude["model_id"], claude["category"], claude["status"]) == (
        CLAUDE_37,
        "quota_pressure",
        "resolved",
    )
    assert (nova["model_id"], nova["category"], nova["status"]) == (NOVA_PRO, "quota_pressure", "acted")
    assert claude["incident_id"] != nova["incident_id"]
    assert [s["alarm_name"] for s in nova["triggering_alarms"]] == [
        "opspilot-throttles-by-model [91f0c2a4be7d3e15]"
    ]
    assert (muted["model_id"], muted["status"]) == (HAIKU, "suppressed")
    # the Claude contributor back to OK resolves the Claude incident only
    assert recovered["incident_id"] == claude["incident_id"]
    assert any(n["subject"].startswith("[OpsPilot] RESOLVED") for n in recovered["notifications"])


def test_aws_examples_under_other_names_never_start_the_workflow() -> None:
    result = report("aws-examples-verbatim")

    assert result["incidents"] == []
    assert len(result["ignored_events"]) == 12
    assert {e["reason"] for e in result["ignored_events"]} == {"does not match the rule's event pattern"}


def test_aws_examples_under_the_prefix_are_state_changes_only_and_not_bedrock() -> None:
    """With AlarmNamePrefix "S", the rule passes ServerCpuTooHigh's and ServiceAggregatedAlarm's
    state changes and none of their configuration changes; neither is about Bedrock."""
    result = report("aws-examples-verbatim-s")

    assert len(result["incidents"]) == 2 and len(result["ignored_events"]) == 10
    single, composite = sorted(result["incidents"], key=lambda i: str(i["failure"]))
    assert {single["status"], composite["status"]} == {"unclassifiable"}
    causes = " ".join(str(i["failure"]["cause"]) for i in (single, composite))
    assert "namespace 'AWS/EC2' is not AWS/Bedrock" in causes
    assert "its alarms ['ServerCpuTooHigh'] were not found" in causes
    assert result["changes_sent_to_aws"] == []
    assert all(i["notifications"] for i in (single, composite)), "people are told why"


@pytest.mark.parametrize(("refused", "state"), [(1, "delivered"), (2, "given_up")])
def test_a_refused_suppressed_notice_is_recorded_and_tried_again_never_failing_the_event(
    refused: int, state: str
) -> None:
    """NotifySuppressed refused by SNS: recorded on the suppressed record, tried once more, and
    delivered or given up; the event is handled (issue 12: notices never block, nor fail)."""
    kept: dict[str, Any] = {}

    def read(table: str) -> None:
        store = IncidentStore(table, 30)
        (item,) = store.list_incidents()
        kept["record"] = store.get_incident(item["pk"].removeprefix("INCIDENT#"))

    scenario = {
        "name": f"aws-muted-notice-refused-{refused}",
        "parameters": {"Environment": "production", "DryRun": True},
        "models": MODELS,
        "quotas": QUOTAS,
        "faults": [
            {"service": "sns", "operation": "Publish", "error": "AuthorizationError", "times": refused}
        ],
        "events": [event("aws-single-metric-muted.json")],
    }
    (muted,) = run_scenario(validate(scenario), then=read)["incidents"]

    assert muted["execution"]["status"] == "SUCCEEDED"
    assert "RecordFailure" not in muted["execution"]["states"]
    assert muted["status"] == "suppressed" and muted["disposition"] == "suppressed"
    assert muted["execution"]["states"][-2:] == [
        "RecordSuppressedNoticeDelivered" if state == "delivered" else "RecordSuppressedNoticeGivenUp",
        "Done",
    ]
    sent = [n["subject"] for n in muted["notifications"]]
    assert sent == (["[OpsPilot] suppressed (warning): amazon.nova-pro-v1:0"] if state == "delivered" else [])
    record = kept["record"]
    assert record["status"] == "suppressed" and record["notice_state"] == state
    assert [(f["notice"], f["error"]) for f in record["notice_failures"]] == [
        ("suppressed", "SNS.AuthorizationErrorException")
    ] * refused


def test_a_muted_alarm_whose_audit_write_failed_gets_it_from_the_retry() -> None:
    """The suppressed record is written, then its audit entry fails with a 500 on every botocore
    attempt (DynamoDB's TransactWriteItems attempts 2 to 4 of the run): the retry of the same
    execution finds its own record and writes the entry, once (issue 12)."""
    faults = [
        {
            "service": "dynamodb",
            "operation": "TransactWriteItems",
            "error": "InternalServerError",
            "on_call": n,
        }
        for n in (2, 3, 4)
    ]
    scenario = {
        "name": "aws-muted-audit-failed",
        "parameters": {"Environment": "production", "DryRun": True},
        "models": MODELS,
        "quotas": QUOTAS,
        "faults": faults,
        "events": [event("aws-single-metric-muted.json")],
    }
    report = run_scenario(validate(scenario))
    (muted,) = report["incidents"]

    assert muted["execution"]["status"] == "SUCCEEDED" and muted["status"] == "suppressed"
    assert muted["execution"]["lambda_invocations"] == 2, "Classify was retried"
    assert [n["subject"] for n in muted["notifications"]] == [
        "[OpsPilot] suppressed (warning): amazon.nova-pro-v1:0"
    ]
    (record,) = report["incident_records"]
    assert record["audit"] == ["suppressed"]
