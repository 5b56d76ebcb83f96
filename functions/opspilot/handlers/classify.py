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
    handled_per_contributor,
    incident_model,
    suppression_id,
    suppression_of,
    triggering_alarms,
)
from opspilot.domain.errors import UnclassifiableSignal
from opspilot.domain.events import AlarmStateChangeEvent, parse_alarm_event
from opspilot.domain.model import Category, Disposition, Environment, Incident, QuotaScope, Severity, Signal
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
    return [alarm_signal(d.name, "ALARM", d.metrics, d.reason, d.reason_data, d.comparison) for d in found]


def other_alarms_of(model_id: str, seen: set[str], region: str) -> list[Signal]:
    """The model's other alarms now in ALARM: the incident is classified from all of them."""
    signals = []
    for definition in alarm_state.in_alarm(core_settings().alarm_name_prefix, region):
        if definition.name in seen:
            continue
        try:
            signal = alarm_signal(
                definition.name,
                "ALARM",
                definition.metrics,
                definition.reason,
                definition.reason_data,
                definition.comparison,
            )
        except UnclassifiableSignal as exc:
            logger.info("skipping an alarm OpsPilot cannot classify", extra={"reason": str(exc)})
            continue
        if signal.metric.dimensions.get(MODEL_DIMENSION) == model_id:
            signals.append(signal)
    return signals


def alarm_tags(alarm: AlarmStateChangeEvent) -> dict[str, str]:
    """The alarm's tags: the event's when tag propagation is on, else one ListTagsForResource,
    so an alarm created by hand with the right tags is read the same way."""
    if alarm.detail.alarm_tags is not None:
        return alarm.tags
    return alarm_state.tags_of(alarm.alarm_arn, alarm.region)


def model_and_tags(alarm: AlarmStateChangeEvent, first: Signal) -> tuple[str, dict[str, str]]:
    """The incident's model and the alarm's tags. A recovery reads the tags only when its model
    depends on them (no ``ModelId`` dimension)."""
    if first.category is Category.RECOVERY and alarm.detail.alarm_tags is None:
        try:
            return incident_model(alarm, first, {}), {}
        except UnclassifiableSignal:
            pass
    tags = alarm_tags(alarm)
    return incident_model(alarm, first, tags), tags


def per_contributor(alarm: AlarmStateChangeEvent, environment: Environment) -> dict[str, Any]:
    """A Metrics Insights alarm's own state change: nothing to open, its contributors count."""
    logger.info("handled per contributor", extra={"alarm": alarm.detail.alarm_name})
    return Incident(
        incident_id="",
        model_id="",
        region=alarm.region,
        account=alarm.account,
        environment=environment,
        category=Category.ANOMALY,
        severity=Severity.WARNING,
        quota_scope=QuotaScope.NONE,
        alarm_name=alarm.detail.alarm_name,
        signals=[],
        opened_at=alarm.detail.state.timestamp,
        disposition=Disposition.PER_CONTRIBUTOR,
    ).to_json()


def record_suppressed(incident: Incident, execution_id: str) -> dict[str, Any]:
    """Record the silenced state change once and announce it once; act on nothing."""
    at = now()
    created = store().record_suppressed(incident.to_json(), execution_id, at)
    if not created:  # a repeat within the same silence, or EventBridge's second delivery
        recorded = store().get_incident(incident.incident_id) or {}
        if recorded.get("execution_id") != execution_id:
            store().append_audit(incident.incident_id, "attached", {"alarm": incident.alarm_name}, at)
            return incident.replace(attached=True).to_json()
    else:
        store().append_audit(
            incident.incident_id,
            "suppressed",
            {
                "signals": [s.to_json() for s in incident.signals],
                "suppression": incident.suppression.to_json() if incident.suppression else None,
            },
            at,
        )
    return incident.replace(opened_notice=messages.suppressed(incident.to_json())).to_json()


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    bind_execution(event)
    alarm = parse_alarm_event(state_part(event, "state"))
    if handled_per_contributor(alarm):
        return per_contributor(alarm, core_settings().environment)
    signals = triggering_signals(alarm)
    model_id, tags = model_and_tags(alarm, signals[0])
    recovery = signals[0].category is Category.RECOVERY
    suppression = None if recovery or alarm.detail.state.value != "ALARM" else suppression_of(alarm)
    if not recovery and suppression is None:
        signals += other_alarms_of(model_id, {s.alarm_name for s in signals}, alarm.region)
    incident = build_incident(alarm, model_id, signals, core_settings().environment, tags)
    logger.info(
        "classified", extra={"category": incident.category, "model_id": model_id, "signals": len(signals)}
    )
    if incident.category is Category.RECOVERY:
        return incident.to_json()
    if suppression is not None:
        silenced = incident.replace(
            incident_id=suppression_id(alarm, suppression),
            disposition=Disposition.SUPPRESSED,
            suppression=suppression,
        )
        return record_suppressed(silenced, event["execution_id"])
    at = now()
    incident_id, created = store().open_incident(
        incident.to_json(), incident.alarm_name, event["execution_id"], at
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
            incident_id, "attached", {"event_id": alarm.id, "alarm": incident.alarm_name}, at
        )
    result = incident.replace(incident_id=incident_id, attached=attached)
    if not attached:
        result = result.replace(opened_notice=messages.opened(result.to_json()))
    return result.to_json()
