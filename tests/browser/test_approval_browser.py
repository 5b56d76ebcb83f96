"""The approval page in a real browser: headless Chromium (Debian's package) driven by Playwright.

The scenario runs as ``opspilot simulate --interactive`` would: the real state machine waits at
WaitForApproval, the approval API is served on localhost, and the browser is the approver. The
test fails (it never skips) when Chromium is missing: `make chromium` installs it.
"""

from __future__ import annotations

import io
import os
import queue
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from opspilot.domain.approval_page import confirm_page
from opspilot.domain.approvals import ApprovalView, CaseChange, QuotaChange, UsageChart
from opspilot_sim.interactive import ApprovalServer, InteractiveSession
from opspilot_sim.runner import run_scenario
from opspilot_sim.scenario import load

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
# OPSPILOT_SCREENSHOTS=<dir>: keep what the phone showed, to look at
SCREENSHOTS = Path(os.environ["OPSPILOT_SCREENSHOTS"]) if os.environ.get("OPSPILOT_SCREENSHOTS") else None
# No sandbox (CI runs as root), no GPU, and none of Chromium's own network traffic: this machine's
# network refuses it (see docs/approvals.md).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


PHONE = {"width": 390, "height": 844}  # CSS pixels of a common phone, held upright


def _fits_a_phone(browser: Any, url: str) -> None:
    """At 390 px wide every field and button is on screen without horizontal scrolling, and Enter
    in the "Approve up to" field decides nothing (the page stays, the link stays pending)."""
    from playwright.sync_api import expect

    phone = browser.new_page(viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
    phone.goto(url)
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    controls = phone.locator("input:not([type=hidden]), textarea, button:not([disabled])")
    assert controls.count() == 4  # "Approve up to", the comment, Approve, Reject
    for control in controls.all():
        control.scroll_into_view_if_needed()
        box = control.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
    if SCREENSHOTS:
        phone.screenshot(path=str(SCREENSHOTS / "approval-page-390px.png"), full_page=True)
    field = phone.locator("input[name='desired.L-F2717A44']")
    field.fill("1300")
    field.press("Enter")
    phone.wait_for_timeout(500)
    expect(phone.locator("h1")).to_have_text("Approve the quota increase for amazon.nova-pro-v1:0?")
    phone.close()


def test_a_page_with_two_quota_changes_and_a_support_case_fits_a_phone() -> None:
    """The widest page the workflow can ask about: two quota rows with eight-digit values, a support
    case with a long subject and a preview holding an unbroken ARN, two charts. Rendered by the
    real page code and laid out by Chromium at 390 px: nothing wider than the screen, and every
    field and button on it."""
    test_chromium_is_installed()
    from playwright.sync_api import sync_playwright

    model = "us.anthropic.claude-3-7-sonnet-20250219-v1:0"
    name = "Cross-region model inference {} per minute for Anthropic Claude 3.7 Sonnet V1"
    arn = f"arn:aws:bedrock:us-east-1:111122223333:inference-profile/{model}"
    changes = [
        QuotaChange(
            action_id=f"request_quota_increase:{code}",
            quota_code=code,
            quota_name=name.format(unit),
            kind=kind,
            current=current,
            requested=requested,
            reason=f"{kind.upper()} quota {current:,} -> {requested:,}.",
        )
        for code, unit, kind, current, requested in (
            ("L-3D8CC480", "requests", "rpm", 2_000, 3_000),
            ("L-6E888CC2", "tokens", "tpm", 40_000_000, 60_000_000),
        )
    ]
    case = CaseChange(
        action_id="open_support_case:investigation",
        subject=f"[OpsPilot] throttling and quota pressure on {model} in us-east-1 for 3 days running",
        severity="high",
        body_preview=f"Model: {model}\nInference profile: {arn}\nRegion: us-east-1",
        body_chars=2400,
    )
    charts = [
        UsageChart(
            kind=kind,
            unit=unit,
            daily_peaks=[top * (0.6 + i / 40) for i in range(14)],
            quota=top,
            threshold=top * 0.8,
            requested=top * 1.5,
        )
        for kind, unit, top in (
            ("rpm", "requests per minute", 2_000),
            ("tpm", "tokens per minute", 40_000_000),
        )
    ]
    view = ApprovalView(
        incident_id="inc-fd9ebc8569e4e65b",
        model_id=model,
        region="us-east-1",
        category="quota_pressure",
        severity="critical",
        alarm_name="opspilot-claude37-throttles",
        scenario="high_usage",
        rule="production-approve-large-increases",
        summary="Production: an increase above 50 % and a support case need approval.",
        quota_changes=changes,
        cases=[case],
        evidence=[("Peak RPM, 14 days", "2,380"), ("Peak TPM, 14 days", "47,600,000")],
        forecast=["RPM: quota reached in 2.5 days at the current trend"],
        charts=charts,
        usage_end="2026-11-30",
    )
    now = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    document = confirm_page(view, "platform-lead@example.com", 2, "2026-12-01T07:22:00Z", "t", now)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        phone = browser.new_page(viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
        phone.set_content(document)
        assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        controls = phone.locator("input:not([type=hidden]), textarea, button:not([disabled])")
        assert controls.count() == 5  # two "Approve up to", the comment, Approve, Reject
        for element in [*controls.all(), phone.locator("pre.preview"), phone.locator("td.subject")]:
            element.scroll_into_view_if_needed()
            box = element.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
        assert phone.locator("input[name='desired.L-6E888CC2']").input_value() == "60000000"
        lines = "e => { const r = document.createRange(); r.selectNodeContents(e); "
        lines += "return r.getClientRects().length }"  # the line boxes of the header's text
        for header in phone.locator(".case th").all():  # "Subject", not "Su / bje / ct"
            assert header.evaluate(lines) == 1, header.inner_text()
        if SCREENSHOTS:
            phone.screenshot(path=str(SCREENSHOTS / "approval-page-case-390px.png"), full_page=True)
        browser.close()


def test_chromium_is_installed() -> None:
    assert CHROMIUM.exists(), (
        f"{CHROMIUM} is missing: the browser test needs Debian's chromium package. "
        "Run `make chromium` (apt-get install -y chromium); Playwright never downloads a browser here."
    )


def test_an_approver_approves_in_the_browser_and_the_workflow_acts() -> None:
    test_chromium_is_installed()
    from playwright.sync_api import expect, sync_playwright

    links: queue.Queue[tuple[str, str, int]] = queue.Queue()
    session = InteractiveSession(out=io.StringIO(), on_link=lambda *link: links.put(link))
    outcome: dict[str, Any] = {}

    def simulate() -> None:
        try:
            outcome["report"] = run_scenario(
                load(ROOT / "scenarios" / "rpm-pressure.yaml"), interactive=session
            )
        except BaseException as exc:  # reported by the assertion below
            outcome["error"] = exc

    with ApprovalServer(session, port=0):
        runner = threading.Thread(target=simulate, name="simulate", daemon=True)
        runner.start()
        sent = {approver: url for approver, url, _ in (links.get(timeout=90), links.get(timeout=30))}
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page()
            response = page.goto(sent["platform-lead@example.com"])
            assert response is not None and response.status == 200
            expect(page.locator("h1")).to_have_text("Approve the quota increase for amazon.nova-pro-v1:0?")
            expect(page.locator(".approver")).to_have_text("platform-lead@example.com")
            change = page.locator("tr[data-quota='L-F2717A44']")
            expect(change.locator(".current")).to_have_text("1,000")
            expect(change.locator(".requested")).to_have_text("1,500")
            chart = page.locator("svg.usage-chart[data-kind='rpm']")
            expect(chart).to_be_visible()
            expect(chart.locator("rect.peak")).to_have_count(14)
            expect(chart.locator("line.quota")).to_have_count(1)
            expect(chart.locator("line.threshold")).to_have_count(1)
            assert chart.bounding_box() is not None and chart.bounding_box()["width"] > 300  # type: ignore[index]
            expect(page.locator(".category")).to_have_text("Quota pressure")
            expect(page.locator(".scenario")).to_have_text("High usage")
            expect(page.locator(".expiry")).to_contain_text("UTC on")
            _fits_a_phone(browser, sent["platform-lead@example.com"])
            page.fill("input[name='desired.L-F2717A44']", "1250")
            page.fill("#comment", "approved in a real browser")
            page.click("button.approve")
            expect(page.locator("h1")).to_have_text("Approved")
            expect(page.locator(".decided")).to_contain_text("platform-lead@example.com")
            expect(page.locator(".values")).to_contain_text("1,500 lowered to 1,250")
            other = browser.new_page()
            response = other.goto(sent["sre-oncall@example.com"])
            assert response is not None and response.status == 409
            expect(other.locator("h1")).to_have_text("Already decided")
            browser.close()
        runner.join(timeout=90)
    assert "error" not in outcome, outcome.get("error")
    (incident,) = outcome["report"]["incidents"]
    states = incident["execution"]["states"]
    assert incident["execution"]["status"] == "SUCCEEDED"
    assert states.index("WaitForApproval") < states.index("ExecuteAction")
    assert outcome["report"]["changes_sent_to_aws"] == [
        {
            "service": "service-quotas",
            "operation": "RequestServiceQuotaIncrease",
            "params": {
                "ServiceCode": "bedrock",
                "QuotaCode": "L-F2717A44",
                "DesiredValue": 1250.0,
                "SupportCaseAllowed": True,
            },
        }
    ]
    (action,) = incident["actions"]
    assert action["status"] == "executed"
    decision = incident["approval_rounds"][0]["decision"]
    assert (decision["by"], decision["comment"], decision["source_ip"]) == (
        "platform-lead@example.com",
        "approved in a real browser",
        "127.0.0.1",
    )
    assert "HeadlessChrome" in decision["user_agent"]
