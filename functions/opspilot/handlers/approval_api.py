"""Approval callbacks (HTTP API, payload 2.0): GET and HEAD show the confirm page, POST decides.

Routed by Powertools' ``APIGatewayHttpResolver``: one route for ``/approvals/<approval_id>``, the
refusals of a form mapped to their pages in one exception handler, and every other path or method
answered by the not-found handler (404 unknown link, 405 with ``Allow``).

GET and HEAD never decide anything: link scanners in mail and chat open links before people do.
A POST must carry the page's anti-forgery token; the decision is a conditional update
PENDING -> DECIDED of the approval request (once, for every approver's link), then
SendTaskSuccess or SendTaskFailure. The decision, the incident's approval and the audit entry are
one DynamoDB transaction; a decision the workflow could not receive is undone in another (the link
works again), or, if even that fails, waits in the request (its outbox) and the next visit to a
link delivers it. Every answer is a page that says what happened.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from opspilot.adapters.messaging import deliver_decision
from opspilot.domain import approval_page as pages
from opspilot.domain.approvals import (
    LINK_ID,
    ROUNDS,
    ApprovalView,
    Decision,
    LinkState,
    Refusal,
    check_same_origin,
    form_token,
    headers_of,
    link_key,
    log_label,
    parse_decision,
    read_form,
    state_of,
    token_matches,
    workflow_output,
)
from opspilot.domain.errors import OpsPilotError, TaskNoLongerWaiting
from opspilot.domain.format import iso
from opspilot.handlers._approval_runtime import approvals, count, publishes_metrics, record_pending
from opspilot.handlers._runtime import bind_execution, logger, now, store

ALLOWED_METHODS = ("GET", "HEAD", "POST")


def _respond(status: int, document: str, method: str, **extra: str) -> Response[str]:
    """Every answer is a page (HEAD: its headers only), with the pages' security headers."""
    return Response(
        status_code=status,
        body="" if method == "HEAD" else document,
        headers={**pages.HEADERS, **extra},
    )


def _closed(state: LinkState, request: dict[str, Any]) -> tuple[int, str]:
    """The page for a link that can no longer decide anything."""
    decision = request.get("decision") or {}
    if state is LinkState.DECIDED:
        return 409, pages.already_decided_page(decision)
    if state is LinkState.MOVED_ON:
        return 409, pages.moved_on_page(decision)
    if state is LinkState.SUPERSEDED:
        return 410, pages.superseded_page(str(request.get("superseded_at")))
    return 410, pages.expired_page(str(request.get("expires_at")), int(request.get("round", 1)))


def _read_decision(
    event: dict[str, Any], request: dict[str, Any], link_hash: str, view: ApprovalView
) -> Decision:
    headers = headers_of(event)
    check_same_origin(headers)
    form = read_form(event.get("body"), bool(event.get("isBase64Encoded")), headers.get("content-type", ""))
    presented = form.get("token") or []
    if len(presented) != 1 or not token_matches(str(request["form_key"]), link_hash, presented[0]):
        raise Refusal(403, "Form not accepted", "This form does not belong to this approval link.")
    return parse_decision(form, view)


def _decide(
    event: dict[str, Any], link: dict[str, Any], request: dict[str, Any], decision: Decision, at: datetime
) -> tuple[int, str]:
    """Record the decision and its consequences in one transaction, then deliver it. Either the
    workflow gets it and it is recorded, or nothing is decided and the link still works."""
    http = (event.get("requestContext") or {}).get("http") or {}
    ref, round_ = str(request["ref"]), int(request.get("round", 1))
    detail = {
        "decision": decision.decision,
        "status": decision.status,
        "by": link["approver"],
        "at": iso(at),
        "comment": decision.comment,
        "values": decision.values,
        "round": round_,
        "link": log_label(link_key(str(event["pathParameters"]["approval_id"]))),
        "source_ip": http.get("sourceIp"),
        "user_agent": str(http.get("userAgent") or "")[:300],
    }
    output = workflow_output(decision, str(link["approver"]), detail["at"], round_)
    incident_id = str(request["incident_id"])
    # written with the decision, before the workflow resumes: RecordOutcome reads who rejected here
    consequences = [
        store().set_fields_write(
            incident_id, {"approval": {"required": True, **output}, "updated_at": iso(at)}
        ),
        store().audit_write(incident_id, f"approval_{decision.status}", detail, at),
    ]
    try:
        decided = approvals().decide(ref, detail, at, output, also=consequences)
    except (OpsPilotError, ClientError) as exc:  # nothing was written: the link still works
        logger.error("decision not recorded", extra={"error": str(exc)[:300]})
        return 503, pages.refusal_page(
            "Decision not recorded",
            "Your decision could not be recorded, so nothing was changed and the approval is still "
            "open. Please try again in a minute.",
        )
    if not decided:
        fresh = approvals().get_request(ref) or request
        return _closed(state_of(fresh, iso(now())), fresh)
    return _deliver({**request, "decision": detail, "output": output, "delivery": "pending"}, at, first=True)


