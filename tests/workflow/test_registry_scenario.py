"""A scenario that starts from a model registry: the real sync provisions the alarms, one of them
fires, and the workflow reads what the alarm's tags say about the model."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opspilot_sim.scenario import ScenarioError, validate

Report = Callable[[str], dict[str, Any]]
NOVA_RPM_ALARM = "opspilot-amazon-nova-pro-v1-0-rpm-pressure"


def test_the_registry_is_provisioned_through_the_sync_and_its_alarm_fires(scenario_report: Report) -> None:
    report = scenario_report("registry-provisioned")
    registry = report["registry"]
    assert registry["models"] == ["amazon.nova-pro-v1:0", "us.anthropic.claude-3-7-sonnet-20250219-v1:0"]
    # Nova Pro (production): 6 alarms, its daily token alarm (its daily quota is listed with a value,
    # on-demand TPM x 24 x 60 by default) and its invocations band; Claude (pilot): 6 (Claude 3.7
    # Sonnet V1's daily quota is listed without a value: no daily alarm)
    assert registry["sync"]["created"] == 14 and registry["api_calls"]["cloudwatch:PutMetricAlarm"] == 14
    thresholds = {a["name"]: a["threshold"] for a in registry["alarms"]}
    assert thresholds["opspilot-amazon-nova-pro-v1-0-tpd-pressure"] == 400_000 * 1440 * 0.8
    assert thresholds[NOVA_RPM_ALARM] == 800
    assert thresholds["opspilot-us-anthropic-claude-3-7-sonnet-20250219-v1-0-rpm-pressure"] == 350  # 70 %
    assert thresholds["opspilot-us-anthropic-claude-3-7-sonnet-20250219-v1-0-latency"] == 20_000  # override

    (incident,) = report["incidents"]
    assert incident["event"] == f"{NOVA_RPM_ALARM} -> ALARM"
    assert (incident["category"], incident["scenario"], incident["status"]) == (
        "quota_pressure",
        "high_usage",
        "acted",
    )
    assert incident["policy_rule"] == "production-high-usage-within-guardrails", (
        "environment from the alarm's tag"
    )
    assert incident["approval"]["required"] is False
    requested = [
        c["params"] for c in report["changes_sent_to_aws"] if c["operation"] == "RequestServiceQuotaIncrease"
    ]
    assert [(r["QuotaCode"], r["DesiredValue"]) for r in requested] == [("L-F2717A44", 1500.0)]


def test_an_event_may_name_only_an_alarm_the_registry_provisions() -> None:
    doc: dict[str, Any] = {
        "name": "x",
        "registry": [
            {"model_id": "amazon.nova-pro-v1:0", "display_name": "Nova", "environment": "pilot", "owner": "o"}
        ],
        "events": [{"alarm": "opspilot-amazon-nova-pro-v1-0-rpm-presure", "state": "ALARM"}],
    }
    try:
        validate(doc, "x.yaml")
    except ScenarioError as exc:
        assert "field 'events[0].alarm'" in str(exc) and "provisioned from 'registry'" in str(exc)
    else:
        raise AssertionError("a misspelt provisioned alarm must be refused")
    doc["events"][0]["alarm"] = "opspilot-amazon-nova-pro-v1-0-rpm-pressure"
    assert validate(doc, "x.yaml")["registry"]


def test_a_bad_registry_entry_names_its_field() -> None:
    doc = {
        "name": "x",
        "registry": [
            {
                "model_id": "amazon.nova-pro-v1:0",
                "display_name": "Nova",
                "environment": "pilot",
                "owner": "o",
            },
            {
                "model_id": "amazon.nova-lite-v1:0",
                "display_name": "Lite",
                "environment": "pilot",
                "owner": "o",
                "tpm_threshold_percent": 0,
            },
        ],
        "events": [{"alarm": "opspilot-amazon-nova-pro-v1-0-rpm-pressure", "state": "ALARM"}],
    }
    try:
        validate(doc, "x.yaml")
    except ScenarioError as exc:
        assert str(exc).startswith("x.yaml: field 'registry[1].tpm_threshold_percent': must be more than 0")
    else:
        raise AssertionError("a bad percent must be refused")


def test_an_approved_increase_raises_the_provisioned_thresholds_through_the_workflow(
    scenario_report: Report,
) -> None:
    report = scenario_report("registry-quota-approved")
    (incident,) = report["incidents"]
    assert incident["execution"]["status"] == "SUCCEEDED"
    assert "ResyncThresholds" in incident["execution"]["states"]
    puts = [c["params"] for c in report["changes_sent_to_aws"] if c["operation"] == "PutMetricAlarm"]
    approved = {r["quota_code"]: r["desired"] for r in report["quota_requests"]}
    assert [(p["AlarmName"], p["Threshold"]) for p in puts] == [  # 80 % of the approved values
        ("opspilot-amazon-nova-pro-v1-0-rpm-pressure", int(approved["L-F2717A44"] * 0.8)),
        ("opspilot-amazon-nova-pro-v1-0-tpm-pressure", int(approved["L-CE33604C"] * 0.8)),
    ]
    assert {p["EvaluationPeriods"] for p in puts} == {5}, "written back whole, only the threshold changed"
