"""Classify: category, severity and quota scope from the alarm's own configuration; the model id."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from opspilot.domain.classify import (
    classify_metric,
    environment_of,
    incident_id_for,
    inputs_from_event,
    metric_of,
    model_id_of,
)
from opspilot.domain.errors import InvalidAlarmEvent, UnclassifiableSignal
from opspilot.domain.events import AlarmStateChangeEvent, parse_alarm_event
from opspilot.domain.model import Category, Environment, MetricRef, QuotaScope, Severity, Signal

LoadEvent = Callable[[str], dict[str, Any]]

CLAUDE_37 = "us.anthropic.claude-3-7-sonnet-20250219-v1:0"
BAND = {"id": "ad1", "expression": "ANOMALY_DETECTION_BAND(m1, 2)", "label": "expected", "returnData": True}


def watched_metric(event: AlarmStateChangeEvent) -> MetricRef:
    return metric_of(event.detail.alarm_name, inputs_from_event(event.detail.configuration.metrics))


def classify(raw: dict[str, Any]) -> Signal:
    """What the Classify handler does with a single-alarm event, minus AWS and the store."""
    event = parse_alarm_event(raw)
    detail = event.detail
    return classify_metric(detail.alarm_name, detail.state.value, watched_metric(event), detail.state.reason)


def with_metric(
    raw: dict[str, Any], name: str, namespace: str = "AWS/Bedrock", band: bool = False
) -> dict[str, Any]:
    """The throttles fixture re-pointed at another metric (optionally with an anomaly band)."""
    m1 = raw["detail"]["configuration"]["metrics"][0]
    m1["metricStat"]["metric"]["name"] = name
    m1["metricStat"]["metric"]["namespace"] = namespace
    raw["detail"]["configuration"]["metrics"] = [m1, BAND] if band else [m1]
    return raw


@pytest.mark.parametrize(
    ("fixture", "category", "severity", "scope"),
    [
        ("alarm-throttles.json", Category.QUOTA_PRESSURE, Severity.CRITICAL, QuotaScope.BOTH),
        ("alarm-rpm.json", Category.QUOTA_PRESSURE, Severity.WARNING, QuotaScope.RPM),
        ("alarm-server-errors.json", Category.FAILURE, Severity.CRITICAL, QuotaScope.NONE),
        ("alarm-input-tokens-anomaly.json", Category.ANOMALY, Severity.WARNING, QuotaScope.TPM),
        ("alarm-ok.json", Category.RECOVERY, Severity.WARNING, QuotaScope.NONE),
        ("alarm-with-tags.json", Category.QUOTA_PRESSURE, Severity.CRITICAL, QuotaScope.BOTH),
    ],
)
def test_fixtures_classify(
    load_event: LoadEvent, fixture: str, category: Category, severity: Severity, scope: QuotaScope
) -> None:
    raw = load_event(fixture)

    signal = classify(raw)

    assert (signal.category, signal.severity, signal.quota_scope) == (category, severity, scope)
    assert signal.alarm_name == raw["detail"]["alarmName"]
    assert signal.reason == raw["detail"]["state"]["reason"]


@pytest.mark.parametrize(
    ("metric", "category", "severity", "scope"),
    [
        ("InvocationThrottles", Category.QUOTA_PRESSURE, Severity.CRITICAL, QuotaScope.BOTH),
        ("Invocations", Category.QUOTA_PRESSURE, Severity.WARNING, QuotaScope.RPM),
        ("EstimatedTPMQuotaUsage", Category.QUOTA_PRESSURE, Severity.WARNING, QuotaScope.TPM),
        ("InvocationServerErrors", Category.FAILURE, Severity.CRITICAL, QuotaScope.NONE),
        ("InvocationClientErrors", Category.FAILURE, Severity.WARNING, QuotaScope.BOTH),
        ("InvocationLatency", Category.FAILURE, Severity.WARNING, QuotaScope.NONE),
    ],
)
def test_static_threshold_alarm_per_metric(
    load_event: LoadEvent, metric: str, category: Category, severity: Severity, scope: QuotaScope
) -> None:
    signal = classify(with_metric(load_event("alarm-throttles.json"), metric))

    assert (signal.category, signal.severity, signal.quota_scope) == (category, severity, scope)
    assert signal.state == "ALARM"
    assert signal.metric.name == metric
    assert signal.metric.anomaly_band is False


@pytest.mark.parametrize(
    ("metric", "scope"),
    [
        ("Invocations", QuotaScope.RPM),
        ("InputTokenCount", QuotaScope.TPM),
        ("OutputTokenCount", QuotaScope.TPM),
        ("InvocationLatency", QuotaScope.NONE),
    ],
)
def test_anomaly_band_alarm_per_metric(load_event: LoadEvent, metric: str, scope: QuotaScope) -> None:
    signal = classify(with_metric(load_event("alarm-throttles.json"), metric, band=True))

    assert (signal.category, signal.severity, signal.quota_scope) == (
        Category.ANOMALY,
        Severity.WARNING,
        scope,
    )
    assert signal.metric.anomaly_band is True


def test_watched_metric_reads_the_alarm_configuration(load_event: LoadEvent) -> None:
    metric = watched_metric(parse_alarm_event(load_event("alarm-input-tokens-anomaly.json")))

    assert metric.to_json() == {
        "namespace": "AWS/Bedrock",
        "name": "InputTokenCount",
        "dimensions": {"ModelId": "anthropic.claude-3-5-sonnet-20240620-v1:0"},
        "stat": "Sum",
        "period": 60,
        "anomaly_band": True,
        "expression": None,
        "inputs": 1,
    }


@pytest.mark.parametrize("band", [False, True], ids=["threshold", "anomaly-band"])
def test_ok_is_a_recovery_whatever_the_alarm_kind(load_event: LoadEvent, band: bool) -> None:
    raw = with_metric(
        load_event("alarm-ok.json"), "InputTokenCount" if band else "InvocationThrottles", band=band
    )

    signal = classify(raw)

    assert (signal.state, signal.category, signal.quota_scope) == ("OK", Category.RECOVERY, QuotaScope.NONE)


def _metric_math(raw: dict[str, Any]) -> dict[str, Any]:
    m1 = raw["detail"]["configuration"]["metrics"][0]
    m1["returnData"] = False
    m2 = {**m1, "id": "m2"}
    m2["metricStat"] = {**m1["metricStat"], "metric": {**m1["metricStat"]["metric"], "name": "Invocations"}}
    ratio = {"id": "e1", "expression": "100 * m1 / m2", "label": "throttle rate", "returnData": True}
    raw["detail"]["configuration"]["metrics"] = [m1, m2, ratio]
    return raw


def _sum_of_different_metrics(raw: dict[str, Any]) -> dict[str, Any]:
    raw = _metric_math(raw)
    raw["detail"]["configuration"]["metrics"][2]["expression"] = "SUM(METRICS())"
    return raw


def _single_expression(raw: dict[str, Any]) -> dict[str, Any]:
    m1 = raw["detail"]["configuration"]["metrics"][0]
    raw["detail"]["configuration"]["metrics"] = [
        m1,
        {"id": "e1", "expression": "RATE(m1)", "returnData": True},
    ]
    return raw


def test_metric_math_over_one_metric_is_that_metric(load_event: LoadEvent) -> None:
    """E.g. the sum of Invocations over sibling application inference profiles."""
    raw = _single_expression(load_event("alarm-throttles.json"))
    m1 = raw["detail"]["configuration"]["metrics"][0]
    m1["returnData"] = False
    m2 = {**m1, "id": "m2"}
    raw["detail"]["configuration"]["metrics"] = [
        m1,
        m2,
        {"id": "e1", "expression": "m1 + m2", "returnData": True},
    ]

    signal = classify(raw)

    assert (signal.metric.name, signal.metric.expression, signal.metric.inputs) == (
        "InvocationThrottles",
        "m1 + m2",
        2,
    )
    assert signal.category is Category.QUOTA_PRESSURE


def _no_metric(raw: dict[str, Any]) -> dict[str, Any]:
    raw["detail"]["configuration"] = {"description": "composite-like, no metrics"}
    return raw


def _insufficient_data(raw: dict[str, Any]) -> dict[str, Any]:
    raw["detail"]["state"]["value"] = "INSUFFICIENT_DATA"
    return raw


@pytest.mark.parametrize(
    ("mutate", "why"),
    [
        (lambda raw: with_metric(raw, "CPUUtilization", namespace="AWS/EC2"), "namespace 'AWS/EC2'"),
        (lambda raw: with_metric(raw, "OutputImageCount"), "no rule for metric 'OutputImageCount'"),
        (
            lambda raw: with_metric(raw, "InvocationThrottles", band=True),
            "no anomaly rule for metric 'InvocationThrottles'",
        ),
        (_metric_math, "metric math '100 * m1 / m2' is not a sum of its series"),
        (_sum_of_different_metrics, "metric math over different metrics"),
        (_no_metric, "names no metric"),
        (_insufficient_data, "INSUFFICIENT_DATA is not actionable"),
    ],
    ids=[
        "wrong-namespace",
        "unknown-metric",
        "anomaly-on-unknown-metric",
        "metric-math-not-a-sum",
        "metric-math-over-different-metrics",
        "no-metric",
        "insufficient-data",
    ],
)
def test_unclassifiable_names_the_alarm_and_why(
    load_event: LoadEvent, mutate: Callable[[dict[str, Any]], dict[str, Any]], why: str
) -> None:
    raw = mutate(load_event("alarm-throttles.json"))

    with pytest.raises(UnclassifiableSignal) as caught:
        classify(raw)

    assert "alarm 'opspilot-claude-3-7-sonnet-invocation-throttles'" in str(caught.value)
    assert why in str(caught.value)


def test_model_id_from_the_model_dimension(load_event: LoadEvent) -> None:
    event = parse_alarm_event(load_event("alarm-throttles.json"))

    assert model_id_of(event.detail.alarm_name, watched_metric(event), event.detail.alarm_tags) == CLAUDE_37


def test_model_id_from_the_alarm_tag_when_there_is_no_dimension(load_event: LoadEvent) -> None:
    event = parse_alarm_event(load_event("alarm-with-tags.json"))

    assert (
        model_id_of(event.detail.alarm_name, watched_metric(event), event.detail.alarm_tags)
        == "us.anthropic.claude-3-5-haiku-20241022-v1:0"
    )


def test_model_dimension_wins_over_the_tag(load_event: LoadEvent) -> None:
    raw = load_event("alarm-throttles.json")
    raw["detail"]["alarmTags"] = {"opspilot:model-id": "amazon.nova-pro-v1:0"}
    event = parse_alarm_event(raw)

    assert model_id_of(event.detail.alarm_name, watched_metric(event), event.detail.alarm_tags) == CLAUDE_37


def test_no_model_dimension_and_no_tag_is_unclassifiable(load_event: LoadEvent) -> None:
    raw = load_event("alarm-with-tags.json")
    del raw["detail"]["alarmTags"]["opspilot:model-id"]
    event = parse_alarm_event(raw)

    with pytest.raises(UnclassifiableSignal) as caught:
        model_id_of(event.detail.alarm_name, watched_metric(event), event.detail.alarm_tags)

    message = str(caught.value)
    assert "alarm 'opspilot-haiku-throttles-all-models'" in message
    assert "'ModelId'" in message
    assert "'opspilot:model-id'" in message


def test_incident_id_is_deterministic_per_event() -> None:
    event_id = "6f0c1c5e-3b9a-4e0f-9d3b-2a1f4c8e7b11"

    first, again = incident_id_for(event_id), incident_id_for(event_id)

    assert first == again
    assert re.fullmatch(r"inc-[0-9a-f]{16}", first)
    # Pinned: changing the scheme would open a second incident for an event retried across a deploy.
    assert first == "inc-f42ba6c626fbc5cd"


def test_incident_id_differs_per_event() -> None:
    ids = {incident_id_for(f"6f0c1c5e-3b9a-4e0f-9d3b-2a1f4c8e7b{n:02d}") for n in range(50)}

    assert len(ids) == 50


def test_the_environment_tag_wins_and_a_bad_one_is_named() -> None:
    tags = {"opspilot:environment": "pilot"}
    assert environment_of("a", tags, Environment.PRODUCTION) is Environment.PILOT
    assert environment_of("a", {}, Environment.PRODUCTION) is Environment.PRODUCTION
    with pytest.raises(InvalidAlarmEvent, match=r"alarm 'a': tag 'opspilot:environment' is 'prod', expected"):
        environment_of("a", {"opspilot:environment": "prod"}, Environment.PRODUCTION)
