"""Chat incoming webhooks (Slack, Microsoft Teams): the URL from Secrets Manager, then one POST.

A webhook URL is a credential (whoever has it can post to the channel): it is read from Secrets
Manager through Powertools Parameters (``SecretsProvider``), kept in memory for
:data:`SECRET_MAX_AGE_SECONDS` (a rotated URL is used within that), never logged, and never part
of an error message.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

from opspilot.adapters.aws import client, raise_provider_error

TIMEOUT_SECONDS = 5
SECRET_MAX_AGE_SECONDS = 300  # a warm function reads each webhook secret at most every 5 minutes


class WebhookError(RuntimeError):
    """A chat message could not be posted. The message never contains the URL."""


@cache
def _secrets() -> SecretsProvider:
    return SecretsProvider(boto3_client=client("secretsmanager"))


def webhook_url(secret_arn: str) -> str:
    """The secret's value: the URL itself, or JSON with a ``url`` (or ``webhook_url``) field."""
    try:
        value = _secrets().get(secret_arn, max_age=SECRET_MAX_AGE_SECONDS)
    except GetParameterError as exc:
        raise_provider_error(exc, "Secrets Manager GetSecretValue")
    if not isinstance(value, str):
        raise WebhookError("webhook secret: a binary secret, not a URL")
    text = value.strip()
    if text.startswith("{"):
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise WebhookError("webhook secret: not a URL and not valid JSON") from exc
        text = str(doc.get("url") or doc.get("webhook_url") or "") if isinstance(doc, dict) else ""
    if not text.startswith("https://"):
        raise WebhookError("webhook secret: the URL must start with https://")
    return text


def post_json(url: str, payload: dict[str, Any]) -> int:
    """POST ``payload`` as JSON; the HTTP status. Raises ``WebhookError`` on any failure."""
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        headers={"content-type": "application/json", "user-agent": "opspilot"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        raise WebhookError(f"HTTP {exc.code}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise WebhookError(type(exc).__name__) from None
