"""Issue 3 end to end: the reasoning a user sees in the report, from real handler runs."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from opspilot_sim.catalog import load_catalog

Report = Callable[[str], dict[str, Any]]


def test_a_mix_of_server_errors_and_tpm_pressure_is_both_questions(scenario_report: Report) -> None:
    report = scenario_report("mixed-errors-and-tpm")
    (incident,) = report["incidents"]
    alarms = {a["alarm_name"]: a for a in incident["triggering_alarms"]}
    assert set(alarms) == {"opspilot-claude37-tpm", "opspilot-claude37-5xx"}
    assert alarms["opspilot-claude37-tpm"]["observed_per_minute"] == 884000.0  # 4,420,000 over 5 minutes
    assert incident["scenario"] == "high_usage", (
        "the alarm's per-minute figure is above the 800,000 threshold"
    )
    assert (
        incident["policy_rule"] == "production-high-usage-within-guardrails + production-failure-investigate"
    )
    assert [a["type"] for a in incident["planned_actions"]] == ["request_quota_increase", "open_support_case"]
    sent = {c["operation"]: c["params"] for c in report["changes_sent_to_aws"]}
    assert sent["RequestServiceQuotaIncrease"]["QuotaCode"] == "L-6E888CC2", (
        "TPM only: the signal is about tokens"
    )
    assert sent["CreateCase"]["subject"].startswith("[OpsPilot] investigation")
    assert [r["code"] for r in incident["recommendations"]] == ["consider_global_profile", "prompt_caching"]


def test_an_application_profile_uses_its_models_quota(scenario_report: Report) -> None:
    report = scenario_report("app-profile-siblings")
    (incident,) = report["incidents"]
    # CloudWatch's ModelId for an application profile is its id (the last ARN segment): the alarm,
    # the incident and the usage history all name it so, and the usage is found
    assert incident["model_id"] == "chatprod01"
    assert incident["evidence"]["peak_rpm"] >= 200 and incident["scenario"] == "high_usage"
    assert incident["triggering_alarms"][0]["observed_per_minute"] == 231
    assert [c["params"]["QuotaCode"] for c in report["changes_sent_to_aws"]] == ["L-254CACF4"]
    assert incident["execution"]["api_calls"].get("bedrock:GetInferenceProfile") == 1


def test_a_composite_alarm_is_classified_from_its_triggering_alarms(scenario_report: Report) -> None:
    (incident,) = scenario_report("composite-alarm")["incidents"]
    assert {a["alarm_name"] for a in incident["triggering_alarms"]} == {
        "opspilot-nova-throttles",
        "opspilot-nova-5xx",
    }
    assert incident["category"] == "quota_pressure" and incident["severity"] == "critical"
    assert "failure-investigate" in incident["policy_rule"]


def test_an_unknown_metric_is_an_unclassifiable_incident_with_the_reason(scenario_report: Report) -> None:
    (incident,) = scenario_report("unknown-metric")["incidents"]
    assert incident["status"] == "unclassifiable"
    assert "no rule for metric 'OutputImageCount'" in incident["failure"]["cause"]
    assert incident["notifications"], "never a silent success"


def test_gathering_the_context_costs_six_calls_plus_the_quota_listing_pages(scenario_report: Report) -> None:
    (incident,) = scenario_report("app-profile-siblings")["incidents"]
    calls = incident["execution"]["api_calls"]
    fixed = {
        k: v
        for k, v in calls.items()
        if k.split(":")[1]
        in {
            "GetMetricData",
            "ListRequestedServiceQuotaChangeHistory",
            "DescribeCases",
            "GetInferenceProfile",
            "GetFoundationModel",
        }
    }
    assert sum(fixed.values()) <= 6, fixed
    # the account lists every Bedrock quota of the shared catalog: 100 a page (api-limits.json)
    pages = math.ceil(len(load_catalog().quotas) / 100)
    assert (
        calls["service-quotas:ListServiceQuotas"]
        == calls["service-quotas:ListAWSDefaultServiceQuotas"]
        == pages
    )


def test_a_registered_models_own_threshold_percent_decides(scenario_report: Report) -> None:
    (incident,) = scenario_report("registry-percent-wins")["incidents"]
    assert incident["evidence"]["rpm_threshold"] == 900  # 90 % of 1,000, not the stack's 80 %
    assert incident["scenario"] == "low_usage"


def test_an_approved_increase_moves_the_models_alarm_thresholds(scenario_report: Report) -> None:
    report = scenario_report("quota-approved-thresholds-follow")
    (incident,) = report["incidents"]
    assert {r["status"] for r in report["quota_requests"]} == {"APPROVED"}
    writes = [c["params"] for c in report["changes_sent_to_aws"] if c["operation"] == "PutMetricAlarm"]
    after = {w["AlarmName"]: w["Threshold"] for w in writes}  # the last write of each alarm
    approved = {r["quota_code"]: r["desired"] for r in report["quota_requests"]}
    # sized by the evidence (peak / 0.8 x 1.2), below the +50 % cap; the thresholds follow at 80 %
    assert 1000 < approved["L-F2717A44"] < 1500 and 2_000_000 < approved["L-CE33604C"] < 3_000_000
    assert after["opspilot-amazon-nova-pro-v1-0-rpm-pressure"] == int(approved["L-F2717A44"] * 0.8)
    assert after["opspilot-amazon-nova-pro-v1-0-tpm-pressure"] == int(approved["L-CE33604C"] * 0.8)
    assert "ResyncThresholds" in incident["execution"]["states"]
    assert any("quota increase approved" in n["subject"] for n in incident["notifications"])
