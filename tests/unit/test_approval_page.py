"""The approval pages and messages, rendered from a snapshot: what a person sees and receives."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from html.parser import HTMLParser

import pytest

from opspilot.domain import approval_messages
from opspilot.domain import approval_page as pages
from opspilot.domain.approvals import ApprovalView, CaseChange

MakeView = Callable[..., ApprovalView]
NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


class Elements(HTMLParser):
    """Every start tag with its attributes; fails on nothing, so the assertions decide."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def elements(document: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Elements()
    parser.feed(document)
    return parser.tags


def test_the_confirm_page_shows_the_change_the_reason_and_the_form(make_approval_view: MakeView) -> None:
    page = pages.confirm_page(
        make_approval_view(), "lead@example.com", 1, "2026-12-01T10:00:00.000Z", "TOKEN123", NOW
    )
    assert "<code>L-3D8CC480</code>" in page
    assert "Cross-region model inference requests per minute for Anthropic Claude 3.7 Sonnet V1" in page
    assert '<td class="n current" data-label="Current">500</td>' in page
    assert '<td class="n requested" data-label="Requested">750</td>' in page
    assert "pilot-approve-every-change" in page and "<b class=scenario>High usage</b>" in page
    assert "Peak RPM, 14 days" in page and "10.8 days" in page
    assert "You are deciding as <b class=approver>lead@example.com</b>" in page
    tags = elements(page)
    (form,) = [a for t, a in tags if t == "form"]
    assert form["method"] == "post" and "action" not in form  # posts back to the same link
    inputs = {a["name"]: a for t, a in tags if t in {"input", "textarea"}}
    assert inputs["token"]["type"] == "hidden" and inputs["token"]["value"] == "TOKEN123"
    value = inputs["desired.L-3D8CC480"]
    assert (value["value"], value["max"], value["min"]) == ("750", "750", "501")
    buttons = [(a.get("name"), a.get("value")) for t, a in tags if t == "button" and "disabled" not in a]
    assert buttons == [("decision", "approve"), ("decision", "reject")]


def test_no_external_asset_and_no_script(make_approval_view: MakeView) -> None:
    page = pages.confirm_page(make_approval_view(), "lead@example.com", 1, "x", "t", NOW)
    tags = elements(page)
    assert not [t for t, _ in tags if t in {"script", "img", "link", "iframe", "object", "embed"}]
    urls = [v for _, a in tags for k, v in a.items() if k in {"src", "href", "action"} and v]
    assert urls == []
    assert re.findall(r"https?://[^\"' ]+", page) == ["http://www.w3.org/2000/svg"]  # the SVG namespace


def test_the_chart_draws_14_days_against_the_quota_and_the_threshold(make_approval_view: MakeView) -> None:
    (chart,) = make_approval_view().charts
    svg = pages.usage_chart(chart, date(2026, 11, 30))
    bars = re.findall(r'<rect class="peak" x="[\d.]+" y="([\d.]+)" width="[\d.]+" height="([\d.]+)"', svg)
    assert len(bars) == 14
    heights = [float(h) for _, h in bars]
    assert heights == sorted(heights) and heights[0] < heights[-1]  # growing usage, growing bars
    lines = dict(re.findall(r'<line class="(quota|threshold|requested)" x1="\d+" y1="([\d.]+)"', svg))
    assert float(lines["requested"]) < float(lines["quota"]) < float(lines["threshold"])  # SVG y grows down
    bottom = float(re.findall(r'y2="([\d.]+)" stroke="#59636e"', svg)[0])
    # the 560 bar is above the 500 quota line: its top is higher on the page
    top_of_last = float(bars[-1][0])
    assert top_of_last < float(lines["quota"]) < bottom
    assert "2026-11-17: peak 300 RPM" in svg and "2026-11-30: peak 560 RPM" in svg
    assert svg.count('fill="#bc4c00"') == 9  # the days at or above the threshold (400) stand out
    assert "quota 500" in svg and "threshold 400" in svg and "requested 750" in svg


