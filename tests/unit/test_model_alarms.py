"""The alarms provisioned per model: definitions, tags, names, quota-linked thresholds."""

from __future__ import annotations

from typing import Any

import pytest

from opspilot.domain.alarm_names import DEFAULTS, alarm_name, model_slug
from opspilot.domain.model_alarms import (
    PERIOD,
    QuotaSnapshot,
    StackDefaults,
    create_params,
    desired_alarms,
    managed_differences,
    pool_members,
    with_threshold,
)
from opspilot.domain.quotas import pressure_threshold
from opspilot.domain.registry import ModelEntry, validate_entry

STACK = StackDefaults("opspilot-", 80, 50, "opspilot")
EVERY_BAND = {
    k: {"enabled": True} for k in ("input-tokens-anomaly", "output-tokens-anomaly", "latency-anomaly")
}
CLAUDE = "us.anthropic.claude-3-7-sonnet-20250219-v1:0"
PROFILE = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6"
# Names and codes as ListServiceQuotas gives them (../shared/aws-reference/bedrock-quotas.json).
QUOTAS = QuotaSnapshot(
    {
        "L-3D8CC480": (
            "Cross-region model inference requests per minute for Anthropic Claude 3.7 Sonnet V1",
            500,
        ),
        "L-6E888CC2": (
            "Cross-region model inference tokens per minute for Anthropic Claude 3.7 Sonnet V1",
            1_000_000,
        ),
        "L-9EB71894": (
            "Model invocation max tokens per day for Anthropic Claude 3.7 Sonnet V1"
            " (doubled for cross-region calls)",
            1_440_000_000,
        ),
    }
)


def entry(**changes: Any) -> ModelEntry:
    raw = {
        "model_id": CLAUDE,
        "display_name": "Claude 3.7 Sonnet",
        "environment": "production",
        "owner": "claims",
    }
    return validate_entry(raw | changes)


def by_kind(
    model: ModelEntry, quotas: QuotaSnapshot | None = QUOTAS, members: list[str] | None = None
) -> dict[str, Any]:
    alarms, _ = desired_alarms(model, STACK, quotas, members or [])
    return {a.kind: a for a in alarms}


@pytest.mark.parametrize(
    ("quota", "percent", "threshold"),
    [
        (500, 80, 400),
        (1_000_000, 80, 800_000),
        (700, 70, 490),  # 700 x (70 / 100) in binary floats is 489.99999999999994
        (333, 80, 266),  # 266.4 floors
        (250, 70, 175),
        (10, 33.3, 3),
        (1, 50, 1),  # never 0: an alarm at >= 0 would always fire
        (2_000_000, 100, 2_000_000),
    ],
)
def test_pressure_thresholds_are_the_floor_of_quota_times_percent(
    quota: float, percent: float, threshold: int
) -> None:
    assert pressure_threshold(quota, percent) == threshold


def test_bands_are_only_where_they_pay_by_default() -> None:
    """Seven alarms for every model whose quotas are all listed; the invocations band for
    production models only; the other three bands only on request (each costs three alarm
    metrics and an anomaly detection model)."""
    six = [
        "server-errors",
        "client-errors",
        "throttles",
        "rpm-pressure",
        "tpm-pressure",
        "tpd-pressure",
        "latency",
    ]
    assert list(by_kind(entry())) == [*six, "invocations-anomaly"]
    assert list(by_kind(entry(environment="pilot"))) == six
    assert list(by_kind(entry(environment="experimentation"))) == six
    opted = entry(environment="pilot", alarms={"latency-anomaly": {"enabled": True}})
    assert list(by_kind(opted)) == [*six, "latency-anomaly"]
    assert list(by_kind(entry(alarms={"invocations-anomaly": {"enabled": False}}))) == six


def test_every_model_gets_per_minute_alarms_named_under_the_prefix_and_tagged() -> None:
    alarms = by_kind(entry(notify=["arn:aws:sns:us-east-1:123456789012:claims-oncall"], alarms=EVERY_BAND))
    assert list(alarms) == list(DEFAULTS)
    for kind, alarm in alarms.items():
        assert alarm.name == f"opspilot-us-anthropic-claude-3-7-sonnet-20250219-v1-0-{kind}"
        assert alarm.tags["opspilot:model-id"] == CLAUDE
        assert alarm.tags["opspilot:environment"] == "production"
        assert alarm.tags["opspilot:owner"] == "claims"
        assert alarm.tags["opspilot:alarm"] == kind and alarm.tags["opspilot:managed-by"] == "opspilot"
        assert alarm.tags["opspilot:increase-percent"] == "50"
        assert (
            alarm.params["AlarmActions"]
            == alarm.params["OKActions"]
            == ["arn:aws:sns:us-east-1:123456789012:claims-oncall"]
        )
        assert alarm.params["TreatMissingData"] == "notBreaching"
        periods = [q["MetricStat"]["Period"] for q in alarm.params.get("Metrics", []) if "MetricStat" in q]
        # every alarm is per minute but the daily-token one, which sums a day
        assert set(periods or [alarm.params["Period"]]) == {86_400 if kind == "tpd-pressure" else PERIOD}


