"""Incident notifications as chat messages."""

from __future__ import annotations

from opspilot.domain.chat_messages import slack_notification, teams_notification


def test_slack_gets_the_subject_and_the_text() -> None:
    msg = slack_notification("[OpsPilot] RESOLVED m: all alarms OK", "Incident: inc-1\nResolved: now")
    assert msg["text"] == "[OpsPilot] RESOLVED m: all alarms OK"
    assert "Incident: inc-1" in msg["blocks"][1]["text"]["text"]


def test_a_long_message_is_cut_within_slacks_limit() -> None:
    msg = slack_notification("s", "x" * 10_000)
    assert len(msg["blocks"][1]["text"]["text"]) <= 3000
    assert msg["blocks"][1]["text"]["text"].endswith("(see email)```")


def test_teams_gets_an_adaptive_card_with_both() -> None:
    card = teams_notification("subject", "body")["attachments"][0]["content"]
    assert [b["text"] for b in card["body"]] == ["subject", "body"]
