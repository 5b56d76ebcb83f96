"""The messages that carry approval links: one plain-text email per approver, one Slack and one
Microsoft Teams message per round (a button per approver, each opening that approver's page).

Pure: each function returns the text or the JSON document to send.
"""

from __future__ import annotations

from typing import Any

from opspilot.domain.approval_page import clock
from opspilot.domain.approvals import ROUNDS, ApprovalView
from opspilot.domain.format import number
from opspilot.domain.labels import label

_RULE = "-" * 60


def _changes(view: ApprovalView) -> list[str]:
    lines = [
        f"  - {c.quota_code} {c.quota_name}: {number(c.current) if c.current is not None else 'unknown'}"
        f" -> {number(c.requested)}"
        for c in view.quota_changes
    ]
    lines += [
        f"  - open support case ({label('case_severity', c.severity)}): {c.subject}" for c in view.cases
    ]
    return lines or ["  - none"]


def _subject(view: ApprovalView, round_: int) -> str:
    prefix = "Approval needed" if round_ == 1 else "Escalated approval needed"
    # what it is about before the model id: a long model ARN may be cut at SNS's 100 characters
    return f"[OpsPilot] {prefix}: {label('category', view.category)} on {view.model_id}"[:100]


def approval_email(
    view: ApprovalView, approver: str, link: str, expires_at: str, round_: int, timeout_seconds: int
) -> tuple[str, str]:
    """Subject and plain-text body of the email that carries one approver's link."""
    lines = [
        f"Incident:  {view.incident_id}",
        f"Model:     {view.model_id} ({view.region})",
        f"Category:  {label('category', view.category)}   Severity: {label('severity', view.severity)}",
        f"Alarm:     {view.alarm_name}",
        f"Scenario:  {label('scenario', view.scenario)}   Policy rule: {view.rule}",
        f"Why:       {view.summary}",
        *(f"Forecast:  {line}" for line in view.forecast),
        _RULE,
        "Planned changes:",
        *_changes(view),
        _RULE,
    ]
    if round_ > 1:
        lines += [
            f"Escalated: the first approvers did not decide within {_duration(timeout_seconds)}.",
            f"This is the last round ({round_} of {ROUNDS}): without a decision nothing is changed.",
            "",
        ]
    lines += [
        f"Review and decide as {approver} (link valid until {clock(expires_at)}).",
        "This link is yours alone: it decides as you. Opening it changes nothing.",
        link,
    ]
    return _subject(view, round_), "\n".join(lines)


def escalation_notice(
    view: ApprovalView, first: list[str], second: list[str], timeout_seconds: int
) -> tuple[str, str]:
    """For the notification topic: round 1 expired, the escalation group was asked."""
    subject = f"[OpsPilot] approval escalated: {view.model_id}"[:100]
    lines = [
        f"Incident:  {view.incident_id}",
        f"Model:     {view.model_id} ({view.region})",
        f"Nobody of {', '.join(first)} decided within {_duration(timeout_seconds)}.",
        f"The approval now waits for {', '.join(second)}, with new links; the first links no",
        "longer work. Nothing has been changed.",
    ]
    return subject, "\n".join(lines)


def _duration(seconds: int) -> str:
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return f"{hours} hour{'s' if hours != 1 else ''}"
    if seconds % 60 == 0:
        minutes = seconds // 60
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{seconds} seconds"


def _summary_line(view: ApprovalView) -> str:
    parts = [
        f"{c.quota_code} {number(c.current) if c.current is not None else '?'} -> {number(c.requested)}"
        for c in view.quota_changes
    ]
    parts += [f"support case: {c.subject}" for c in view.cases]
    return "; ".join(parts) or "no change"


def _severity(view: ApprovalView) -> str:
    return f"{label('severity', view.severity).lower()}, {label('category', view.category).lower()}"


def _button_title(approver: str) -> str:
    return f"Review as {approver}"[:75]  # Slack's limit for button text


def slack_message(
    view: ApprovalView, links: list[tuple[str, str]], expires_at: str, round_: int
) -> dict[str, Any]:
    """A Block Kit message for an incoming webhook: a summary and one link button per approver."""
    title = _subject(view, round_).removeprefix("[OpsPilot] ")
    until = clock(expires_at)
    text = f"OpsPilot: {title}. {_summary_line(view)}. Valid until {until}."
    fields = [
        {"type": "mrkdwn", "text": f"*Model*\n{view.model_id} ({view.region})"},
        {"type": "mrkdwn", "text": f"*Incident*\n{view.incident_id} ({_severity(view)})"},
        {"type": "mrkdwn", "text": f"*Scenario*\n{label('scenario', view.scenario)}"},
        {"type": "mrkdwn", "text": f"*Policy rule*\n{view.rule}"},
        {"type": "mrkdwn", "text": f"*Valid until*\n{until}"},
    ]
    return {
        "text": text,
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": f"OpsPilot: {title}"[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": _summary_line(view)[:3000]}},
            {"type": "section", "fields": fields},
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": "The button opens the confirm page; a decision made there is recorded "
                        "as made through this channel. Opening the page changes nothing.",
                    }
                ],
            },
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": _button_title(approver)},
                        "url": link,
                        "action_id": f"review-{i}",
                        **({"style": "primary"} if i == 0 else {}),
                    }
                    for i, (approver, link) in enumerate(links[:25])
                ],
            },
        ],
    }


def teams_message(
    view: ApprovalView, links: list[tuple[str, str]], expires_at: str, round_: int
) -> dict[str, Any]:
    """An Adaptive Card for a Teams incoming webhook (Workflows): one OpenUrl action per approver."""
    title = _subject(view, round_).removeprefix("[OpsPilot] ")
    facts = [
        {"title": "Model", "value": f"{view.model_id} ({view.region})"},
        {"title": "Incident", "value": f"{view.incident_id} ({_severity(view)})"},
        {"title": "Scenario", "value": label("scenario", view.scenario)},
        {"title": "Policy rule", "value": view.rule},
        {"title": "Change", "value": _summary_line(view)},
        {"title": "Valid until", "value": clock(expires_at)},
    ]
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
            {
                "type": "TextBlock",
                "text": f"OpsPilot: {title}",
                "weight": "Bolder",
                "size": "Medium",
                "wrap": True,
            },
            {"type": "TextBlock", "text": view.summary, "wrap": True},
            {"type": "FactSet", "facts": facts},
            {
                "type": "TextBlock",
                "text": "The button opens the confirm page; a decision made there is recorded as made "
                "through this channel. Opening the page changes nothing.",
                "isSubtle": True,
                "wrap": True,
            },
        ],
        "actions": [{"type": "Action.OpenUrl", "title": _button_title(a), "url": link} for a, link in links],
    }
    return {
        "type": "message",
        "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "content": card}],
    }
