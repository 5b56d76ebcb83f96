"""One approval request (RequestApproval): the approver group of the round, one link per approver
and per chat channel, the messages that carry them, and the records that say the approval waits.

Round 1 asks the approvers; round 2 (after round 1 timed out) asks the escalation group, and
supersedes round 1 first so that its links stop working. A round 1 decision that was recorded but
never delivered (its outbox, see handlers/approval_api.py) is delivered to round 2's task
instead. Each link is 192 random bits; the store holds only its SHA-256. Email through the
notification topic is the channel of record: one message per approver. A chat channel is
shared, so it gets a link of its own ("slack channel"), and a failure to post there is recorded,
not raised.

Calls per invocation (round 1, N approvers, C chat channels): one conditional PutItem for the
request, N + C PutItem for the links, N SNS messages, C webhook posts, one UpdateItem on the
request (the channels), one on the incident, one audit PutItem and one Query for the pending
gauge. Round 2 adds the supersede, a read of round 1, the escalation notice and its audit entry.
No AWS SDK here: the adapters, the clock and the randomness are passed in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

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
from opspilot.domain.base import Record
from opspilot.domain.errors import InvalidInput, OpsPilotError
from opspilot.domain.format import iso
from opspilot.settings import ApprovalSettings

Link = tuple[str, str]  # (recipient: an approver or "<channel> channel", URL)


class ChatNotSent(Exception):
    """A chat message was not posted: the webhook, its secret or the link it carries failed.
    Raised by the ``post_chat`` dependency; the channel is recorded as failed."""


class ApprovalStorePort(Protocol):
    def create_request(self, ref: str, record: dict[str, Any], expires: datetime) -> bool: ...
    def get_request(self, ref: str) -> dict[str, Any] | None: ...
    def replace_task_token(self, ref: str, task_token: str) -> bool: ...
    def supersede(self, ref: str, now: datetime, by_ref: str) -> bool: ...
    def put_link(self, link_hash: str, record: dict[str, Any], expires: datetime) -> None: ...
    def mark_notified(self, ref: str, channels: list[dict[str, Any]], now: datetime) -> None: ...
    def mark_delivered(self, ref: str, delivery: str = "delivered") -> bool: ...


class IncidentsPort(Protocol):
    def update_incident(
        self, incident_id: str, now: datetime, *, status: str | None = None, **fields: Any
    ) -> bool: ...
    def append_audit(self, incident_id: str, kind: str, data: dict[str, Any], now: datetime) -> None: ...


class LogPort(Protocol):
    def info(self, msg: object, *, extra: Mapping[str, object] | None = None) -> None: ...
    def warning(self, msg: object, *, extra: Mapping[str, object] | None = None) -> None: ...


@dataclass(frozen=True, kw_only=True)
class ApprovalDependencies:
    approvals: ApprovalStorePort
    incidents: IncidentsPort
    publish: Callable[[str, str, str, dict[str, str]], object]  # (topic ARN, subject, message, attributes)
    # (webhook secret ARN, the message, built when called: it mints the channel's link) -> HTTP
    # status. Raises ChatNotSent (or an OpsPilotError) when the channel was not sent.
    post_chat: Callable[[str, Callable[[], dict[str, Any]]], int]
    count: Callable[[str], None]  # a metric, by one
    record_pending: Callable[[datetime], int | None]  # the PendingApprovals gauge; None: not counted
    now: Callable[[], datetime]
    token_bytes: Callable[[int], bytes]  # secrets.token_bytes
    token_urlsafe: Callable[[int], str]  # secrets.token_urlsafe
    log: LogPort
    # (task token, "approve" or "reject", the workflow's output): SendTaskSuccess/SendTaskFailure
    deliver: Callable[[str, str, dict[str, Any]], None]


class ApprovalRequest(Record):
    """The parts of the workflow state RequestApproval reads."""

    execution_id: str
    task_token: str
    round_: int
    incident: Mapping[str, Any]
    plan: Mapping[str, Any]
    context: Mapping[str, Any]
    entered_at: str | None = None  # when Step Functions entered the waiting state


def request_approval(
    request: ApprovalRequest, settings: ApprovalSettings, deps: ApprovalDependencies
) -> dict[str, Any]:
    """Store the request behind the task token and send one link per approver and chat channel.
    A retried invocation that finds its request already notified (or decided) only hands the
    new task token over, and sends nothing twice."""
    round_ = request.round_
    if not 1 <= round_ <= ROUNDS:
        raise InvalidInput(f"field 'round': {round_} is not between 1 and {ROUNDS}")
    at = deps.now()
    timeout = int(request.plan.get("approval_timeout_seconds") or settings.approval_timeout_seconds)
    expires = deadline(request.entered_at, at, timeout)
    group = approver_group(round_, settings.approver_emails, settings.escalation_approver_emails)
    ref = request_ref(request.execution_id, round_)
    view = build_view(request.incident, request.plan, request.context, at)
    if round_ > 1 and (earlier := _undelivered(request.execution_id, deps)) is not None:
        return _deliver_earlier(request, earlier, view.incident_id, deps)
    if round_ > 1:
        _escalate(request.execution_id, ref, view, group, timeout, settings, deps)
    record = {
        "round": round_,
        "task_token": request.task_token,
        "form_key": encode_key(deps.token_bytes(FORM_KEY_BYTES)),
        "incident_id": view.incident_id,
        "execution_id": request.execution_id,
        "approvers": group,
        "view": view.to_json(),
        "created_at": iso(at),
    }
    if not deps.approvals.create_request(ref, record, expires):
        existing = deps.approvals.get_request(ref) or {}
        deps.approvals.replace_task_token(ref, request.task_token)
        if existing.get("channels") or existing.get("status") != "PENDING":
            deps.log.info("approval already requested; task token replaced", extra={"round": round_})
            return {"approval_requested": True, "round": round_, "retried": True}
        expires_at = str(existing["expires_at"])  # a retry after a failure before the messages
    else:
        expires_at = iso(expires)

    def new_link(recipient: str) -> Link:
        """A fresh link bound to one recipient: an approver, or a chat channel."""
        link_id = deps.token_urlsafe(LINK_ID_BYTES)
        deps.approvals.put_link(
            link_key(link_id),
            {"ref": ref, "approver": recipient, "round": round_, "incident_id": view.incident_id},
            expires,
        )
        return recipient, f"{settings.approval_base_url.rstrip('/')}/approvals/{link_id}"

    links = [new_link(approver) for approver in group]
    for approver, url in links:
        _email(view, approver, url, expires_at, round_, timeout, settings, deps)
    channels: list[dict[str, Any]] = [{"channel": "email", "status": "sent", "messages": len(links)}]
    channels += _chat(settings, view, new_link, expires_at, round_, deps)
    deps.approvals.mark_notified(ref, channels, at)
    deps.incidents.update_incident(
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
    deps.incidents.append_audit(
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
    deps.count("ApprovalsRequested")
    pending = deps.record_pending(at)
    deps.log.info("approval requested", extra={"round": round_, "approvers": len(group), "pending": pending})
    return {"approval_requested": True, "round": round_, "approvers": len(group)}


def _undelivered(execution_id: str, deps: ApprovalDependencies) -> dict[str, Any] | None:
    """Round 1, if it was decided in time but the decision never reached the workflow (its delivery
    and its undo both failed: it waits in the request, its outbox)."""
    first = deps.approvals.get_request(request_ref(execution_id, 1)) or {}
    return first if first.get("status") == "DECIDED" and first.get("delivery") == "pending" else None


def _deliver_earlier(
    request: ApprovalRequest, earlier: Mapping[str, Any], incident_id: str, deps: ApprovalDependencies
) -> dict[str, Any]:
    """The workflow stopped waiting for round 1 and asks round 2: it gets round 1's decision on
    this task instead, and nobody is asked again."""
    decision = earlier["decision"]
    deps.deliver(request.task_token, str(decision["decision"]), dict(earlier["output"]))
    deps.approvals.mark_delivered(str(earlier["ref"]))
    at = deps.now()
    detail = {
        "round": 1,
        "by": decision.get("by"),
        "decided_at": decision.get("at"),
        "via_round": request.round_,
    }
    deps.incidents.append_audit(incident_id, "approval_delivered_late", detail, at)
    deps.log.info("round 1 decision delivered to round 2's task", extra={"decision": decision["decision"]})
    return {"approval_requested": False, "round": request.round_, "delivered_from_round": 1}


def _email(
    view: ApprovalView,
    approver: str,
    url: str,
    expires_at: str,
    round_: int,
    timeout: int,
    settings: ApprovalSettings,
    deps: ApprovalDependencies,
) -> None:
    """One approver's message, through the topic."""
    subject, body = approval_messages.approval_email(view, approver, url, expires_at, round_, timeout)
    attributes = {
        "incident_id": view.incident_id,
        "severity": view.severity,
        "approval_round": str(round_),
        "kind": "approval_request",  # passes the severity preference: approvals always arrive
    }
    if approver != DEFAULT_APPROVER:
        attributes["approver"] = approver  # per-approver subscriptions filter on this
    deps.publish(settings.notification_topic_arn, subject, body, attributes)


