"""Incident notifications for chat: the same subject and text as the email, as a Slack message
(Block Kit) or a Microsoft Teams Adaptive Card. Approval requests have their own (approval_messages)."""

from __future__ import annotations

from typing import Any

_MAX_TEXT = 2900  # Slack section text is limited to 3,000 characters


def slack_notification(subject: str, message: str) -> dict[str, Any]:
    body = message if len(message) <= _MAX_TEXT else message[: _MAX_TEXT - 20] + "\n... (see email)"
    return {
        "text": subject,
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": subject[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": f"```{body}```"}},
        ],
    }


def teams_notification(subject: str, message: str) -> dict[str, Any]:
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
            {"type": "TextBlock", "text": subject, "weight": "Bolder", "size": "Medium", "wrap": True},
            {"type": "TextBlock", "text": message, "wrap": True, "fontType": "Monospace"},
        ],
    }
    return {
        "type": "message",
        "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "content": card}],
    }
