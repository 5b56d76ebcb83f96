"""Record Outcome: write the decision trail's last entries and compose the notification."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from opspilot.domain import messages
from opspilot.domain.kinds import ActionStatus
from opspilot.handlers._approval_runtime import publishes_metrics, record_pending
from opspilot.handlers._runtime import bind_execution, logger, now, state_part, store


def approval_of(state: dict[str, Any], recorded: dict[str, Any]) -> dict[str, Any]:
    """approved / rejected / expired / not_required, from what the approval step left in the
    state; who decided comes from the state or, failing that, from the incident record that the
    approval API wrote (a rejection's Cause may arrive empty)."""
    plan = state.get("plan") or {}
    if not plan.get("approval_required"):
        return {"required": False, "status": "not_required", "by": None}
    error = state.get("approval_error")
    if error and error.get("Error") == "States.Timeout":
        return {"required": True, "status": "expired", "by": None}
    if error:
        try:
            decided = json.loads(error.get("Cause") or "{}")
        except json.JSONDecodeError:
            decided = {}
        status = "rejected"
    else:
        decided, status = state.get("approval") or {}, "approved"
    if not decided.get("by"):
        decided = recorded
    return {
        "required": True,
        "status": status,
        "by": decided.get("by"),
        "at": decided.get("at"),
        "comment": decided.get("comment"),
    }


@logger.inject_lambda_context(clear_state=True)
@publishes_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    bind_execution(event)
    state = state_part(event, "state")
    incident = state_part(event, "state", "incident")
    plan = state.get("plan") or {}
    record = store().get_incident(incident["incident_id"]) or {}
    recorded = record.get("approval") or {}
    approval = approval_of(state, recorded)
    results: list[dict[str, Any]] = state.get("action_results") or []
    if approval["status"] in {"rejected", "expired"}:
        results = [
            {
                "action_id": a["action_id"],
                "type": a["type"],
                "status": ActionStatus.SKIPPED.value,
                "params": a["params"],
                "result": {"summary": f"not executed: approval {approval['status']}"},
            }
            for a in plan.get("actions", [])
        ]
    undelivered = state.get("notice_error")  # NotifyOpened failed: this message carries it
    out = messages.outcome(incident, plan, approval, results, undelivered)
    at = now()
    if undelivered:
        store().append_audit(
            incident["incident_id"],
            "notice_failed",
            {"notice": "opened", "error": undelivered.get("Error"), "carried_by": "outcome"},
            at,
        )
    status = {"rejected": "rejected", "expired": "approval_expired"}.get(
        approval["status"], "acted" if results else "notified"
    )
    moved = store().update_incident(
        incident["incident_id"],
        at,
        status=status,
        approval=approval,
        # a revised or reopened incident keeps what its earlier rounds did
        actions=[
            *(
                a
                for a in record.get("actions") or []
                if a.get("action_id") not in {r["action_id"] for r in results}
            ),
            *results,
        ],
        notifications=[{"channel": "email", "subject": out.subject}],
    )
    if not moved:
        logger.info(
            "outcome recorded; the incident's status was already further on", extra={"status": status}
        )
    if approval["status"] == "expired":
        # The last round of links ran out: nothing else writes the pending-approval gauges until
        # the next request or decision, so the dashboard would keep this approval as pending.
        record_pending(at)
    audit = {"status": status, "approval": approval}
    store().append_audit(incident["incident_id"], "outcome", audit, at, key=event.get("execution_id"))
    # the quota increase requests this incident filed or joined: the workflow follows them
    watch = [
        str(r["result"]["request_id"])
        for r in results
        if r["type"] == "request_quota_increase"
        and r["status"] in {"executed", "skipped"}
        and r["result"].get("request_id")
    ]
    return {**out.to_json(), "watch_requests": watch}
