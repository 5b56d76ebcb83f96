"""parse_alarm_event: every real-shape fixture parses; a malformed event names the offending field."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from opspilot.domain.errors import InvalidAlarmEvent
from opspilot.domain.events import parse_alarm_event

LoadEvent = Callable[[str], dict[str, Any]]


@pytest.mark.parametrize(
    ("fixture", "alarm_name", "state", "metric_names"),
    [
        (
            "alarm-throttles.json",
            "opspilot-claude-3-7-sonnet-invocation-throttles",
            "ALARM",
            ["InvocationThrottles"],
        ),
        ("alarm-rpm.json", "opspilot-nova-pro-invocations-rpm", "ALARM", ["Invocations"]),
        (
            "alarm-server-errors.json",
            "opspilot-claude-3-5-sonnet-server-errors",
            "ALARM",
            ["InvocationServerErrors"],
        ),
        (
            "alarm-input-tokens-anomaly.json",
            "opspilot-claude-3-5-sonnet-input-tokens-anomaly",
            "ALARM",
            ["InputTokenCount", None],
        ),
        ("alarm-ok.json", "opspilot-claude-3-7-sonnet-invocation-throttles", "OK", ["InvocationThrottles"]),
        ("alarm-with-tags.json", "opspilot-haiku-throttles-all-models", "ALARM", ["InvocationThrottles"]),
    ],
)
def test_every_alarm_fixture_parses(
    load_event: LoadEvent, fixture: str, alarm_name: str, state: str, metric_names: list[str | None]
) -> None:
    event = parse_alarm_event(load_event(fixture))

    assert event.account == "123456789012"
    assert event.region == "us-east-1"
    assert event.detail.alarm_name == alarm_name
    assert event.detail.state.value == state
    assert event.detail.state.timestamp
    names = [m.metric_stat.metric.name if m.metric_stat else None for m in event.detail.configuration.metrics]
    assert names == metric_names


def test_alarm_tags_are_read_when_tag_propagation_is_on(load_event: LoadEvent) -> None:
    event = parse_alarm_event(load_event("alarm-with-tags.json"))

    assert event.detail.alarm_tags["opspilot:model-id"] == "us.anthropic.claude-3-5-haiku-20241022-v1:0"
    assert event.detail.alarm_tags["opspilot:environment"] == "production"


def test_anomaly_band_expression_is_kept(load_event: LoadEvent) -> None:
    metrics = parse_alarm_event(load_event("alarm-input-tokens-anomaly.json")).detail.configuration.metrics

    assert [(m.id, m.expression) for m in metrics] == [("m1", None), ("ad1", "ANOMALY_DETECTION_BAND(m1, 2)")]


def test_fields_aws_may_add_later_are_ignored(load_event: LoadEvent) -> None:
    raw = load_event("alarm-throttles.json")
    raw["detail"]["alarmTagsStatus"] = "SUCCESS"
    raw["detail"]["actionsSuppressedBy"] = "None"
    raw["detail"]["state"]["actionsSuppressedReason"] = ""

    assert parse_alarm_event(raw).detail.alarm_name == "opspilot-claude-3-7-sonnet-invocation-throttles"


def test_insufficient_data_is_a_readable_state(load_event: LoadEvent) -> None:
    raw = load_event("alarm-throttles.json")
    raw["detail"]["state"]["value"] = "INSUFFICIENT_DATA"

    assert parse_alarm_event(raw).detail.state.value == "INSUFFICIENT_DATA"


def test_missing_state_timestamp_fixture_names_the_field(load_event: LoadEvent) -> None:
    with pytest.raises(InvalidAlarmEvent) as caught:
        parse_alarm_event(load_event("malformed-missing-timestamp.json"))

    assert "'detail.state.timestamp'" in str(caught.value)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    *parents, leaf = path.split("/")

    def apply(raw: dict[str, Any]) -> None:
        node: Any = raw
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        node[leaf] = value

    return apply


def _drop(path: str) -> Callable[[dict[str, Any]], None]:
    *parents, leaf = path.split("/")

    def apply(raw: dict[str, Any]) -> None:
        node: Any = raw
        for key in parents:
            node = node[key]
        del node[leaf]

    return apply


@pytest.mark.parametrize(
    ("mutate", "field", "detail"),
    [
        (_set("source", "aws.ec2"), "'source'", "got 'aws.ec2'"),
        (
            _set("detail-type", "CloudWatch Alarm Configuration Change"),
            "'detail-type'",
            "got 'CloudWatch Alarm Configuration Change'",
        ),
        (_set("detail/state/value", "PENDING"), "'detail.state.value'", "unknown alarm state 'PENDING'"),
        (_drop("detail/state/timestamp"), "'detail.state.timestamp'", "is required"),
        (_drop("detail/alarmName"), "'detail.alarmName'", "is required"),
        (_drop("detail"), "'detail'", "is required"),
        (_drop("id"), "'id'", "is required"),
        (
            _set("detail/configuration/metrics/0/metricStat/period", "one minute"),
            "'detail.configuration.metrics.0.metricStat.period'",
            "must be a whole number, got a string",
        ),
        (
            _set("detail/alarmTags", {"opspilot:model-id": None}),
            "'detail.alarmTags.opspilot:model-id'",
            "string",
        ),
    ],
    ids=[
        "other-source",
        "other-detail-type",
        "unknown-state",
        "no-timestamp",
        "no-alarm-name",
        "no-detail",
        "no-id",
        "bad-period",
        "bad-tag",
    ],
)
def test_malformed_event_names_the_field(
    load_event: LoadEvent, mutate: Callable[[dict[str, Any]], None], field: str, detail: str
) -> None:
    raw = load_event("alarm-throttles.json")
    mutate(raw)

    with pytest.raises(InvalidAlarmEvent) as caught:
        parse_alarm_event(raw)

    assert f"field {field}" in str(caught.value)
    assert detail in str(caught.value)


@pytest.mark.parametrize("raw", [None, [], "CloudWatch Alarm State Change", 42])
def test_not_an_object_is_rejected_as_the_whole_event(raw: Any) -> None:
    with pytest.raises(InvalidAlarmEvent, match=r"field '<event>'"):
        parse_alarm_event(raw)
