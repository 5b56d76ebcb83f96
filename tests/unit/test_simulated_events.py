"""The simulator's events carry an alarm's tags only when the alarm propagates them, as CloudWatch's do."""

from __future__ import annotations

from datetime import UTC, datetime

from opspilot.domain.events import parse_alarm_event
from opspilot_sim.world import alarm_definition, alarm_event

ALARM = {
    "name": "opspilot-nova-throttles",
    "metric": "InvocationThrottles",
    "model_id": "amazon.nova-pro-v1:0",
    "tags": {"opspilot:environment": "production"},
}
AT = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


def _event(alarm: dict[str, object]) -> dict[str, object]:
    return alarm_event(alarm, "ALARM", "OK", "test", "e-1", "us-east-1", "123456789012", AT)


def test_without_tag_propagation_the_event_carries_no_tags() -> None:
    event = _event(ALARM)

    assert "alarmTags" not in event["detail"]  # type: ignore[operator]
    assert parse_alarm_event(event).detail.alarm_tags is None
    assert "ActionConfiguration" not in alarm_definition(ALARM)


def test_with_tag_propagation_the_event_carries_the_tags_and_their_status() -> None:
    alarm = {**ALARM, "tag_propagation": True}

    event = parse_alarm_event(_event(alarm))

    assert (event.detail.alarm_tags, event.detail.alarm_tags_status) == (
        {"opspilot:environment": "production"},
        "SUCCESS",
    )
    assert alarm_definition(alarm)["ActionConfiguration"] == {"AlarmTagsPropagation": {"Enabled": True}}
