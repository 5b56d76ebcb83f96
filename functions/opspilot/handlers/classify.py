"""Classify: parse the alarm event, classify the model's whole set of alarms, open (or join) the incident."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from opspilot.adapters import alarm_state
from opspilot.adapters.items import iso
from opspilot.domain import messages
from opspilot.domain.classify import (
    MODEL_DIMENSION,
    MODEL_TAG,
    OWNER_TAG,
    classify_metric,
    cloudwatch_time,
    combine,
    composite_recovery,
    environment_of,
    incident_id_for,
    inputs_from_event,
    metric_of,
    model_id_of,
    per_minute,
    triggering_alarms,
)
from opspilot.domain.errors import UnclassifiableSignal
from opspilot.domain.events import AlarmStateChangeEvent, parse_alarm_event
from opspilot.domain.model import Category, Incident, Signal
from opspilot.handlers._runtime import bind_execution, logger, now, state_part, store
from opspilot.settings import core_settings


def _signal(name: str, state: str, metrics: list[Any], reason: str, reason_data: str | None) -> Signal:
    metric = metric_of(name, metrics)
    observed, threshold = per_minute(name, metric, reason_data)
    signal = classify_metric(name, state, metric, reason)
    return signal.replace(observed_per_minute=observed, threshold_per_minute=threshold)


def triggering_signals(alarm: AlarmStateChangeEvent) -> list[Signal]:
    """The event's own alarm; for a composite alarm, the alarms it reports as triggering it."""
    detail = alarm.detail
    if not alarm.is_composite:
        inputs = inputs_from_event(detail.configuration.metrics)
        return [
            _signal(
                detail.alarm_name, detail.state.value, inputs, detail.state.reason, detail.state.reason_data
            )
        ]
    if detail.state.value == "OK":  # the composite's own incident recovers, by the composite's name
        return [composite_recovery(detail.alarm_name, detail.state.reason)]
    names = triggering_alarms(detail.alarm_name, detail.state.reason_data)
    found = alarm_state.describe(names, alarm.region)
    if not found:
        raise UnclassifiableSignal(
            f"composite alarm '{detail.alarm_name}': its alarms {names} were not found"
        )
    return [_signal(d.name, "ALARM", d.metrics, d.reason, d.reason_data) for d in found]


def other_alarms_of(model_id: str, seen: set[str], region: str) -> list[Signal]:
    """The model's other alarms now in ALARM: the incident is classified from all of them."""
    signals = []
    for definition in alarm_state.in_alarm(core_settings().alarm_name_prefix, region):
        if definition.name in seen:
            continue
        try:
            signal = _signal(
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
    tags = alarm.detail.alarm_tags
    signals = triggering_signals(alarm)
    if alarm.is_composite and signals[0].category is Category.RECOVERY:
        model_id = tags.get(MODEL_TAG) or "composite"
    else:
        model_id = model_id_of(alarm.detail.alarm_name, signals[0].metric, tags)
    if signals[0].category is not Category.RECOVERY:
        signals += other_alarms_of(model_id, {s.alarm_name for s in signals}, alarm.region)
    category, severity, scope, categories = combine(signals)
    at = now()
    incident = Incident(
        incident_id=incident_id_for(alarm.id),
        model_id=model_id,
        region=alarm.region,
        account=alarm.account,
        environment=environment_of(alarm.detail.alarm_name, tags, core_settings().environment),
        category=category,
        severity=severity,
        quota_scope=scope,
        alarm_name=alarm.detail.alarm_name,
        signals=signals,
        categories=categories,
        owner=tags.get(OWNER_TAG),
        opened_at=iso(cloudwatch_time(alarm.detail.state.timestamp)),
    )
    logger.info("classified", extra={"category": category, "model_id": model_id, "signals": len(signals)})
    if category is Category.RECOVERY:
        return incident.to_json()
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
