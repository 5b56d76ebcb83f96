"""Record Failure: every caught error ends here, so no execution ends without a trace of why."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from opspilot.domain import messages
from opspilot.domain.format import iso
from opspilot.handlers._runtime import bind_execution, logger, now, state_part, store

UNCLASSIFIABLE = frozenset({"InvalidAlarmEvent", "UnclassifiableSignal"})


def lambda_error_message(cause: Any) -> str:
    """A Lambda failure's Cause is the runtime's JSON error payload; keep its message, not the
    stack trace (which stays in the function's logs)."""
    text = str(cause or "")
    try:
        payload = json.loads(text)
    except json.JSONDecodeError:
        return text
    if isinstance(payload, dict) and "errorMessage" in payload:
        return f"{payload.get('errorType', 'Error')}: {payload['errorMessage']}"
    return text


def _incident_id_for_event(state: dict[str, Any], event: dict[str, Any]) -> str:
    """The id Classify would have given the event it could not classify. Imported here: only this
    path needs classification (and the event models it loads)."""
    from opspilot.domain.classify import incident_id_for

    return incident_id_for(str(state.get("id") or event.get("execution_id")))


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    bind_execution(event)
    state = state_part(event, "state")
    error = state.get("error") or {}
    error_name, cause = str(error.get("Error", "Unknown")), lambda_error_message(error.get("Cause"))
    incident = state.get("incident") or {}
    detail = state.get("detail") if isinstance(state.get("detail"), dict) else {}
    given = incident.get("alarm_name") or detail.get("alarmName")
    # a malformed event may carry anything here (EventBridge's prefix match passes a list): only a
    # string names an alarm whose pointer can be released; anything else is recorded as it came
    alarm_name = given if isinstance(given, str) else None
    alarm_label = alarm_name if given is None or alarm_name else str(given)[:255]
    incident_id = incident.get("incident_id") or _incident_id_for_event(state, event)
    at = now()
    failure = {"error": error_name, "cause": cause[:4000], "execution_id": event.get("execution_id")}
    existing = store().get_incident(incident_id) if incident else None
    settled = False  # the incident had already acted or been resolved
    if existing is not None:
        # a failure after the incident acted (e.g. while watching its quota requests) is recorded,
        # but does not turn what was done into "failed" (domain/lifecycle.py)
        settled = not store().update_incident(incident_id, at, status="failed", failure=failure)
    else:
        store().put_incident(
            incident_id,
            {
                "status": "unclassifiable" if error_name in UNCLASSIFIABLE else "failed",
                "failure": failure,
                "incident": {
                    "incident_id": incident_id,
                    "alarm_name": alarm_label,
                    "model_id": incident.get("model_id"),
                    "region": state.get("region"),
                    "category": None,
                    "severity": "critical",
                },
                "gsi1pk": f"MODEL#{incident.get('model_id') or 'unknown'}",
                "gsi1sk": iso(at),
            },
            at,
        )
    # every alarm this incident claimed: their next events start a fresh attempt (unless the
    # incident already acted: it stays the alarms' open incident until they recover)
    claimed = set((existing or {}).get("alarms") or {}) | ({alarm_name} if alarm_name else set())
    for name in sorted(str(n) for n in claimed) if not settled else []:
        store().release_alarm(name, incident_id)
    store().append_audit(incident_id, "failed", failure, at, key=event.get("execution_id"))
    logger.error("workflow failed", extra={"error": error_name, "incident_id": incident_id})
    out = messages.failure(
        incident_id, {"alarm_name": alarm_label, "model_id": incident.get("model_id")}, error_name, cause
    )
    store().update_incident(incident_id, at, notifications=[{"channel": "email", "subject": out.subject}])
    return out.to_json()