def _escalate(
    execution_id: str,
    ref: str,
    view: ApprovalView,
    group: list[str],
    timeout: int,
    settings: ApprovalSettings,
    deps: ApprovalDependencies,
) -> None:
    """Round 2: round 1's links stop working; the notification topic is told once."""
    at = deps.now()
    previous_ref = request_ref(execution_id, 1)
    if not deps.approvals.supersede(previous_ref, at, ref):
        return  # decided at the last moment, or already superseded by an earlier attempt
    previous = deps.approvals.get_request(previous_ref) or {}
    first = list(previous.get("approvers") or [])
    subject, body = approval_messages.escalation_notice(view, first, group, timeout)
    deps.publish(settings.notification_topic_arn, subject, body, {"incident_id": view.incident_id})
    deps.incidents.append_audit(view.incident_id, "approval_escalated", {"from": first, "to": group}, at)
    deps.count("ApprovalsEscalated")


def _chat(
    settings: ApprovalSettings,
    view: ApprovalView,
    new_link: Callable[[str], Link],
    expires_at: str,
    round_: int,
    deps: ApprovalDependencies,
) -> list[dict[str, Any]]:
    """Post the round's message to each configured chat webhook. A chat channel is shared, so it
    gets a link of its own, bound to the channel ("slack channel"), never an approver's personal
    link: the audit then says a decision came through the channel (with source IP and browser).
    A failure is recorded, not raised: email is the channel of record."""
    targets = [
        ("slack", settings.slack_webhook_secret_arn, approval_messages.slack_message),
        ("teams", settings.teams_webhook_secret_arn, approval_messages.teams_message),
    ]
    return [
        _post_channel(name, arn, compose, view, new_link, expires_at, round_, deps)
        for name, arn, compose in targets
        if arn
    ]


def _post_channel(
    name: str,
    secret_arn: str,
    compose: Callable[[ApprovalView, list[Link], str, int], dict[str, Any]],
    view: ApprovalView,
    new_link: Callable[[str], Link],
    expires_at: str,
    round_: int,
    deps: ApprovalDependencies,
) -> dict[str, Any]:
    def message() -> dict[str, Any]:
        return compose(view, [new_link(f"{name} channel")], expires_at, round_)

    try:
        status = deps.post_chat(secret_arn, message)
    except (ChatNotSent, OpsPilotError) as exc:
        deps.log.warning("chat message not sent", extra={"channel": name, "error": str(exc)[:200]})
        return {"channel": name, "status": "failed", "error": str(exc)[:200]}
    return {"channel": name, "status": "sent", "http_status": status}
