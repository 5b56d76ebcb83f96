"""Chat Forwarder: every incident notification on the topic (opened/acted, resolved, failed,
quota decisions) also goes to the configured Slack and Teams webhooks. Subscribed to the topic
with a filter that leaves out approval requests (RequestApproval posts those itself)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from opspilot.adapters import webhooks
from opspilot.domain.aws_events import SnsEvent
from opspilot.domain.base import RecordError
from opspilot.domain.chat_messages import slack_notification, teams_notification
from opspilot.domain.errors import InvalidInput, OpsPilotError
from opspilot.handlers._runtime import logger
from opspilot.settings import chat_settings


def _url(secret_arn: str, known: dict[str, str | Exception]) -> str:
    """The channel's webhook URL, read once per invocation, not once per record (and kept by the
    adapter for its max age across invocations); a failure to read it, too, is not retried per
    record."""
    if secret_arn not in known:
        try:
            known[secret_arn] = webhooks.webhook_url(secret_arn)
        except (webhooks.WebhookError, OpsPilotError, ClientError) as exc:
            known[secret_arn] = exc
    found = known[secret_arn]
    if isinstance(found, Exception):
        raise found
    return found


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = chat_settings()
    targets = [
        ("slack", settings.slack_webhook_secret_arn, slack_notification),
        ("teams", settings.teams_webhook_secret_arn, teams_notification),
    ]
    try:  # a malformed event fails the invocation: after Lambda's retries it lands in the queue
        records = SnsEvent.parse(event).records
    except RecordError as exc:
        logger.error("notification event not readable", extra={"field": exc.field, "error": exc.message})
        raise InvalidInput(str(exc)) from exc
    urls: dict[str, str | Exception] = {}
    sent: list[dict[str, Any]] = []
    for record in records:
        subject, message = record.sns.subject or "OpsPilot", record.sns.message
        for name, arn, compose in targets:
            if not arn:
                continue
            try:
                status = webhooks.post_json(_url(arn, urls), compose(subject, message))
                sent.append({"channel": name, "status": status})
            except (webhooks.WebhookError, OpsPilotError, ClientError) as exc:  # email stays the record
                logger.warning("chat notification not sent", extra={"channel": name, "error": str(exc)[:200]})
                sent.append({"channel": name, "status": "failed"})
    return {"sent": sent}
