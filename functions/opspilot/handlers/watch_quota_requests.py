"""Watch Quota Requests: look at the incident's quota increase requests until AWS decides them.

The state machine waits between looks (5 minutes, doubling, at most 6 hours; 14 days at most in
all). When every request is decided the incident records it and people are told: approved (the
model's alarm thresholds are then re-derived from the new quota), denied with the case link, or
still open when the watch ends.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from opspilot.adapters.quotas import request_status
from opspilot.domain.format import number
from opspilot.domain.labels import label
from opspilot.domain.messages import CASE_URL, QUOTA_REQUESTS_URL
from opspilot.domain.watch import WATCH_LIMIT_SECONDS, WatchState, advance, outcome_of
from opspilot.handlers._runtime import bind_execution, logger, now, state_part, store

_VERB = {
    "approved": "quota increase approved",
    "denied": "quota increase denied",
    "mixed": "quota requests decided",
}


def _message(incident: dict[str, Any], outcome: str, requests: list[dict[str, Any]]) -> tuple[str, str]:
    verb = _VERB.get(outcome, "quota request still open")
    subject = f"[OpsPilot] {verb}: {incident.get('model_id')}"[:100]
    lines = [
        f"Incident:  {incident.get('incident_id')}",
        f"Model:     {incident.get('model_id')} ({incident.get('region')})",
        "",
    ]
    for r in requests:
        status = label("quota_request_status", r["Status"])
        lines.append(f"- {r['QuotaCode']} -> {number(r['DesiredValue'])}: {status} (request {r['Id']})")
        if r.get("CaseId"):
            lines.append(f"  support case: {CASE_URL.format(r['CaseId'])}")
    if outcome == "approved":
        lines += ["", "If the model is in the registry, its alarm thresholds follow the new quota next."]
    elif outcome == "pending":
        days = WATCH_LIMIT_SECONDS // 86400
        lines += ["", f"OpsPilot stopped watching after {days} days: {QUOTA_REQUESTS_URL}"]
    return subject, "\n".join(lines)


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    bind_execution(event)
    incident = state_part(event, "state", "incident")
    ids: list[str] = list(state_part(event, "state", "outcome", "watch_requests"))
    watch = state_part(event, "state", "watch")
    current = advance(
        WatchState(int(watch["checks"]), int(watch["waited_seconds"]), int(watch["wait_seconds"]))
    )
    requests = [request_status(i, incident.get("region")) for i in ids]
    statuses = {r["Id"]: r["Status"] for r in requests}
    outcome = outcome_of(statuses)
    done = outcome != "pending" or current.waited_seconds >= WATCH_LIMIT_SECONDS
    at = now()
    result: dict[str, Any] = {
        "checks": current.checks,
        "waited_seconds": current.waited_seconds,
        "wait_seconds": current.wait_seconds,
        "statuses": statuses,
        "outcome": outcome,
        "done": done,
        "resync": outcome in {"approved", "mixed"},
        "approved_quota_codes": sorted({r["QuotaCode"] for r in requests if r["Status"] == "APPROVED"}),
        "model_id": incident.get("model_id"),
        "incident_id": incident.get("incident_id"),
        "severity": incident.get("severity", "warning"),
    }
    store().update_incident(incident["incident_id"], at, quota_requests=statuses, quota_watch=result)
    if done:
        result["subject"], result["message"] = _message(incident, outcome, requests)
        store().append_audit(
            incident["incident_id"],
            f"quota_requests_{outcome}",
            {"statuses": statuses},
            at,
            key=event.get("execution_id"),  # once per execution: a retry does not write it again
        )
        logger.info("quota requests decided", extra={"outcome": outcome, "checks": current.checks})
    return result
