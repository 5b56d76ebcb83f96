"""Request Approval: store the task token behind a fresh opaque approval id, send the link.

The link carries only the approval id (192 random bits); the table is keyed by its SHA-256, so a
leaked table item does not give a working link, and the task token never leaves the table.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from opspilot.adapters.incidents import iso
from opspilot.adapters.messaging import publish
from opspilot.domain import messages
from opspilot.handlers._runtime import bind_execution, logger, now, state_part, store
from opspilot.settings import approval_settings


def approval_key(approval_id: str) -> str:
    return hashlib.sha256(approval_id.encode()).hexdigest()


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    bind_execution(event)
    settings = approval_settings()
    token = state_part(event, "task_token")
    incident = state_part(event, "state", "incident")
    plan = state_part(event, "state", "plan")
    at = now()
    expires = at + timedelta(
        seconds=int(plan.get("approval_timeout_seconds") or settings.approval_timeout_seconds)
    )
    approval_id = secrets.token_urlsafe(24)
    approvers = [a.strip() for a in settings.approver_emails.split(",") if a.strip()]
    store().put_approval(
        approval_key(approval_id),
        {
            "status": "PENDING",
            "task_token": token,
            "incident_id": incident["incident_id"],
            "execution_id": event.get("execution_id"),
            "plan": plan,
            "incident": incident,
            "approvers": approvers,
            "created_at": iso(at),
            "expires_at": iso(expires),
        },
        expires,
    )
    link = f"{settings.approval_base_url.rstrip('/')}/approvals/{approval_id}"
    subject, body = messages.approval_request(incident, plan, link, iso(expires))
    publish(
        settings.notification_topic_arn,
        subject,
        body,
        {"incident_id": incident["incident_id"], "severity": incident.get("severity", "warning")},
    )
    store().update_incident(
        incident["incident_id"],
        at,
        status="awaiting_approval",
        approval={"required": True, "status": "pending", "approvers": approvers, "expires_at": iso(expires)},
    )
    store().append_audit(incident["incident_id"], "approval_requested", {"approvers": approvers}, at)
    logger.info("approval requested", extra={"approval_id_prefix": approval_id[:6]})
    return {"approval_requested": True}
