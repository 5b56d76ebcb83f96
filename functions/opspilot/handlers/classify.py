"""Classify: parse the alarm event, classify the signal, open (or join) the incident."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from opspilot.domain.classify import classify_signal, incident_id_for, model_id_of, watched_metric
from opspilot.domain.events import parse_alarm_event
from opspilot.domain.model import Category, Incident
from opspilot.handlers._runtime import bind_execution, logger, now, state_part, store
from opspilot.settings import core_settings


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    bind_execution(event)
    alarm = parse_alarm_event(state_part(event, "state"))
    metric = watched_metric(alarm)
    signal = classify_signal(alarm, metric)
    at = now()
    incident = Incident(
        incident_id=incident_id_for(alarm.id),
        model_id=model_id_of(alarm, metric),
        region=alarm.region,
        account=alarm.account,
        environment=alarm.detail.alarm_tags.get("opspilot:environment") or core_settings().environment,
        category=signal.category,
        severity=signal.severity,
        quota_scope=signal.quota_scope,
        alarm_name=alarm.detail.alarm_name,
        signals=[signal],
        opened_at=alarm.detail.state.timestamp,
    )
    logger.info("classified", extra={"category": incident.category, "model_id": incident.model_id})
    if incident.category is Category.RECOVERY:
        return incident.model_dump(mode="json")
    incident_id, created = store().open_incident(
        incident.model_dump(mode="json"), alarm.detail.alarm_name, event["execution_id"], at
    )
    if created:
        store().append_audit(incident_id, "opened", {"signal": signal.model_dump(mode="json")}, at)
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
    return incident.model_copy(update={"incident_id": incident_id, "attached": attached}).model_dump(
        mode="json"
    )
