"""Request Approval: store the task token behind one approval request, send one link per approver.

Invoked by ``WaitForApproval`` (round 1, the approvers) and, after its timeout,
``WaitForEscalatedApproval`` (round 2, the escalation group), both ``.waitForTaskToken``. Each
approver gets a link of their own (192 random bits; the table holds only its SHA-256), by email
through the topic and, when configured, as a button in Slack and Teams. Round 2 supersedes
round 1: its links stop working.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from opspilot.adapters.items import iso
from opspilot.adapters.messaging import publish
from opspilot.domain import approval_messages
from opspilot.domain.approvals import (
    DEFAULT_APPROVER,
    FORM_KEY_BYTES,
    LINK_ID_BYTES,
    ROUNDS,
    ApprovalView,
    approver_group,
    build_view,
    deadline,
    encode_key,
    link_key,
    log_label,
    request_ref,
)
from opspilot.domain.errors import InvalidInput, OpsPilotError
from opspilot.handlers._approval_runtime import approvals, count, publishes_metrics, record_pending
from opspilot.handlers._runtime import bind_execution, logger, now, state_part, store
from opspilot.settings import ApprovalSettings, approval_settings


def _chat(
    settings: ApprovalSettings,
    view: ApprovalView,
    new_link: Callable[[str], tuple[str, str]],
    expires: str,
    round_: int,
) -> list[dict[str, Any]]:
    """Post the round's message to each configured chat webhook. A chat channel is shared, so it
    gets a link of its own, bound to the channel ("slack channel"), never an approver's personal
    link: the audit then says a decision came through the channel (with source IP and browser).
    A failure is recorded, not raised: email is the channel of record."""
    targets = [
        ("slack", settings.slack_webhook_secret_arn, approval_messages.slack_message),
        ("teams", settings.teams_webhook_secret_arn, approval_messages.teams_message),
    ]
    if not any(arn for _, arn, _ in targets):
        return []
    from opspilot.adapters import webhooks  # urllib.request only where a webhook is configured

    channels: list[dict[str, Any]] = []
    for name, arn, compose in targets:
        if not arn:
            continue
        try:
            links = [new_link(f"{name} channel")]
            status = webhooks.post_json(webhooks.webhook_url(arn), compose(view, links, expires, round_))
            channels.append({"channel": name, "status": "sent", "http_status": status})
        except (webhooks.WebhookError, OpsPilotError, ClientError) as exc:
            logger.warning("chat message not sent", extra={"channel": name, "error": str(exc)[:200]})
            channels.append({"channel": name, "status": "failed", "error": str(exc)[:200]})
    return channels


def _escalate(execution_id: str, ref: str, view: ApprovalView, group: list[str], timeout: int) -> None:
    """Round 2: round 1's links stop working; the notification topic is told once."""
    at = now()
    previous_ref = request_ref(execution_id, 1)
    if not approvals().supersede(previous_ref, at, ref):
        return  # decided at the last moment, or already superseded by an earlier attempt
    previous = approvals().get_request(previous_ref) or {}
    first = list(previous.get("approvers") or [])
    subject, body = approval_messages.escalation_notice(view, first, group, timeout)
    publish(approval_settings().notification_topic_arn, subject, body, {"incident_id": view.incident_id})
    store().append_audit(view.incident_id, "approval_escalated", {"from": first, "to": group}, at)
    count("ApprovalsEscalated")


@logger.inject_lambda_context(clear_state=True)
@publishes_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    bind_execution(event)
    settings = approval_settings()
    execution_id = str(state_part(event, "execution_id"))
    task_token = str(state_part(event, "task_token"))
    incident = state_part(event, "state", "incident")
    plan = state_part(event, "state", "plan")
    round_ = int(event.get("round") or 1)
    if not 1 <= round_ <= ROUNDS:
        raise InvalidInput(f"field 'round': {round_} is not between 1 and {ROUNDS}")
    at = now()
    timeout = int(plan.get("approval_timeout_seconds") or settings.approval_timeout_seconds)
    expires = deadline(event.get("entered_at"), at, timeout)
    group = approver_group(round_, settings.approver_emails, settings.escalation_approver_emails)
    ref = request_ref(execution_id, round_)
    view = build_view(incident, plan, event["state"].get("context") or {}, at)
    if round_ > 1:
        _escalate(execution_id, ref, view, group, timeout)
    record = {
        "round": round_,
        "task_token": task_token,
        "form_key": encode_key(secrets.token_bytes(FORM_KEY_BYTES)),
        "incident_id": view.incident_id,
        "execution_id": execution_id,
        "approvers": group,
        "view": view.to_json(),
        "created_at": iso(at),
    }
    if not approvals().create_request(ref, record, expires):
        existing = approvals().get_request(ref) or {}
        approvals().replace_task_token(ref, task_token)
        if existing.get("channels") or existing.get("status") != "PENDING":
            logger.info("approval already requested; task token replaced", extra={"round": round_})
            return {"approval_requested": True, "round": round_, "retried": True}
        expires_at = str(existing["expires_at"])
    else:
        expires_at = iso(expires)

    def new_link(approver: str) -> tuple[str, str]:
        """A fresh link bound to one recipient: an approver, or a chat channel."""
        link_id = secrets.token_urlsafe(LINK_ID_BYTES)
        approvals().put_link(
            link_key(link_id),
            {"ref": ref, "approver": approver, "round": round_, "incident_id": view.incident_id},
            expires,
        )
        return approver, f"{settings.approval_base_url.rstrip('/')}/approvals/{link_id}"

    links = [new_link(approver) for approver in group]
    for approver, url in links:
        subject, body = approval_messages.approval_email(view, approver, url, expires_at, round_, timeout)
        attributes = {
            "incident_id": view.incident_id,
            "severity": view.severity,
            "approval_round": str(round_),
            "kind": "approval_request",  # passes the severity preference: approvals always arrive
        }
        if approver != DEFAULT_APPROVER:
            attributes["approver"] = approver  # per-approver subscriptions filter on this
        publish(settings.notification_topic_arn, subject, body, attributes)
    channels = [{"channel": "email", "status": "sent", "messages": len(links)}]
    channels += _chat(settings, view, new_link, expires_at, round_)
    approvals().mark_notified(ref, channels, at)
    store().update_incident(
        view.incident_id,
        at,
        status="awaiting_approval",
        approval={
            "required": True,
            "status": "pending",
            "round": round_,
            "approvers": group,
            "expires_at": expires_at,
            "channels": [c["channel"] for c in channels if c["status"] == "sent"],
        },
    )
    store().append_audit(
        view.incident_id,
        "approval_requested",
        {
            "round": round_,
            "approvers": group,
            "expires_at": expires_at,
            "channels": channels,
            "links": [log_label(link_key(url.rsplit("/", 1)[-1])) for _, url in links],
        },
        at,
    )
    count("ApprovalsRequested")
    pending = record_pending(at)
    logger.info("approval requested", extra={"round": round_, "approvers": len(group), "pending": pending})
    return {"approval_requested": True, "round": round_, "approvers": len(group)}
