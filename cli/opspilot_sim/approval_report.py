"""The approval part of the simulator report: each round's links and outcome, the approvals still
pending, and the chat messages captured at the HTTP boundary."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from opspilot.adapters.approvals import ApprovalStore
from opspilot.domain.approvals import ROUNDS, request_ref, state_of
from opspilot.domain.format import iso, number

if TYPE_CHECKING:
    from opspilot_sim.scenario_run import ScenarioRun


def _store(run: ScenarioRun) -> ApprovalStore:
    return ApprovalStore(run.stack.table_name, run.client("dynamodb"))


def approval_rounds(run: ScenarioRun, execution_arn: str) -> list[dict[str, Any]]:
    """The approval requests of one execution (at most one per round), as the table holds them."""
    rounds = []
    now_iso = iso(datetime.now(UTC))
    for round_ in range(1, ROUNDS + 1):
        request = _store(run).get_request(request_ref(execution_arn, round_))
        if request is None:
            continue
        decision = request.get("decision") or {}
        rounds.append(
            {
                "round": round_,
                "approvers": request.get("approvers", []),
                "status": state_of(request, now_iso).value,
                "expires_at": request.get("expires_at"),
                "channels": request.get("channels", []),
                "decision": {
                    k: decision.get(k)
                    for k in ("status", "by", "at", "comment", "values", "source_ip", "user_agent")
                }
                if decision
                else None,
            }
        )
    return rounds


def pending_approvals(run: ScenarioRun) -> list[dict[str, Any]]:
    """Approval requests still waiting for a decision now (what the PendingApprovals metric counts)."""
    return [
        {k: item.get(k) for k in ("incident_id", "round", "approvers", "created_at", "expires_at")}
        for item in _store(run).pending(datetime.now(UTC))
    ]


def chat_messages(run: ScenarioRun) -> list[dict[str, Any]]:
    return [
        {
            "channel": post.channel,
            "host": post.host,
            "title": _title(post.payload),
            "buttons": [b["title"] for b in post.buttons()],
        }
        for post in run.chat.posts
    ]


def _title(payload: dict[str, Any]) -> str:
    """A chat message's headline: Slack's ``text``, or the first TextBlock of a Teams card."""
    if "text" in payload:
        return str(payload["text"])
    for attachment in payload.get("attachments") or []:
        for block in (attachment.get("content") or {}).get("body") or []:
            if block.get("type") == "TextBlock":
                return str(block.get("text", ""))
    return ""


def render(incident: dict[str, Any]) -> list[str]:
    """Text lines for one incident's approval rounds."""
    lines = []
    for r in incident.get("approval_rounds") or []:
        sent = ", ".join(
            c["channel"] + ("" if c["status"] == "sent" else f" ({c['status']})") for c in r["channels"]
        )
        outcome = r["status"]
        decision = r.get("decision")
        if decision and r["status"] in {"decided", "moved_on"}:
            outcome += f": {decision['status']} by {decision['by']}"
            for action_id, value in (decision.get("values") or {}).items():
                outcome += f", {action_id.rsplit(':', 1)[-1]} lowered to {number(value)}"
        who = ", ".join(r["approvers"])
        lines.append(f"   approval round {r['round']} to {who} via {sent or 'nothing'}: {outcome}")
    return lines


def render_summary(report: dict[str, Any]) -> list[str]:
    lines = []
    for chat in report.get("chat_messages") or []:
        lines.append(f"   chat {chat['channel']} ({chat['host']}): buttons {', '.join(chat['buttons'])}")
    for p in report.get("pending_approvals_seen") or []:
        who = ", ".join(p["approvers"])
        lines.append(
            f"   pending while running: incident {p['incident_id']} round {p['round']} ({who}) "
            f"until {p['expires_at']}"
        )
    pending = report.get("pending_approvals") or []
    lines.append(f"   pending approvals at the end: {len(pending) or 'none'}")
    for p in pending:
        lines.append(f"     incident {p['incident_id']} round {p['round']} until {p['expires_at']}")
    return lines
