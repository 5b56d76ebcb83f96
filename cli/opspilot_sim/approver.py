"""A simulated approver: opens the emailed link, reads the page's form, presses a button.

Requests reach the real approval handler as API Gateway HTTP API (payload 2.0) events, the shape
``events/approval-get.json`` and ``events/approval-post.json`` show, so the handler cannot tell
the simulator from API Gateway. The form is read from the page the way a browser would: no token
is invented, a page without a form cannot be answered.
"""

from __future__ import annotations

import base64
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from opspilot.domain.approvals import DEFAULT_APPROVER
from opspilot_sim import moto_shim
from opspilot_sim.approval_report import pending_approvals

if TYPE_CHECKING:
    from opspilot_sim.scenario_run import ScenarioRun

LINK = re.compile(r"(https?://[^\s\"'<>]+)?/approvals/([A-Za-z0-9_-]{32})")
TOKEN = re.compile(r'<input type="hidden" name="token" value="([^"]+)">')
OFFLINE_HOST = "offline.execute-api.us-east-1.amazonaws.com"


def approval_event(
    link_id: str,
    method: str,
    body: str | bytes | None = None,
    *,
    headers: dict[str, str] | None = None,
    query: str = "",
    source_ip: str = "198.51.100.7",
    user_agent: str = "opspilot-simulator",
    host: str = OFFLINE_HOST,
) -> dict[str, Any]:
    """An HTTP API payload 2.0 request for ``/approvals/<link_id>``; bodies base64-encoded as
    API Gateway passes form posts."""
    at = datetime.now(UTC)
    all_headers = {
        "host": host,
        "user-agent": user_agent,
        **{k.lower(): v for k, v in (headers or {}).items()},
    }
    raw = body.encode() if isinstance(body, str) else body
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": f"{method} /approvals/{{approval_id}}",
        "rawPath": f"/approvals/{link_id}",
        "rawQueryString": query,
        "headers": all_headers,
        "requestContext": {
            "domainName": host,
            "http": {
                "method": method,
                "path": f"/approvals/{link_id}",
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": user_agent,
            },
            "requestId": uuid.uuid4().hex[:16],
            "routeKey": f"{method} /approvals/{{approval_id}}",
            "stage": "$default",
            "time": at.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(at.timestamp() * 1000),
        },
        "pathParameters": {"approval_id": link_id},
        "isBase64Encoded": raw is not None,
    }
    if query:
        event["queryStringParameters"] = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
    if raw is not None:
        event["body"] = base64.b64encode(raw).decode()
    return event


def call(event: dict[str, Any]) -> dict[str, Any]:
    """The approval handler's response to one request."""
    from opspilot.handlers import approval_api

    ctx: Any = moto_shim.LambdaContextStub(function_name="ApprovalCallbackFunction")
    return dict(approval_api.handler(event, ctx))


@dataclass
class Click:
    page_status: int
    answer_status: int | None
    page: str
    answer: str


def click(
    link_id: str,
    decision: str,
    comment: str = "",
    values: dict[str, float] | None = None,
    user_agent: str = "opspilot-simulator",
) -> Click:
    """Open the confirm page, fill in its form, press Approve or Reject."""
    page = call(approval_event(link_id, "GET", user_agent=user_agent))
    found = TOKEN.search(str(page["body"]))
    if found is None:
        return Click(int(page["statusCode"]), None, str(page["body"]), "")
    fields: dict[str, str] = {"token": found.group(1), "decision": decision, "comment": comment}
    fields.update({f"desired.{code}": f"{value:g}" for code, value in (values or {}).items()})
    answer = call(
        approval_event(
            link_id,
            "POST",
            urlencode(fields),
            headers={
                "content-type": "application/x-www-form-urlencoded",
                "origin": f"https://{OFFLINE_HOST}",
                "sec-fetch-site": "same-origin",
            },
            user_agent=user_agent,
        )
    )
    return Click(int(page["statusCode"]), int(answer["statusCode"]), str(page["body"]), str(answer["body"]))


def webhook_secrets(scenario: dict[str, Any], region: str) -> dict[str, str]:
    """The scenario's chat webhooks, stored in (moto's) Secrets Manager as the template expects;
    returns the stack parameters that name the secrets."""
    import boto3

    parameters = {}
    names = {"slack": "SlackWebhookSecretArn", "teams": "TeamsWebhookSecretArn"}
    for channel, url in (scenario.get("webhooks") or {}).items():
        secrets = boto3.client("secretsmanager", region_name=region)
        arn = secrets.create_secret(Name=f"opspilot/{channel}-webhook", SecretString=url)["ARN"]
        parameters[names[channel]] = arn
    return parameters


def _script(run: ScenarioRun, spec: dict[str, Any], round_: int) -> tuple[str, str]:
    """What the scenario says happens to round ``round_``: the decision and who makes it."""
    params = run.stack.parameters

    def first(name: str) -> str | None:
        return next((a.strip() for a in params.get(name, "").split(",") if a.strip()), None)

    if round_ == 1:
        return spec.get("approval", "approve"), spec.get("approver") or first(
            "ApproverEmails"
        ) or DEFAULT_APPROVER
    who = (
        spec.get("escalated_approver")
        or first("EscalationApproverEmails")
        or first("ApproverEmails")
        or DEFAULT_APPROVER
    )
    return spec.get("escalated_approval", "timeout"), who


def answer(run: ScenarioRun, spec: dict[str, Any]) -> None:
    """Act on every approval link that arrived since the last call: in interactive mode show it to
    the person at the terminal, otherwise click it as the scenario says (only the link sent to
    the approver who decides; the others stay unopened). What is pending when links arrive is
    kept for the report."""
    arrived = []
    new_notes, run.scanned = run.notifications[run.scanned :], len(run.notifications)
    for note in new_notes:  # a storm's run holds thousands: each is looked at once
        found = LINK.search(note.get("message") or "")
        if found and found.group(2) not in run.answered:
            run.answered.add(found.group(2))
            arrived.append((note, found))
    if not arrived:
        return
    pending = pending_approvals(run)
    run.pending_seen.extend(p for p in pending if p not in run.pending_seen)
    for note, found in arrived:
        round_ = int(note.get("approval_round") or 1)
        approver = note.get("approver") or DEFAULT_APPROVER
        if run.interactive is not None:
            run.interactive.offer(approver, found.group(0), round_, note)
            continue
        decision, who = _script(run, spec, round_)
        if decision == "timeout" or approver != who:
            continue
        values = spec.get("approved_values") if round_ == (2 if "escalated_approval" in spec else 1) else None
        result = click(found.group(2), decision, spec.get("comment", ""), values)
        note["clicked"] = {
            "decision": decision,
            "by": who,
            "round": round_,
            "http_status": [result.page_status, result.answer_status],
        }
    if run.interactive is not None:
        run.interactive.pending(pending)
