"""Recommendations: each fires on its evidence and stays silent without it."""

from __future__ import annotations

from typing import Any

import pytest

from opspilot.domain.classify import MetricInput, classify_metric, combine, metric_of
from opspilot.domain.model import Environment, Incident, QuotaContext, Scenario, UsageSummary
from opspilot.domain.recommend import recommend


def incident(
    model: str = "amazon.nova-pro-v1:0", metric: str = "Invocations", env: str = "production"
) -> Incident:
    s = classify_metric(
        "a",
        "ALARM",
        metric_of("a", [MetricInput("m1", "AWS/Bedrock", metric, (("ModelId", model),), "Sum", 60)]),
    )
    category, severity, scope, categories = combine([s])
    return Incident(
        incident_id="i", model_id=model, region="us-east-1", account="123456789012",
        environment=Environment(env), category=category, severity=severity, quota_scope=scope,
        alarm_name="a", signals=[s], categories=categories, opened_at="2026-11-30T10:00:00Z",
    )  # fmt: skip


def usage(**more: Any) -> UsageSummary:
    base: dict[str, Any] = dict(
        model_id="m", days=14, datapoints=100, steady_rpm=10, peak_rpm=20, steady_tpm=1000, peak_tpm=2000,
        tpm_source="InputTokenCount+OutputTokenCount", avg_input_tokens=800, avg_output_tokens=200,
        throttles=0, server_errors=0, client_errors=0,
    )  # fmt: skip
    return UsageSummary(**(base | more))


def codes(inc: Incident, use: UsageSummary, scenario: Scenario = Scenario.LOW_USAGE) -> list[str]:
    return [r.code for r in recommend(inc, use, QuotaContext(), scenario)]


def test_nothing_to_recommend_on_quiet_low_usage() -> None:
    assert codes(incident(), usage()) == []


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("amazon.nova-pro-v1:0", ["use_cross_region_profile"]),
        ("us.amazon.nova-pro-v1:0", ["consider_global_profile"]),
        ("global.anthropic.claude-sonnet-4-20250514-v1:0", []),
    ],
)
def test_profile_advice_under_pressure(model: str, expected: list[str]) -> None:
    assert codes(incident(model), usage(), Scenario.HIGH_USAGE) == expected


def test_prompt_caching_needs_long_prompts_and_short_answers() -> None:
    assert codes(incident(), usage(avg_input_tokens=5000, avg_output_tokens=300)) == ["prompt_caching"]
    assert codes(incident(), usage(avg_input_tokens=5000, avg_output_tokens=2000)) == []
    assert codes(incident(), usage(avg_input_tokens=1999, avg_output_tokens=10)) == []


def test_max_tokens_when_the_estimate_far_exceeds_what_is_processed() -> None:
    estimated = {"tpm_source": "EstimatedTPMQuotaUsage", "peak_tpm": 900_000}
    assert codes(incident(), usage(**estimated, peak_generated_tpm=300_000)) == ["tune_max_tokens"]
    assert codes(incident(), usage(**estimated, peak_generated_tpm=600_000)) == []


def test_a_request_loop_is_suspected_when_requests_jump_and_tokens_collapse() -> None:
    loop = usage(daily_invocations=[1000.0] * 13 + [3500.0], daily_tokens_per_request=[1000.0] * 13 + [120.0])
    assert codes(incident(), loop) == ["suspect_request_loop"]
    growth = usage(daily_invocations=[1000.0] * 13 + [3500.0], daily_tokens_per_request=[1000.0] * 14)
    assert codes(incident(), growth) == [], "business growth: more requests of the usual size"


def test_experimentation_under_quota_pressure_should_move_out() -> None:
    assert codes(incident(env="experimentation"), usage()) == ["separate_experimentation_traffic"]
