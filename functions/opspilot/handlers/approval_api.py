"""Approval callbacks (HTTP API, payload v2): GET shows the confirm page, POST decides.

GET and HEAD never decide anything: link scanners in mail and chat open links before people do.
A decision is a conditional update PENDING -> DECIDED, so it happens at most once.
"""

from __future__ import annotations

import base64
import html
import re
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from aws_lambda_powertools.utilities.typing import LambdaContext

from opspilot.adapters.incidents import iso
from opspilot.adapters.messaging import fail_workflow_task, resume_workflow
from opspilot.domain.format import number
from opspilot.handlers._runtime import logger, now, store
from opspilot.handlers.request_approval import approval_key

_ID = re.compile(r"^[A-Za-z0-9_-]{32}$")
_MAX_BODY = 4096


def _page(status: int, title: str, body: str) -> dict[str, Any]:
    document = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width,initial-scale=1'>"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}"
        "button{font-size:1rem;padding:.5rem 1.2rem;margin-right:1rem}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return {
        "statusCode": status,
        "headers": {
            "content-type": "text/html; charset=utf-8",
            "cache-control": "no-store",
            "x-frame-options": "DENY",
            "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
            "referrer-policy": "no-referrer",
        },
        "body": document,
    }


def _target(action: dict[str, Any]) -> str:
    params = action["params"]
    if "QuotaCode" in params:
        return f"{params['QuotaCode']} -> {number(params['DesiredValue'])}"
    return str(params.get("subject", ""))


def _confirm_page(approval_id: str, record: dict[str, Any]) -> dict[str, Any]:
    incident, plan = record.get("incident", {}), record.get("plan", {})
    rows = "".join(
        f"<tr><td>{html.escape(a['type'])}</td><td><code>{html.escape(_target(a))}</code></td>"
        f"<td>{html.escape(a['reason'])}</td></tr>"
        for a in plan.get("actions", [])
    )
    approvers = "".join(
        f"<option>{html.escape(a)}</option>" for a in record.get("approvers", []) or ["approver"]
    )
    body = (
        f"<p>Incident <code>{html.escape(str(incident.get('incident_id')))}</code>: "
        f"{html.escape(str(incident.get('category')))} on "
        f"<b>{html.escape(str(incident.get('model_id')))}</b> "
        f"in {html.escape(str(incident.get('region')))}.</p>"
        f"<p>Scenario <b>{html.escape(str(plan.get('scenario')))}</b>, policy rule "
        f"<code>{html.escape(str(plan.get('rule')))}</code>: {html.escape(str(plan.get('summary')))}</p>"
        f"<h2>What will change</h2><table><tr><th>action</th><th>target</th><th>why</th></tr>{rows}</table>"
        f"<p>Link valid until {html.escape(str(record.get('expires_at')))}.</p>"
        f"<form method=post action='{html.escape(approval_id)}'>"
        f"<p><label>Approver <select name=approver>{approvers}</select></label></p>"
        "<p><label>Comment <input name=comment maxlength=500></label></p>"
        "<button name=decision value=approve>Approve</button>"
        "<button name=decision value=reject>Reject</button></form>"
    )
    return _page(200, "OpsPilot approval", body)


def _form(event: dict[str, Any]) -> dict[str, str] | None:
    raw = event.get("body") or ""
    if event.get("isBase64Encoded"):
        raw = base64.b64decode(raw).decode("utf-8", "replace")
    content_type = {k.lower(): v for k, v in (event.get("headers") or {}).items()}.get("content-type", "")
    if len(raw) > _MAX_BODY or not content_type.startswith("application/x-www-form-urlencoded"):
        return None
    return {k: v[0] for k, v in parse_qs(raw, max_num_fields=10).items()}


def _expired(record: dict[str, Any], at: datetime) -> bool:
    return str(record.get("expires_at", "")) <= iso(at)


def _decide(approval_id: str, record: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
    form = _form(event)
    if form is None:
        return _page(400, "Bad request", "<p>Expected a small HTML form submission.</p>")
    decision = form.get("decision")
    if decision not in {"approve", "reject"}:
        return _page(400, "Bad request", "<p>Field 'decision' must be 'approve' or 'reject'.</p>")
    approvers = record.get("approvers") or ["approver"]
    by = form.get("approver", "")
    if by not in approvers:
        return _page(
            403, "Not an approver", "<p>Field 'approver' is not one of this approval's approvers.</p>"
        )
    at = now()
    http = (event.get("requestContext") or {}).get("http") or {}
    detail = {
        "decision": decision,
        "by": by,
        "at": iso(at),
        "comment": form.get("comment", "")[:500],
        "source_ip": http.get("sourceIp"),
        "user_agent": http.get("userAgent"),
    }
    if not store().decide_approval(approval_key(approval_id), detail, at):
        return _page(409, "Already decided", "<p>This approval was already decided or has expired.</p>")
    status = "approved" if decision == "approve" else "rejected"
    output = {"status": status, "by": by, "at": detail["at"], "comment": detail["comment"]}
    store().update_incident(record["incident_id"], at, approval={"required": True, **output})
    store().append_audit(record["incident_id"], f"approval_{status}", detail, at)
    if decision == "approve":
        resume_workflow(record["task_token"], output)
    else:
        fail_workflow_task(record["task_token"], "ApprovalRejected", output)
    return _page(
        200,
        f"Decision recorded: {status}",
        f"<p>{html.escape(status)} by {html.escape(by)} at {detail['at']}.</p>",
    )


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    method = ((event.get("requestContext") or {}).get("http") or {}).get("method", "GET").upper()
    approval_id = (event.get("pathParameters") or {}).get("approval_id", "")
    if not _ID.match(approval_id):
        return _page(404, "Unknown approval link", "<p>This link is not valid.</p>")
    logger.append_keys(approval_id_prefix=approval_id[:6])
    record = store().get_approval(approval_key(approval_id))
    if record is None:
        return _page(404, "Unknown approval link", "<p>This link is not valid.</p>")
    if record.get("status") != "PENDING":
        decision = record.get("decision", {})
        return _page(
            409,
            "Already decided",
            f"<p>{html.escape(str(decision.get('decision')))} by {html.escape(str(decision.get('by')))} "
            f"at {html.escape(str(decision.get('at')))}.</p>",
        )
    if _expired(record, now()):
        return _page(410, "Approval expired", "<p>This approval has expired; nothing was changed.</p>")
    if method in {"GET", "HEAD"}:
        return _confirm_page(approval_id, record)
    if method == "POST":
        return _decide(approval_id, record, event)
    return _page(405, "Method not allowed", "<p>Use the page's buttons.</p>")
