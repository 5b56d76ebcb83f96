"""Issue 3's reasoning pieces: signal sets, per-minute figures, profiles, recommendations."""

from __future__ import annotations

import pytest

from opspilot.domain.classify import (
    MetricInput,
    classify_metric,
    combine,
    metric_of,
    needs_investigation,
    per_minute,
    triggering_alarms,
)
from opspilot.domain.errors import UnclassifiableSignal
from opspilot.domain.model import QuotaScope, Signal
from opspilot.domain.quotas import is_application_profile, underlying_model

MODEL = (("ModelId", "amazon.nova-pro-v1:0"),)


def signal(metric: str, band: bool = False) -> Signal:
    inputs = [MetricInput("m1", "AWS/Bedrock", metric, MODEL, "Sum", 60)]
    if band:
        inputs.append(MetricInput("ad1", expression="ANOMALY_DETECTION_BAND(m1, 2)"))
    return classify_metric(metric, "ALARM", metric_of(metric, inputs))


@pytest.mark.parametrize(
    ("metrics", "scope", "investigate"),
    [
        (["Invocations"], QuotaScope.RPM, False),
        (["EstimatedTPMQuotaUsage"], QuotaScope.TPM, False),
        (["Invocations", "EstimatedTPMQuotaUsage"], QuotaScope.BOTH, False),
        (["InvocationServerErrors"], QuotaScope.NONE, True),
        (["InvocationServerErrors", "EstimatedTPMQuotaUsage"], QuotaScope.TPM, True),
        (["InvocationLatency", "Invocations"], QuotaScope.RPM, True),
        (["InvocationClientErrors"], QuotaScope.BOTH, False),
    ],
)
def test_a_set_of_signals_keeps_every_scope_and_the_investigation(
    metrics: list[str], scope: QuotaScope, investigate: bool
) -> None:
    signals = [signal(m) for m in metrics]
    assert combine(signals)[2] is scope
    assert needs_investigation(signals) is investigate


def test_the_primary_category_prefers_quota_pressure_but_lists_all() -> None:
    category, severity, _, categories = combine(
        [signal("InvocationServerErrors"), signal("Invocations", band=True)]
    )
    assert (category.value, severity.value) == ("failure", "critical")
    assert [c.value for c in categories] == ["failure", "anomaly"]


@pytest.mark.parametrize(
    ("stat", "period", "data", "expected"),
    [
        ("Sum", 300, '{"period": 300, "recentDatapoints": [1000, 1500], "threshold": 1200}', (300.0, 240.0)),
        ("Sum", 60, '{"period": 60, "recentDatapoints": [900], "threshold": 800}', (900.0, 800.0)),
        ("Average", 300, '{"period": 300, "recentDatapoints": [2.5], "threshold": 2}', (2.5, 2.0)),
        ("Sum", 60, "not json", (None, None)),
        ("Sum", 60, None, (None, None)),
    ],
)
def test_alarm_figures_are_normalised_to_per_minute(
    stat: str, period: int, data: str | None, expected: tuple[float | None, float | None]
) -> None:
    metric = metric_of("a", [MetricInput("m1", "AWS/Bedrock", "Invocations", MODEL, stat, period)])
    assert per_minute("a", metric, data) == expected


def test_a_composite_alarm_names_its_triggering_alarms() -> None:
    data = (
        '{"triggeringAlarms": [{"arn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:opspilot-a",'
        ' "state": {"value": "ALARM"}}, {"arn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:b",'
        ' "state": {"value": "OK"}}]}'
    )
    assert triggering_alarms("composite", data) == ["opspilot-a"]
    with pytest.raises(UnclassifiableSignal, match="names no triggering alarm"):
        triggering_alarms("composite", '{"triggeringAlarms": []}')


FM = "arn:aws:bedrock:{}::foundation-model/anthropic.claude-3-5-sonnet-20240620-v1:0"


@pytest.mark.parametrize(
    ("arns", "model"),
    [
        ([FM.format("us-east-1")], "anthropic.claude-3-5-sonnet-20240620-v1:0"),
        ([FM.format("us-east-1"), FM.format("us-west-2")], "us.anthropic.claude-3-5-sonnet-20240620-v1:0"),
        ([FM.format("eu-west-1"), FM.format("eu-central-1")], "eu.anthropic.claude-3-5-sonnet-20240620-v1:0"),
        (
            [FM.format("us-east-1"), FM.format("eu-west-1")],
            "global.anthropic.claude-3-5-sonnet-20240620-v1:0",
        ),
        (
            ["arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.amazon.nova-pro-v1:0"],
            "us.amazon.nova-pro-v1:0",
        ),
    ],
)
def test_an_application_profile_resolves_to_the_model_whose_quota_it_uses(
    arns: list[str], model: str
) -> None:
    assert underlying_model(arns) == model


def test_application_profile_arns_are_recognised() -> None:
    assert is_application_profile("arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc1")
    assert not is_application_profile("us.anthropic.claude-3-7-sonnet-20250219-v1:0")


def test_a_quota_that_is_not_adjustable_becomes_a_quota_request_case() -> None:
    from opspilot.domain.decide import DecisionSettings, plan_actions
    from opspilot.domain.model import (
        Environment,
        Incident,
        QuotaContext,
        QuotaInfo,
        SupportContext,
        UsageSummary,
    )
    from opspilot.domain.policy import load_policy

    s = signal("Invocations")
    category, severity, scope, categories = combine([s])
    incident = Incident(
        incident_id="inc-1", model_id="amazon.nova-pro-v1:0", region="us-east-1", account="123456789012",
        environment=Environment.PILOT, category=category, severity=severity, quota_scope=scope,
        alarm_name="a", signals=[s], categories=categories, opened_at="2026-11-30T10:00:00Z",
    )  # fmt: skip
    usage = UsageSummary(
        model_id="amazon.nova-pro-v1:0", days=14, datapoints=100, steady_rpm=300, peak_rpm=900, steady_tpm=1,
        peak_tpm=1, tpm_source=None, avg_input_tokens=None, avg_output_tokens=None, throttles=None,
        server_errors=None, client_errors=None,
    )  # fmt: skip
    fixed = QuotaInfo(
        kind="rpm", quota_code="L-F2717A44", quota_name="Nova Pro RPM", value=1000, adjustable=False
    )
    plan = plan_actions(
        incident, usage, QuotaContext(quotas=[fixed]), SupportContext(plan="business_or_enterprise"),
        load_policy(), DecisionSettings(80, 50, 3600),
    )  # fmt: skip
    (action,) = plan.actions
    assert action.type.value == "open_support_case"
    assert action.action_id == "open_support_case:quota_request:L-F2717A44"
    assert action.params["subject"] == "[OpsPilot] quota request: amazon.nova-pro-v1:0 in us-east-1"
    assert "1,000 -> 1,350" in action.reason  # the peak of 900 needs 900 / 0.8 x 1.2
    assert "Nova Pro RPM (L-F2717A44): 1,000, would request 1,350" in action.params["communicationBody"]
    assert plan.approval_required
