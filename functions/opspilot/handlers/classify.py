"""Classify: parse the alarm event, classify the model's whole set of alarms, open (or join) the incident."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from opspilot.adapters import alarm_state
from opspilot.domain import messages
from opspilot.domain.classify import (
    MODEL_DIMENSION,
    alarm_signal,
    build_incident,
    event_signal,
    incident_model,
    triggering_alarms,
)
from opspilot.domain.errors import UnclassifiableSignal
from opspilot.domain.events import AlarmStateChangeEvent, parse_alarm_event
from opspilot.domain.model import Category, Signal
from opspilot.handlers._runtime import bind_execution, logger, now, state_part, store
from opspilot.settings import core_settings


def triggering_signals(alarm: AlarmStateChangeEvent) -> list[Signal]:
    """The event's own alarm; for a composite alarm, the alarms it reports as triggering it."""
    own = event_signal(alarm)
    if own is not None:
        return [own]
    detail = alarm.detail
    names = triggering_alarms(detail.alarm_name, detail.state.reason_data)
    found = alarm_state.describe(names, alarm.region)
    if not found:
        raise UnclassifiableSignal(
            f"composite alarm '{detail.alarm_name}': its alarms {names} were not found"
        )
    return [alarm_signal(d.name, "ALARM", d.metrics, d.reason, d.reason_data) for d in found]


def other_alarms_of(model_id: str, seen: set[str], region: str) -> list[Signal]:
    """The model's other alarms now in ALARM: the incident is classified from all of them."""
    signals = []
    for definition in alarm_state.in_alarm(core_settings().alarm_name_prefix, region):
        if definition.name in seen:
            continue
        try:
            signal = alarm_signal(
                definition.name, "ALARM", definition.metrics, definition.reason, definition.reason_data
            )
        except UnclassifiableSignal as exc:
            logger.info("skipping an alarm OpsPilot cannot classify", extra={"reason": str(exc)})
            continue
        if signal.metric.dimensions.get(MODEL_DIMENSION) == model_id:
            signals.append(signal)
    return signals


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    bind_execution(event)
    alarm = parse_alarm_event(state_part(event, "state"))
    signals = triggering_signals(alarm)
    model_id = incident_model(alarm, signals[0])
    if signals[0].category is not Category.RECOVERY:
        signals += other_alarms_of(model_id, {s.alarm_name for s in signals}, alarm.region)
    incident = build_incident(alarm, model_id, signals, core_settings().environment)
    logger.info(
        "classified", extra={"category": incident.category, "model_id": model_id, "signals": len(signals)}
    )
    if incident.category is Category.RECOVERY:
        return incident.to_json()
    at = now()
    incident_id, created = store().open_incident(
        incident.to_json(), alarm.detail.alarm_name, event["execution_id"], at
    )
    if created:
        if not alarm.is_composite:  # a composite's children may not send events of their own
            store().claim_more_alarms(incident_id, [s.alarm_name for s in signals[1:]], at)
        store().append_audit(incident_id, "opened", {"signals": [s.to_json() for s in signals]}, at)
    # Attached when the alarm belongs to another open incident, or when EventBridge delivered this
    # event twice and another execution opened the incident first (at-least-once delivery).
    attached = incident_id != incident.incident_id
    if not created and not attached:
        owner = (store().get_incident(incident_id) or {}).get("execution_id")
        attached = owner not in (None, event["execution_id"])
    if attached:
        store().append_audit(
            incident_id, "attached", {"event_id": alarm.id, "alarm": alarm.detail.alarm_name}, at
        )
    result = incident.replace(incident_id=incident_id, attached=attached)
    if not attached:
        result = result.replace(opened_notice=messages.opened(result.to_json()))
    return result.to_json()