def test_the_daily_token_alarm_watches_the_day_against_the_doubled_cross_region_quota() -> None:
    tpd = by_kind(entry())["tpd-pressure"]
    assert (tpd.params["MetricName"], tpd.params["Statistic"], tpd.params["Period"]) == (
        "EstimatedTPMQuotaUsage",
        "Sum",
        86_400,
    )
    # "(doubled for cross-region calls)": a cross-Region profile may use twice the listed value
    assert tpd.threshold == pressure_threshold(2 * 1_440_000_000, 80)
    assert tpd.basis is not None and tpd.basis.quota_code == "L-9EB71894"


def test_rpm_and_daily_alarms_exist_only_where_the_account_lists_the_quota() -> None:
    tpm_only = QuotaSnapshot({"L-6E888CC2": QUOTAS.quotas["L-6E888CC2"]})
    alarms, problems = desired_alarms(entry(), STACK, tpm_only, [])
    kinds = {a.kind for a in alarms}
    assert "tpm-pressure" in kinds and not kinds & {"rpm-pressure", "tpd-pressure"} and problems == []


def test_pressure_alarms_follow_the_quotas_matched_by_name() -> None:
    alarms = by_kind(entry(tpm_threshold_percent=90))
    rpm, tpm = alarms["rpm-pressure"], alarms["tpm-pressure"]
    assert (rpm.params["MetricName"], rpm.params["Statistic"], rpm.threshold) == ("Invocations", "Sum", 400)
    assert (tpm.params["MetricName"], tpm.threshold) == ("EstimatedTPMQuotaUsage", 900_000)
    assert (rpm.basis.quota_code, rpm.basis.quota_value, rpm.basis.percent) == ("L-3D8CC480", 500, 80)
    assert rpm.params["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert (
        create_params(rpm)["Threshold"] == 400
        and {"Key": "opspilot:owner", "Value": "claims"} in create_params(rpm)["Tags"]
    )


def test_a_quota_override_wins_over_matching_by_name() -> None:
    # the on-demand RPM quota of the same model (bedrock-quotas.json), named instead of the cross-Region one
    on_demand = ("On-demand model inference requests per minute for Anthropic Claude 3.7 Sonnet V1", 1000)
    quotas = QuotaSnapshot({**QUOTAS.quotas, "L-0651A8FB": on_demand})
    assert by_kind(entry(quota_codes={"rpm": "L-0651A8FB"}), quotas)["rpm-pressure"].threshold == 800


def test_an_unknown_quota_leaves_the_threshold_unknown_and_says_which_field_to_set() -> None:
    alarms, problems = desired_alarms(entry(model_id="amazon.nova-lite-v1:0"), STACK, QUOTAS, [])
    pressure = [a for a in alarms if a.is_pressure]
    assert [(a.kind, a.threshold) for a in pressure] == [("tpm-pressure", None)]
    assert any("set quota_codes.tpm" in p for p in problems)
    unlooked = by_kind(entry(), quotas=None)
    assert unlooked["rpm-pressure"].threshold is None and unlooked["latency"].threshold == 10_000


def test_anomaly_alarms_watch_the_upper_band_only() -> None:
    alarms = by_kind(entry(alarms=EVERY_BAND | {"latency-anomaly": {"enabled": True, "band_width": 3}}))
    for kind, metric in [
        ("invocations-anomaly", "Invocations"),
        ("input-tokens-anomaly", "InputTokenCount"),
        ("output-tokens-anomaly", "OutputTokenCount"),
        ("latency-anomaly", "InvocationLatency"),
    ]:
        params = alarms[kind].params
        assert params["ComparisonOperator"] == "GreaterThanUpperThreshold"
        assert params["ThresholdMetricId"] == "band" and "Threshold" not in create_params(alarms[kind])
        m1, band = params["Metrics"]
        assert m1["MetricStat"]["Metric"]["MetricName"] == metric
        assert band["Expression"] == f"ANOMALY_DETECTION_BAND(m1, {3 if kind == 'latency-anomaly' else 2})"


