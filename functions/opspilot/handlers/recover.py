"""Recover: an alarm went back to OK; resolve its incident once every alarm of it is OK."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from opspilot.adapters import support
from opspilot.domain import messages
from opspilot.domain.format import iso
from opspilot.domain.model import Incident, Severity
from opspilot.handlers._runtime import bind_execution, logger, now, parse, state_part, store


def note_recovery_on_cases(record: dict[str, Any], resolved_at: str) -> list[str]:
    """Append a "recovered at" note to the support cases this incident opened or joined."""
    noted = []
    for action in record.get("actions") or []:
        case_id = (action.get("result") or {}).get("case_id")
        if action.get("type") != "open_support_case" or action.get("status") != "executed" or not case_id:
            continue
        body = (
            f"OpsPilot: every alarm of incident {record['incident'].get('incident_id')} "
            f"({record['incident'].get('model_id')}) recovered at {resolved_at}."
        )
        try:
            support.add_communication(case_id, body)
            noted.append(case_id)
        except ClientError as exc:  # a closed case or no Support API access: the incident still resolves
            logger.warning("could not note the recovery", extra={"case_id": case_id, "error": str(exc)})
    return noted


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    bind_execution(event)
    signal = parse(Incident, state_part(event, "state", "incident"), "incident")
    at = now()
    open_id = store().open_incident_for_alarm(signal.alarm_name)
    record = store().get_incident(open_id) if open_id else None
    if open_id is None or record is None:
        logger.info("no open incident for this alarm", extra={"alarm": signal.alarm_name})
        return {
            "incident_id": signal.incident_id,
            "severity": Severity.WARNING.value,
            "subject": "",
            "message": "",
            "notify": False,
        }
    quiet = {
        "incident_id": open_id,
        "severity": Severity.WARNING.value,
        "subject": "",
        "message": "",
        "notify": False,
    }
    # one atomic update per OK event: concurrent OK events cannot lose each other's alarm
    current = store().mark_alarm_ok(open_id, signal.alarm_name, at)
    if current is None:  # already resolved
        store().release_alarm(signal.alarm_name, open_id)
        return quiet
    if any(state != "OK" for state in (current.get("alarms") or {}).values()):
        store().append_audit(open_id, "alarm_ok", {"alarm": signal.alarm_name}, at)
        store().release_alarm(signal.alarm_name, open_id)
        return quiet
    summary = {**record["incident"], "status": record.get("status")}
    out = messages.resolved(summary, iso(at))
    notifications = [*(current.get("notifications") or []), {"channel": "email", "subject": out.subject}]
    if not store().resolve(
        open_id, at, resolved_by_execution=event.get("execution_id"), notifications=notifications
    ):
        store().release_alarm(signal.alarm_name, open_id)
        return quiet  # another execution resolved it and announced it
    noted = note_recovery_on_cases(current, iso(at))
    store().append_audit(open_id, "resolved", {"alarm": signal.alarm_name, "cases_noted": noted}, at)
    store().release_alarm(signal.alarm_name, open_id)  # last: a retry before this still finds the incident
    return {**out.to_json(), "notify": True}
