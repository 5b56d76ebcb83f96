"""Recover: an alarm went back to OK. Once every alarm of its incident is OK, the workflow waits
a quiet period and confirms (``phase`` ``confirm``): the incident resolves only if none of its
alarms fired again meanwhile, so a flapping alarm does not resolve and reopen it on every flap."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from opspilot.adapters import alarm_state, support
from opspilot.domain import messages
from opspilot.domain.errors import ResponseLost
from opspilot.domain.format import iso
from opspilot.domain.model import Incident, Severity
from opspilot.handlers._metrics import count_by
from opspilot.handlers._runtime import bind_execution, logger, now, parse, state_part, store
from opspilot.settings import core_settings


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
        except ResponseLost as exc:  # sent once, its answer lost: most likely noted; never noted twice
            logger.warning(
                "the recovery note's answer was lost", extra={"case_id": case_id, "error": str(exc)}
            )
            noted.append(case_id)
        except ClientError as exc:  # a closed case or no Support API access: the incident still resolves
            logger.warning("could not note the recovery", extra={"case_id": case_id, "error": str(exc)})
    return noted


def _quiet(incident_id: str | None) -> dict[str, Any]:
    return {
        "incident_id": incident_id,
        "severity": Severity.WARNING.value,
        "subject": "",
        "message": "",
        "notify": False,
        "confirm": False,
    }


def _incident_of(signal: Incident) -> str | None:
    """The alarm's incident: its pointer, else the model's incident if the alarm is one of its."""
    open_id = store().open_incident_for_alarm(signal.alarm_name)
    if open_id is not None:
        return open_id
    pointer = store().model_pointer(signal.model_id, signal.region)
    if pointer is None:
        return None
    record = store().get_incident(str(pointer["incident_id"])) or {}
    return str(pointer["incident_id"]) if signal.alarm_name in (record.get("alarms") or {}) else None


def mark_ok(event: dict[str, Any], signal: Incident) -> dict[str, Any]:
    at = now()
    event_id = str(state_part(event, "state", "id"))
    open_id = _incident_of(signal)
    if open_id is None:
        logger.info("no open incident for this alarm", extra={"alarm": signal.alarm_name})
        return _quiet(None)  # no incident: none is named (the report once invented one)
    # one atomic update per OK event: concurrent OK events cannot lose each other's alarm
    current = store().mark_alarm_ok(open_id, signal.alarm_name, at)
    if current is None:  # already resolved
        store().release_alarm(signal.alarm_name, open_id)
        return _quiet(open_id)
    data = {"alarm": signal.alarm_name, "event_id": event_id}
    store().append_audit(open_id, "alarm_ok", data, at, key=event_id)
    store().release_alarm(signal.alarm_name, open_id)
    if any(state != "OK" for state in (current.get("alarms") or {}).values()):
        return _quiet(open_id)
    # every alarm is OK: resolve after the quiet period, if none fires again meanwhile
    quiet = core_settings().recovery_quiet_seconds
    return {**_quiet(open_id), "confirm": True, "quiet_seconds": quiet}


def confirm(event: dict[str, Any], signal: Incident) -> dict[str, Any]:
    """After the quiet period: resolve, once, unless an alarm of the incident fired again."""
    at = now()
    open_id = str(state_part(event, "state", "outcome", "incident_id"))
    execution_id = event.get("execution_id")
    record = store().get_incident(open_id)
    if record is None:
        return _quiet(open_id)
    if record.get("status") == "resolved":
        if record.get("resolved_by_execution") != execution_id:
            return _quiet(open_id)  # another execution resolved it and announced it
        return _finish(record, open_id, str(record.get("resolved_at")), signal)  # our retry
    alarms = record.get("alarms") or {}
    firing = sorted(name for name, state in alarms.items() if state != "OK")
    if not firing:  # CloudWatch's own view: an ALARM whose event is still on its way
        names = sorted(str(n) for n in alarms)
        firing = [d.name for d in alarm_state.describe(names, signal.region) if d.state == "ALARM"]
    if firing:
        data = {"alarms_firing": firing, "alarm": signal.alarm_name}
        store().append_audit(open_id, "recovery_interrupted", data, at, key=str(execution_id))
        return _quiet(open_id)
    summary = {**record["incident"], "status": record.get("status")}
    out = messages.resolved(summary, iso(at))
    notifications = [*(record.get("notifications") or []), {"channel": "email", "subject": out.subject}]
    resolved_fields = {"resolved_by_execution": execution_id, "status_before": record.get("status")}
    version = int(record.get("version") or 0)
    if not store().resolve(open_id, at, version=version, notifications=notifications, **resolved_fields):
        # another execution resolved it and announced it, or an alarm joined meanwhile
        return _quiet(open_id)
    count_by({}, {"IncidentsResolved": 1})  # once: only the execution whose resolve went through
    resolved = store().get_incident(open_id) or record
    return _finish(resolved, open_id, iso(at), signal)


def _finish(record: dict[str, Any], open_id: str, resolved_at: str, signal: Incident) -> dict[str, Any]:
    """What a resolution does after the conditional resolve; a retry does what is still left."""
    at = now()
    if record.get("recovery_noted") is None:
        noted = note_recovery_on_cases(record, resolved_at)
        store().update_incident(open_id, at, recovery_noted=noted)
    else:
        noted = list(record["recovery_noted"])
    when = str(record.get("resolved_at") or resolved_at)
    moment = datetime.fromisoformat(when.replace("Z", "+00:00"))
    data = {"alarm": signal.alarm_name, "cases_noted": noted}
    store().append_audit(open_id, "resolved", data, moment, key=str(record.get("resolved_by_execution")))
    for name in sorted(str(n) for n in record.get("alarms") or {}):
        store().release_alarm(name, open_id)
    summary = {**record["incident"], "status": record.get("status_before")}
    return {**messages.resolved(summary, str(when)).to_json(), "notify": True, "confirm": False}


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    bind_execution(event)
    signal = parse(Incident, state_part(event, "state", "incident"), "incident")
    if event.get("phase") == "confirm":
        return confirm(event, signal)
    return mark_ok(event, signal)