def test_overrides_change_only_what_they_name_and_can_switch_an_alarm_off() -> None:
    alarms = by_kind(
        entry(
            alarms={
                "latency": {"threshold": 20000, "statistic": "p99", "evaluation_periods": 15},
                "input-tokens-anomaly": {"enabled": False},
                "latency-anomaly": {"enabled": True},
            }
        )
    )
    latency = alarms["latency"].params
    assert (alarms["latency"].threshold, latency["ExtendedStatistic"], latency["EvaluationPeriods"]) == (
        20000,
        "p99",
        15,
    )
    assert latency["DatapointsToAlarm"] == DEFAULTS["latency"].datapoints_to_alarm
    assert "input-tokens-anomaly" not in alarms and "latency-anomaly" in alarms and len(alarms) == 9


def test_application_profiles_sum_their_siblings_with_metric_math() -> None:
    profile = entry(model_id=PROFILE, display_name="claims app", source_model_id=CLAUDE)
    sibling = entry(model_id=PROFILE[:-12] + "ffffffffffff", display_name="other app", source_model_id=CLAUDE)
    members = pool_members(profile, [profile, sibling, entry()])
    assert members == sorted([CLAUDE, PROFILE, sibling.model_id])
    alarms = by_kind(profile, members=members)
    rpm = alarms["rpm-pressure"]
    *series, total = rpm.params["Metrics"]
    assert total == {
        "Id": "total",
        "Expression": "SUM([m0,m1,m2])",
        "Label": "Invocations summed over 3 inference profiles sharing the quota",
        "ReturnData": True,
    }
    # CloudWatch names an application profile's series by the profile id, never its ARN
    ids = [m.rsplit("/", 1)[-1] for m in members]
    assert [s["MetricStat"]["Metric"]["Dimensions"][0]["Value"] for s in series] == ids
    assert rpm.threshold == 400, "the source model's quota applies"
    assert rpm.tags["opspilot:quota-model-id"] == CLAUDE
    assert alarm_name("opspilot-", PROFILE, "rpm-pressure") == "opspilot-aip-a1b2c3d4e5f6-rpm-pressure"
    assert alarms["latency"].params["Dimensions"] == [{"Name": "ModelId", "Value": "a1b2c3d4e5f6"}], (
        "own series only"
    )


def test_model_slugs_are_readable_and_distinct() -> None:
    assert model_slug("amazon.nova-pro-v1:0") == "amazon-nova-pro-v1-0"
    assert model_slug(PROFILE) == "aip-a1b2c3d4e5f6"


DESCRIBED = {
    "AlarmName": "opspilot-x-rpm-pressure",
    "AlarmArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:opspilot-x-rpm-pressure",
    "AlarmDescription": "d",
    "ActionsEnabled": True,
    "OKActions": [],
    "AlarmActions": ["arn:aws:sns:us-east-1:123456789012:added-by-hand"],
    "InsufficientDataActions": [],
    "StateValue": "OK",
    "StateReason": "x",
    "MetricName": "Invocations",
    "Namespace": "AWS/Bedrock",
    "Statistic": "Sum",
    "Dimensions": [{"Name": "ModelId", "Value": "x"}],
    "Period": 60,
    "EvaluationPeriods": 5,
    "DatapointsToAlarm": 3,
    "Threshold": 400.0,
    "ComparisonOperator": "GreaterThanOrEqualToThreshold",
    "TreatMissingData": "notBreaching",
    "Metrics": [],
}


def test_a_threshold_update_writes_back_the_described_alarm_with_only_the_threshold_changed() -> None:
    params = with_threshold(DESCRIBED, 640)
    assert params == {
        k: v
        for k, v in DESCRIBED.items()
        if k
        not in {"AlarmArn", "StateValue", "StateReason", "Metrics", "OKActions", "InsufficientDataActions"}
    } | {"Threshold": 640.0}


def test_a_metric_math_alarm_is_written_back_without_single_metric_fields() -> None:
    described = {
        k: v for k, v in DESCRIBED.items() if k not in {"MetricName", "Namespace", "Statistic", "Period"}
    }
    described |= {
        "Dimensions": [],
        "Metrics": [{"Id": "total", "Expression": "SUM([m0])", "ReturnData": True}],
    }
    params = with_threshold(described, 700)
    assert (
        "Dimensions" not in params
        and params["Metrics"] == described["Metrics"]
        and params["Threshold"] == 700
    )


def test_differences_name_the_fields_that_drifted() -> None:
    alarm = by_kind(entry())["rpm-pressure"]
    described = create_params(alarm) | {"AlarmArn": "arn", "Metrics": [], "OKActions": [], "AlarmActions": []}
    assert managed_differences(alarm, described) == []
    assert managed_differences(alarm, described | {"EvaluationPeriods": 1, "Threshold": 1}) == [
        "EvaluationPeriods"
    ]
    assert managed_differences(alarm, described | {"Dimensions": [{"Name": "ModelId", "Value": "y"}]}) == [
        "Metric"
    ]