def test_the_approve_up_to_field_holds_every_digit(make_approval_view: MakeView) -> None:
    """A TPM request of 60,000,000 is value 60000000 in the field (not "6e+07"), bounded by the
    current quota + 1 and the requested value."""
    view = make_approval_view()
    tpm = view.quota_changes[0].model_copy(update={"current": 40_000_000, "requested": 60_000_000})
    fractional = view.quota_changes[0].model_copy(update={"current": 0.5, "requested": 1234567.25})
    page = pages.confirm_page(
        view.model_copy(update={"quota_changes": [tpm]}), "a@example.com", 1, "x", "t", NOW
    )
    assert 'value="60000000" max="60000000" min="40000001"' in page
    page = pages.confirm_page(
        view.model_copy(update={"quota_changes": [fractional]}), "a@example.com", 1, "x", "t", NOW
    )
    assert 'value="1234567.25" max="1234567.25" min="0.5"' in page
    assert "e+" not in page


def test_a_case_shows_its_subject_and_a_preview_of_its_text(make_approval_view: MakeView) -> None:
    case = CaseChange(
        action_id="open_support_case:investigation",
        subject="[OpsPilot] investigation: m in us-east-1",
        severity="high",
        body_preview="Model: m\nRegion: us-east-1",
        body_chars=1200,
    )
    view = make_approval_view(quota_changes=[], cases=[case], charts=[])
    page = pages.confirm_page(view, "a@example.com", 2, "x", "t", NOW)
    assert "Approve the support case for" in page
    assert "<td class=subject>[OpsPilot] investigation: m in us-east-1</td>" in page
    assert "<pre class=preview>Model: m\nRegion: us-east-1</pre>" in page
    assert "first 26 of 1,200 characters" in page
    assert "escalated (round 2 of 2)" in page


def test_everything_from_the_workflow_is_escaped(make_approval_view: MakeView) -> None:
    hostile = '<script>alert("x")</script>'
    view = make_approval_view(model_id=hostile, summary=hostile, evidence=[(hostile, hostile)])
    page = pages.confirm_page(view, hostile, 1, hostile, '"><b>', NOW)
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert 'value="&quot;&gt;&lt;b&gt;"' in page
    decided = pages.decided_page(
        {"status": "approved", "by": hostile, "at": hostile, "comment": hostile}, view
    )
    assert "<script>" not in decided


def test_enter_in_a_field_decides_nothing(make_approval_view: MakeView) -> None:
    """Enter in a form field submits through the form's first submit button (HTML's implicit
    submission); a disabled one submits nothing, so only a click on Approve or Reject decides."""
    tags = elements(pages.confirm_page(make_approval_view(), "lead@example.com", 1, "x", "t", NOW))
    start = next(i for i, (t, _) in enumerate(tags) if t == "form")
    first_button = next(a for t, a in tags[start:] if t == "button")
    assert first_button["type"] == "submit" and "disabled" in first_button and "name" not in first_button


def test_the_page_speaks_in_labels_not_enum_values(make_approval_view: MakeView) -> None:
    case = CaseChange(
        action_id="open_support_case:investigation",
        subject="s",
        severity="urgent",
        body_preview="b",
        body_chars=1,
    )
    view = make_approval_view(
        cases=[case],
        evidence=[("Support plan", "Business, Enterprise On-Ramp or Enterprise")],
    )
    page = pages.confirm_page(view, "lead@example.com", 1, "2026-12-01T07:22:00.000Z", "t", NOW)
    assert "<span class=category>Quota pressure</span>" in page
    assert "<b class=scenario>High usage</b>" in page
    assert "<td class=case-severity>Production system down</td>" in page
    for raw in ("quota_pressure", "high_usage", "business_or_enterprise", ">urgent<"):
        assert raw not in page


def test_support_plans_are_shown_by_name_in_the_evidence() -> None:
    from opspilot.domain.approvals import build_view

    plan = {"scenario": "high_usage", "rule": "r", "evidence": {"support_plan": "business_or_enterprise"}}
    view = build_view({"incident_id": "i", "category": "quota_pressure"}, plan, {}, NOW)
    assert ("Support plan", "Business, Enterprise On-Ramp or Enterprise") in view.evidence