def _deliver(request: dict[str, Any], at: datetime, *, first: bool) -> tuple[int, str]:
    """SendTaskSuccess or SendTaskFailure for a recorded decision (its outbox is the request).
    ``first``: right after deciding; otherwise a later visit delivers what an earlier one could not."""
    ref, round_, incident_id = str(request["ref"]), int(request.get("round", 1)), str(request["incident_id"])
    detail, output = dict(request["decision"]), dict(request["output"])
    try:
        deliver_decision(str(request["task_token"]), str(detail["decision"]), output)
    except TaskNoLongerWaiting as exc:
        if not first:  # the first delivery may have reached it: say only what is known
            _safely(approvals().mark_delivered, ref, "unconfirmed")
            return 409, pages.already_decided_page(detail)
        after = "expired" if round_ >= ROUNDS else "escalated"
        late = {"required": True, "status": after, "late_decision": output}
        _safely(
            approvals().mark_moved_on,
            ref,
            str(exc),
            at,
            also=[
                store().set_fields_write(incident_id, {"approval": late, "updated_at": iso(at)}),
                store().audit_write(incident_id, "approval_too_late", {**detail, "error": str(exc)}, at),
            ],
        )
        count("ApprovalDecisionsTooLate")
        logger.warning("decision reached a workflow that no longer waits", extra={"error": str(exc)})
        return 409, pages.moved_on_page(detail)
    except (OpsPilotError, ClientError) as exc:  # throttled or denied after retries
        if first and _undo(request, at, detail, str(exc)):
            logger.error(
                "decision not delivered to the workflow; approval reopened", extra={"error": str(exc)}
            )
            return 503, pages.refusal_page(
                "Decision not delivered",
                "Your decision could not reach the workflow, so nothing was changed and the approval "
                "is open again. Please try again in a minute.",
            )
        logger.error("decision recorded, not yet delivered", extra={"error": str(exc)[:300]})
        count("ApprovalDeliveriesPending")
        return 503, pages.refusal_page(
            "Decision not yet delivered",
            f"The decision ({detail['status']} by {detail['by']}) is recorded but could not reach the "
            "workflow yet. Open the link again in a minute to deliver it.",
        )
    _safely(approvals().mark_delivered, ref)
    count("ApprovalsApproved" if detail["decision"] == "approve" else "ApprovalsRejected")
    record_pending(at)
    logger.info("approval decided", extra={"decision": detail["decision"], "round": round_, "first": first})
    view = ApprovalView.parse(request["view"])
    return 200, pages.decided_page(detail, view)


def _undo(request: dict[str, Any], at: datetime, detail: dict[str, Any], error: str) -> bool:
    """The decision did not reach the workflow: reopen the request, and say so in the incident, in
    one transaction. False when even that failed (the decision then waits in its outbox)."""
    incident_id = str(request["incident_id"])
    pending = {"approval": {"required": True, "status": "pending"}, "updated_at": iso(at)}
    return _safely(
        approvals().reopen,
        str(request["ref"]),
        iso(at),
        str(request["expires_at"]),
        also=[
            store().set_fields_write(incident_id, pending),
            store().audit_write(incident_id, "approval_not_delivered", {**detail, "error": error}, at),
        ],
    )


def _safely(write: Callable[..., bool], *args: Any, **kwargs: Any) -> bool:
    """A bookkeeping write after the decision: a failure is logged, never raised to the approver."""
    try:
        return bool(write(*args, **kwargs))
    except (OpsPilotError, ClientError) as exc:
        logger.error(
            "approval bookkeeping not written", extra={"write": write.__name__, "error": str(exc)[:300]}
        )
        return False


app = APIGatewayHttpResolver()


@app.route("/approvals/<approval_id>", method=["GET", "HEAD", "POST"])
def approval(approval_id: str) -> Response[str]:
    """GET and HEAD show the page (never decide); POST decides, with the page's token."""
    event, method = app.current_event.raw_event, app.current_event.request_context.http.method.upper()
    if not LINK_ID.match(approval_id):
        return _respond(404, pages.unknown_link_page(), method)
    link_hash = link_key(approval_id)
    logger.append_keys(link=log_label(link_hash))
    link = approvals().get_link(link_hash)
    request = approvals().get_request(str(link["ref"])) if link else None
    if link is None or request is None:
        return _respond(404, pages.unknown_link_page(), method)
    bind_execution(request)  # the decision's log lines carry the execution it answers
    at = now()
    state = state_of(request, iso(at))
    if state is LinkState.DECIDED and request.get("delivery") == "pending" and method != "HEAD":
        return _respond(*_deliver(request, at, first=False), method)  # recorded, not yet delivered
    if state is not LinkState.PENDING:
        return _respond(*_closed(state, request), method)
    view = ApprovalView.parse(request["view"])
    if method != "POST":
        token = form_token(str(request["form_key"]), link_hash)
        page = pages.confirm_page(
            view, str(link["approver"]), int(request["round"]), str(request["expires_at"]), token, at
        )
        return _respond(200, page, method)
    decision = _read_decision(event, request, link_hash, view)  # Refusal: refused() answers
    return _respond(*_decide(event, link, request, decision, at), method)


@app.exception_handler(Refusal)  # type: ignore[untyped-decorator]  # Powertools types it Callable
def refused(refusal: Refusal) -> Response[str]:
    """A POST that cannot decide (forged or missing token, cross-site, bad form): what was wrong."""
    logger.info("decision refused", extra={"status": refusal.status, "reason": refusal.title})
    page = pages.refusal_page(refusal.title, refusal.message)
    return _respond(refusal.status, page, app.current_event.request_context.http.method.upper())


@app.not_found
def elsewhere(_: Exception) -> Response[str]:
    """Any other path is an unknown link; any other method on a link is not allowed."""
    method = app.current_event.request_context.http.method.upper()
    if method not in ALLOWED_METHODS:
        page = pages.refusal_page("Method not allowed", "Open the link, then use the page's buttons.")
        return _respond(405, page, method, allow=", ".join(ALLOWED_METHODS))
    return _respond(404, pages.unknown_link_page(), method)


@logger.inject_lambda_context(clear_state=True)
@publishes_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
