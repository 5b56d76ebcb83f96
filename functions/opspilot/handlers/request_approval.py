"""Request Approval: store the task token behind one approval request, send one link per approver.

Invoked by ``WaitForApproval`` (round 1, the approvers) and, after its timeout,
``WaitForEscalatedApproval`` (round 2, the escalation group), both ``.waitForTaskToken``. The work
is :func:`opspilot.services.approval_request.request_approval`; this module binds it to AWS.

Also invoked every five minutes by the template's ``PendingApprovalGauges`` schedule, whose input
is :data:`GAUGES_EVENT`: it then only writes the pending-approval gauges, so that the oldest
pending approval's age grows on the dashboard (and an alarm on it can fire) while nobody answers.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from opspilot.adapters.messaging import deliver_decision, publish
from opspilot.handlers._approval_runtime import approvals, count, publishes_metrics, record_pending
from opspilot.handlers._runtime import bind_execution, logger, now, state_part, store
from opspilot.services.approval_request import (
    ApprovalDependencies,
    ApprovalRequest,
    ChatNotSent,
    request_approval,
)
from opspilot.settings import approval_settings

GAUGES_EVENT = {"refresh": "pending_approvals"}  # the schedule's Input in template.yaml


def _post_chat(secret_arn: str, message: Callable[[], dict[str, Any]]) -> int:
    """One chat webhook. ``message()`` stores the channel's link first. A webhook failure, or an
    AWS error ``raise_translated`` passes on as a ClientError, means the channel was not sent."""
    from opspilot.adapters import webhooks  # urllib.request only where a webhook is configured

    try:
        payload = message()
        return webhooks.post_json(webhooks.webhook_url(secret_arn), payload)
    except (webhooks.WebhookError, ClientError) as exc:
        raise ChatNotSent(str(exc)) from exc


@logger.inject_lambda_context(clear_state=True)
@publishes_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if event == GAUGES_EVENT:
        return {"pending_approvals": record_pending(now())}
    bind_execution(event)
    settings = approval_settings()
    request = ApprovalRequest(
        execution_id=str(state_part(event, "execution_id")),
        task_token=str(state_part(event, "task_token")),
        incident=state_part(event, "state", "incident"),
        plan=state_part(event, "state", "plan"),
        round_=int(event.get("round") or 1),
        context=event["state"].get("context") or {},
        entered_at=event.get("entered_at"),
    )
    deps = ApprovalDependencies(
        approvals=approvals(),
        incidents=store(),
        publish=publish,
        post_chat=_post_chat,
        count=count,
        record_pending=record_pending,
        now=now,
        token_bytes=secrets.token_bytes,
        token_urlsafe=secrets.token_urlsafe,
        log=logger,
        deliver=deliver_decision,
    )
    return request_approval(request, settings, deps)