@pytest.mark.parametrize(
    ("expires", "words"),
    [
        ("2026-12-01T09:00:00.000Z", "expires in 23 hours, at 09:00 UTC on 1 December"),
        ("2026-11-30T11:05:30.000Z", "expires in 1 hour 5 minutes, at 11:05 UTC on 30 November"),
        ("2026-11-30T10:40:00.000Z", "expires in 40 minutes, at 10:40 UTC on 30 November"),
        ("2026-11-30T10:00:20.000Z", "expires in less than a minute, at 10:00 UTC on 30 November"),
        ("2026-12-03T10:00:00.000Z", "expires in 3 days, at 10:00 UTC on 3 December"),
        ("2027-01-02T07:22:00.000Z", "expires in 32 days, at 07:22 UTC on 2 January 2027"),
        ("2026-11-30T09:00:00.000Z", "expired at 09:00 UTC on 30 November"),
    ],
)
def test_the_expiry_is_in_words_and_utc(make_approval_view: MakeView, expires: str, words: str) -> None:
    assert pages.expiry_words(expires, NOW) == words
    page = pages.confirm_page(make_approval_view(), "lead@example.com", 1, expires, "t", NOW)
    assert f"<p class=expiry>This approval {words}.</p>" in page
    assert f'<time datetime="{expires}">' in page


@pytest.mark.parametrize(
    ("document", "words"),
    [
        (pages.already_decided_page({"status": "approved", "by": "a@x.com", "at": "T1"}), "approved</b> by"),
        (pages.expired_page("T2", 1), "goes to the escalation group"),
        (pages.expired_page("T2", 2), "ends without any change"),
        (pages.superseded_page("T3"), "escalated to a second group"),
        (pages.moved_on_page({"status": "approved", "by": "a@x.com", "at": "T4"}), "had stopped waiting"),
        (pages.unknown_link_page(), "This link is not valid"),
        (pages.refusal_page("Bad request", "why"), "Nothing was changed"),
    ],
)
def test_every_answer_is_a_page_that_says_what_happened(document: str, words: str) -> None:
    assert document.startswith("<!doctype html>") and words in document


def test_the_decided_page_shows_who_when_and_a_lowered_value(make_approval_view: MakeView) -> None:
    decision = {
        "status": "approved",
        "by": "lead@example.com",
        "at": "2026-11-30T10:00:00.000Z",
        "values": {"request_quota_increase:L-3D8CC480": 600},
        "comment": "enough for now",
    }
    page = pages.decided_page(decision, make_approval_view())
    assert "<b class=by>lead@example.com</b>" in page
    assert '<time datetime="2026-11-30T10:00:00.000Z">10:00 UTC on 30 November 2026</time>' in page
    assert "<code>L-3D8CC480</code>: 750 lowered to <b>600</b>" in page
    assert "Comment: enough for now" in page


def test_the_email_carries_the_summary_and_one_link(make_approval_view: MakeView) -> None:
    view = make_approval_view()
    link = "https://api.example/approvals/" + "A" * 32
    subject, body = approval_messages.approval_email(view, "lead@example.com", link, "T", 1, 86400)
    assert (
        subject
        == "[OpsPilot] Approval needed: Quota pressure on us.anthropic.claude-3-7-sonnet-20250219-v1:0"
    )
    assert "  - L-3D8CC480 Cross-region model inference requests per minute" in body
    assert "500 -> 750" in body and "Policy rule: pilot-approve-every-change" in body
    assert body.splitlines()[-1] == link and body.count("/approvals/") == 1
    assert "Category:  Quota pressure" in body and "Scenario:  High usage" in body
    assert "quota_pressure" not in body and "high_usage" not in body  # labels in the body, too
    _, escalated = approval_messages.approval_email(view, "head@example.com", link, "T", 2, 86400)
    assert "did not decide within 24 hours" in escalated and "last round (2 of 2)" in escalated


def test_chat_messages_have_one_button_per_approver(make_approval_view: MakeView) -> None:
    view = make_approval_view()
    links = [("lead@example.com", "https://x/approvals/1"), ("oncall@example.com", "https://x/approvals/2")]
    slack = approval_messages.slack_message(view, links, "T", 1)
    (actions,) = [b for b in slack["blocks"] if b["type"] == "actions"]
    assert [(e["text"]["text"], e["url"]) for e in actions["elements"]] == [
        ("Review as lead@example.com", "https://x/approvals/1"),
        ("Review as oncall@example.com", "https://x/approvals/2"),
    ]
    assert "L-3D8CC480 500 -> 750" in slack["text"]
    teams = approval_messages.teams_message(view, links, "T", 2)
    card = teams["attachments"][0]["content"]
    assert card["type"] == "AdaptiveCard" and card["body"][0]["text"].startswith("OpsPilot: Escalated")
    assert [a["url"] for a in card["actions"]] == ["https://x/approvals/1", "https://x/approvals/2"]
    assert all(a["type"] == "Action.OpenUrl" for a in card["actions"])
