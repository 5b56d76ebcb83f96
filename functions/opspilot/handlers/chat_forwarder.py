"""Chat Forwarder: every incident notification on the topic (opened/acted, resolved, failed,
quota decisions) also goes to the configured Slack and Teams webhooks. Subscribed to the topic
with a filter that leaves out approval requests (RequestApproval posts those itself)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from opspilot.adapters import webhooks
from opspilot.domain.chat_messages import slack_notification, teams_notification
from opspilot.domain.errors import OpsPilotError
from opspilot.handlers._runtime import logger
from opspilot.settings import chat_settings


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = chat_settings()
    targets = [
        ("slack", settings.slack_webhook_secret_arn, slack_notification),
        ("teams", settings.teams_webhook_secret_arn, teams_notification),
    ]
    sent: list[dict[str, Any]] = []
    for record in event.get("Records") or []:
        sns = record.get("Sns") or {}
        subject, message = str(sns.get("Subject") or "OpsPilot"), str(sns.get("Message") or "")
        for name, arn, compose in targets:
            if not arn:
                continue
            try:
                status = webhooks.post_json(webhooks.webhook_url(arn), compose(subject, message))
                sent.append({"channel": name, "status": status})
            except (webhooks.WebhookError, OpsPilotError) as exc:  # email stays the channel of record
                logger.warning("chat notification not sent", extra={"channel": name, "error": str(exc)[:200]})
                sent.append({"channel": name, "status": "failed"})
    return {"sent": sent}
