"""What Classify builds from one event, before the store decides whether it opens or joins."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opspilot.domain.classify import build_incident, event_signal, incident_model
from opspilot.domain.events import parse_alarm_event
from opspilot.domain.model import Category, Environment, QuotaScope, Severity

LoadEvent = Callable[[str], dict[str, Any]]


def test_an_event_becomes_the_incident_it_opens(load_event: LoadEvent) -> None:
    alarm = parse_alarm_event(load_event("alarm-with-tags.json"))
    signal = event_signal(alarm)
    assert signal is not None and signal.observed_per_minute == 19.0  # a 1-minute Sum, from reasonData
    model = incident_model(alarm, signal)
    incident = build_incident(alarm, model, [signal], Environment.PILOT)
    assert (incident.model_id, incident.environment) == (
        "us.anthropic.claude-3-5-haiku-20241022-v1:0",  # the tag: the alarm has no ModelId dimension
        Environment.PRODUCTION,  # the alarm's tag wins over the stack's environment
    )
    assert (incident.category, incident.severity, incident.quota_scope) == (
        Category.QUOTA_PRESSURE,
        Severity.CRITICAL,
        QuotaScope.BOTH,
    )
    assert incident.opened_at == "2026-11-30T16:30:12.122Z"  # the state change's time, in UTC
    assert incident.region == alarm.region and incident.alarm_name == alarm.detail.alarm_name
    assert incident.incident_id == build_incident(alarm, model, [signal], Environment.PILOT).incident_id


def test_a_composite_alarm_in_alarm_carries_no_signal_of_its_own(load_event: LoadEvent) -> None:
    raw = load_event("alarm-throttles.json")
    raw["detail"]["configuration"] = {"alarmRule": 'ALARM("a") OR ALARM("b")'}
    assert event_signal(parse_alarm_event(raw)) is None
    raw["detail"]["state"]["value"] = "OK"
    recovery = event_signal(parse_alarm_event(raw))
    assert recovery is not None and recovery.category is Category.RECOVERY
    assert incident_model(parse_alarm_event(raw), recovery) == "composite"
