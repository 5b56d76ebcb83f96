"""The approval pages, as pure functions returning HTML.

One confirm page (what will change, why, 14 days of usage as an inline SVG chart, the form) and
one short page for every other answer: decided, already decided, expired, escalated, too late,
unknown link, refused. No scripts, no external assets: the response's Content-Security-Policy
allows nothing but the page's own inline styles and form posts to itself.

People read these pages, often on a phone: every enum is shown by its label
(:mod:`opspilot.domain.labels`), every time in words and UTC ("expires in 23 hours, at 07:22 UTC
on 6 December"), and below 40rem the tables stack so that nothing needs horizontal scrolling.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from html import escape
from typing import Any

from opspilot.domain.approvals import (
    MAX_COMMENT_CHARS,
    ROUNDS,
    ApprovalView,
    CaseChange,
    QuotaChange,
    UsageChart,
    value_field,
)
from opspilot.domain.format import number, plain
from opspilot.domain.labels import label

HEADERS = {
    "content-type": "text/html; charset=utf-8",
    "cache-control": "no-store",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",  # browsers send "Origin: null" under no-referrer
    "content-security-policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
}


def _parse_time(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def clock(text: str, now: datetime | None = None) -> str:
    """A timestamp as people read it: "07:22 UTC on 6 December" (with the year when it is not
    ``now``'s). Anything that is not a timestamp is shown as it is."""
    moment = _parse_time(text)
    if moment is None:
        return text
    moment = moment.astimezone(UTC)
    year = "" if now is not None and now.astimezone(UTC).year == moment.year else f" {moment.year}"
    return f"{moment:%H:%M} UTC on {moment.day} {moment:%B}{year}"


def _plural(count: int, unit: str) -> str:
    return f"{count} {unit}" if count == 1 else f"{count} {unit}s"


def time_left(until: datetime, now: datetime) -> str:
    """ "23 hours", "1 hour 5 minutes", "40 minutes", "3 days", "less than a minute"."""
    minutes = int((until - now).total_seconds() // 60)
    if minutes < 1:
        return "less than a minute"
    hours, rest = divmod(minutes, 60)
    if hours == 0:
        return _plural(rest, "minute")
    if hours < 2 and rest:
        return f"{_plural(hours, 'hour')} {_plural(rest, 'minute')}"
    if hours < 48:
        return _plural(hours, "hour")
    return _plural(hours // 24, "day")


def expiry_words(expires_at: str, now: datetime) -> str:
    """ "expires in 23 hours, at 07:22 UTC on 6 December" (or "expired at ...")."""
    moment = _parse_time(expires_at)
    if moment is None:
        return f"expires at {expires_at}"
    if moment <= now:
        return f"expired at {clock(expires_at, now)}"
    return f"expires in {time_left(moment, now)}, at {clock(expires_at, now)}"


def _time(text: str) -> str:
    """A ``<time>`` element: the machine-readable value, read in words."""
    return f'<time datetime="{escape(text)}">{escape(clock(text))}</time>'


_STYLE = """
body{font:16px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1f2328;margin:0;background:#f6f8fa}
main{max-width:52rem;margin:0 auto;padding:1.5rem 1rem 3rem;background:#fff;min-height:100vh}
h1{font-size:1.5rem;margin:.2rem 0 1rem}
h2{font-size:1.15rem;margin:1.8rem 0 .6rem;border-bottom:1px solid #d0d7de}
.eyebrow{color:#59636e;font-size:.9rem;margin:0}
.you{background:#ddf4ff;border:1px solid #54aeff;border-radius:6px;padding:.6rem .8rem}
.warn{background:#fff8c5;border:1px solid #d4a72c;border-radius:6px;padding:.6rem .8rem}
.ok{background:#dafbe1;border:1px solid #4ac26b;border-radius:6px;padding:.6rem .8rem}
.no{background:#ffebe9;border:1px solid #ff8182;border-radius:6px;padding:.6rem .8rem}
table{border-collapse:collapse;width:100%;margin:.4rem 0}
th,td{border-bottom:1px solid #d0d7de;padding:.35rem .5rem;text-align:left;vertical-align:top}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
code{font-size:.9em;background:#f6f8fa;padding:.05rem .25rem;border-radius:4px;white-space:nowrap}
pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f6f8fa;padding:.6rem;border-radius:6px;font-size:.85rem}
.case th{white-space:nowrap;overflow-wrap:normal;width:1%}
input[type=number]{width:9rem;font:inherit;padding:.2rem .3rem}
textarea{width:100%;font:inherit;box-sizing:border-box}
.buttons{margin-top:1rem;display:flex;gap:1rem}
button{font:inherit;font-weight:600;padding:.6rem 1.6rem;border-radius:6px;border:1px solid;cursor:pointer}
button.approve{background:#1f883d;color:#fff;border-color:#1a7f37}
button.reject{background:#fff;color:#cf222e;border-color:#cf222e}
figure{margin:.6rem 0 1.2rem}figcaption{color:#59636e;font-size:.9rem}
svg.usage-chart{width:100%;height:auto;max-width:44rem}
footer{margin-top:2rem;color:#59636e;font-size:.9rem}
h1,p,td,th,li,code{overflow-wrap:anywhere}
.expiry{font-weight:600}
.enter-guard{display:none}
@media (max-width:40rem){
main{padding:1rem .75rem 2rem}
h1{font-size:1.25rem}
code{white-space:normal}
table.changes thead{display:none}
table.changes,table.changes tbody,table.changes tr,table.changes td{display:block;width:auto}
table.changes tr{border:1px solid #d0d7de;border-radius:6px;padding:.4rem .6rem;margin:.6rem 0}
table.changes td{border:0;padding:.2rem 0;text-align:left}
table.changes td[data-label]::before{content:attr(data-label) ": ";color:#59636e;font-weight:600}
input[type=number]{width:100%;box-sizing:border-box}
.buttons{flex-direction:column;gap:.6rem}
button{width:100%}
}
"""


def _document(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        '<meta name=robots content="noindex,nofollow">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )


def _n(value: float | None) -> str:
    return "unknown" if value is None else number(value)


# ------------------------------------------------------------------------------------ chart

_W, _H = 640, 250
_LEFT, _RIGHT, _TOP, _BOTTOM = 70, 150, 14, 40


def _ticks(top: float) -> list[float]:
    """Four round gridline values between 0 and ``top``."""
    raw = top / 4
    magnitude = 10 ** (len(str(int(raw))) - 1) if raw >= 1 else 1
    step = next((m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw), raw)
    return [step * i for i in range(1, 5) if step * i <= top]


def usage_chart(chart: UsageChart, last_day: date) -> str:
    """The daily peaks as bars, against the quota, the threshold and the requested value."""
    peaks = chart.daily_peaks
    lines = [
        ("quota", "quota", chart.quota),
        ("threshold", "threshold", chart.threshold),
        ("requested", "requested", chart.requested),
    ]
    top = max([*peaks, *(v for _, _, v in lines if v is not None), 1.0]) * 1.08
    plot_w, plot_h = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM

    def y(value: float) -> float:
        return _TOP + plot_h - value / top * plot_h

    kind = escape(chart.kind.upper())
    title_id = f"chart-{escape(chart.kind)}-title"
    described = ", ".join(f"{name} {number(v)}" for name, _, v in lines if v is not None)
    parts = [
        f'<svg class="usage-chart" data-kind="{escape(chart.kind)}" viewBox="0 0 {_W} {_H}" '
        f'role="img" aria-labelledby="{title_id}" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{title_id}">Daily peak {escape(chart.unit)} ({kind}), last {len(peaks)} days'
        + (f"; {escape(described)}" if described else "")
        + "</title>",
        f'<line x1="{_LEFT}" y1="{y(0):.1f}" x2="{_LEFT + plot_w}" y2="{y(0):.1f}" stroke="#59636e"/>',
    ]
    for tick in _ticks(top):
        parts.append(
            f'<line x1="{_LEFT}" y1="{y(tick):.1f}" x2="{_LEFT + plot_w}" y2="{y(tick):.1f}" '
            'stroke="#eaeef2"/>'
            f'<text x="{_LEFT - 6}" y="{y(tick) + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="#59636e">{number(tick)}</text>'
        )
    slot = plot_w / max(len(peaks), 1)
    for i, peak in enumerate(peaks):
        day = last_day - timedelta(days=len(peaks) - 1 - i)
        over = chart.threshold is not None and peak >= chart.threshold
        x = _LEFT + i * slot + slot * 0.15
        parts.append(
            f'<rect class="peak" x="{x:.1f}" y="{y(peak):.1f}" width="{slot * 0.7:.1f}" '
            f'height="{max(y(0) - y(peak), 0):.1f}" fill="{"#bc4c00" if over else "#218bff"}">'
            f"<title>{day.isoformat()}: peak {number(peak)} {kind}</title></rect>"
        )
        if i % 2 == (len(peaks) - 1) % 2:
            parts.append(
                f'<text x="{x + slot * 0.35:.1f}" y="{_H - _BOTTOM + 16}" text-anchor="middle" '
                f'font-size="11" fill="#59636e">{day.strftime("%m-%d")}</text>'
            )
    styles = {
        "quota": ("#cf222e", ""),
        "threshold": ("#9a6700", ' stroke-dasharray="6 4"'),
        "requested": ("#1a7f37", ' stroke-dasharray="2 3"'),
    }
    for css, name, value in lines:
        if value is None:
            continue
        colour, dash = styles[css]
        parts.append(
            f'<line class="{css}" x1="{_LEFT}" y1="{y(value):.1f}" x2="{_LEFT + plot_w}" '
            f'y2="{y(value):.1f}" stroke="{colour}" stroke-width="2"{dash}/>'
            f'<text x="{_LEFT + plot_w + 6}" y="{y(value) + 4:.1f}" font-size="12" fill="{colour}">'
            f"{name} {number(value)}</text>"
        )
    parts.append(
        f'<text x="{_LEFT + plot_w / 2:.1f}" y="{_H - 4}" text-anchor="middle" font-size="11" '
        f'fill="#59636e">daily peak of {escape(chart.unit)}, one bar per day</text></svg>'
    )
    return "".join(parts)


# ------------------------------------------------------------------------------ confirm page


def _quota_rows(changes: Iterable[QuotaChange]) -> str:
    rows = []
    for c in changes:
        low = (c.current or 0) + 1 if c.current is not None and float(c.current).is_integer() else c.current
        minimum = f' min="{plain(low)}"' if low is not None else ""
        rows.append(
            f'<tr data-quota="{escape(c.quota_code)}">'
            f'<td data-label="Quota"><code>{escape(c.quota_code)}</code></td>'
            f'<td data-label="Name">{escape(c.quota_name)}</td>'
            f'<td class="n current" data-label="Current">{_n(c.current)}</td>'
            f'<td class="n requested" data-label="Requested">{number(c.requested)}</td>'
            f'<td data-label="Approve up to"><input type="number" name="{escape(value_field(c))}" '
            f'value="{plain(c.requested)}" max="{plain(c.requested)}"{minimum} step="any" '
            f'aria-label="Approved value for {escape(c.quota_code)}"></td></tr>'
        )
    return (
        "<table class=changes><thead><tr><th>Quota</th><th>Name</th><th class=n>Current</th>"
        "<th class=n>Requested</th><th>Approve up to</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table><p class=eyebrow>The requested value is what the policy allows. You may "
        "approve a lower value; a higher one is refused.</p>"
    )


def _case(case: CaseChange) -> str:
    more = (
        f" (first {len(case.body_preview):,} of {case.body_chars:,} characters)"
        if case.body_chars > len(case.body_preview)
        else ""
    )
    return (
        "<div class=case><h3>Open an AWS Support case</h3><table><tbody>"
        f"<tr><th>Subject</th><td class=subject>{escape(case.subject)}</td></tr>"
        f"<tr><th>Severity</th><td class=case-severity>{escape(label('case_severity', case.severity))}</td>"
        "</tr></tbody></table>"
        f"<p class=eyebrow>Case text{more}:</p><pre class=preview>{escape(case.body_preview)}</pre></div>"
    )


def _headline(view: ApprovalView) -> str:
    if view.quota_changes and not view.cases:
        what = "quota increase" if len(view.quota_changes) == 1 else "quota increases"
    elif view.cases and not view.quota_changes:
        what = "support case"
    else:
        what = "changes"
    return f"Approve the {what} for {view.model_id}?"


def confirm_page(
    view: ApprovalView, approver: str, round_: int, expires_at: str, token: str, now: datetime
) -> str:
    """The page an approver decides on. The form's first submit button is a disabled one that
    nobody sees: pressing Enter in a field submits a form through its first submit button, so
    Enter in "Approve up to" decides nothing (only a click on Approve or Reject does)."""
    escalated = (
        f" · escalated (round {round_} of {ROUNDS})" if round_ > 1 else ""
    )  # the first group did not decide in time
    why_rows = "".join(
        f"<tr><th>{escape(name)}</th><td class=n>{escape(value)}</td></tr>" for name, value in view.evidence
    )
    forecast = "".join(f"<li>{escape(line)}</li>" for line in view.forecast)
    last_day = date.fromisoformat(view.usage_end)
    charts = "".join(
        f"<figure>{usage_chart(chart, last_day)}<figcaption>{escape(chart.kind.upper())}: daily peak of "
        f"the last {len(chart.daily_peaks)} days against the quota ({_n(chart.quota)}) and the "
        f"high-usage threshold ({_n(chart.threshold)}).</figcaption></figure>"
        for chart in view.charts
    )
    changes = (_quota_rows(view.quota_changes) if view.quota_changes else "") + "".join(
        _case(c) for c in view.cases
    )
    body = (
        f"<p class=eyebrow>OpsPilot · incident <code>{escape(view.incident_id)}</code>{escalated}</p>"
        f"<h1>{escape(_headline(view))}</h1>"
        f"<p class=you>You are deciding as <b class=approver>{escape(approver)}</b>. This link was sent "
        "to you alone; do not forward it. Opening it changes nothing: only the buttons below decide, "
        "once, for every approver.</p>"
        f"<p class=expiry>This approval {escape(expiry_words(expires_at, now))}.</p>"
        f"<p><span class=category>{escape(label('category', view.category))}</span> "
        f"(<span class=severity>{escape(label('severity', view.severity).lower())}</span>) on "
        f"<b>{escape(view.model_id)}</b> in {escape(view.region)}, alarm "
        f"<code>{escape(view.alarm_name)}</code>.</p>"
        '<form method="post" autocomplete="off">'
        "<button type=submit class=enter-guard disabled aria-hidden=true tabindex=-1></button>"
        f'<input type="hidden" name="token" value="{escape(token)}">'
        f"<section id=change><h2>What will change</h2>{changes}</section>"
        "<section id=why><h2>Why</h2><p>Scenario "
        f"<b class=scenario>{escape(label('scenario', view.scenario))}</b>, policy rule "
        f"<code>{escape(view.rule)}</code>: {escape(view.summary)}</p>"
        f"<table class=evidence><tbody>{why_rows}</tbody></table>"
        + (f"<h3>Forecast</h3><ul class=forecast>{forecast}</ul>" if forecast else "")
        + "</section>"
        + (f"<section id=usage><h2>Usage, last 14 days</h2>{charts}</section>" if charts else "")
        + "<section id=decide><h2>Decide</h2>"
        f"<label for=comment>Comment (optional, at most {MAX_COMMENT_CHARS} characters)</label>"
        f'<textarea id=comment name=comment rows=3 maxlength="{MAX_COMMENT_CHARS}"></textarea>'
        "<div class=buttons><button type=submit name=decision value=approve class=approve>Approve</button>"
        "<button type=submit name=decision value=reject class=reject formnovalidate>Reject</button>"
        "</div></section></form>"
        f"<footer>This link stops working at {_time(expires_at)}, when anyone decides, or when the "
        "approval is escalated. Without a decision nothing is changed.</footer>"
    )
    return _document(_headline(view), body)


# ------------------------------------------------------------------------------- the answers


def _who_when(decision: Mapping[str, Any]) -> str:
    return (
        f"<b>{escape(label('approval', decision.get('status')))}</b> by "
        f"<b class=by>{escape(str(decision.get('by')))}</b> at {_time(str(decision.get('at')))}"
    )


def _values(decision: Mapping[str, Any], view: ApprovalView) -> str:
    lowered = decision.get("values") or {}
    items = [
        f"<li><code>{escape(c.quota_code)}</code>: {number(c.requested)} lowered to "
        f"<b>{number(float(lowered[c.action_id]))}</b></li>"
        for c in view.quota_changes
        if c.action_id in lowered
    ]
    return f"<ul class=values>{''.join(items)}</ul>" if items else ""


def decided_page(decision: Mapping[str, Any], view: ApprovalView) -> str:
    approved = decision.get("status") == "approved"
    next_step = (
        "The workflow continues now and makes the approved change."
        if approved
        else "Nothing will be changed. The rejection is recorded and announced."
    )
    comment = decision.get("comment")
    body = (
        f"<p class=eyebrow>OpsPilot · incident <code>{escape(view.incident_id)}</code></p>"
        f"<h1>{'Approved' if approved else 'Rejected'}</h1>"
        f'<p class="{"ok" if approved else "no"} decided">{_who_when(decision)}. {next_step}</p>'
        + _values(decision, view)
        + (f"<p>Comment: {escape(str(comment))}</p>" if comment else "")
    )
    return _document("Decision recorded", body)


def already_decided_page(decision: Mapping[str, Any]) -> str:
    return _document(
        "Already decided",
        "<h1>Already decided</h1>"
        f"<p class=warn>This approval was already decided: {_who_when(decision)}. "
        "A decision is made once, through any approver's link; nothing more was changed.</p>",
    )


def expired_page(expires_at: str, round_: int) -> str:
    after = (
        "Nobody decided in time, so the approval goes to the escalation group with new links. "
        if round_ < ROUNDS
        else "Nobody decided in time after the escalation, so the incident ends without any change, "
        "and people are told. "
    )
    return _document(
        "Approval expired",
        "<h1>This approval has expired</h1>"
        f"<p class=warn>The link was valid until {_time(expires_at)}. {after}"
        "Nothing was changed through this link.</p>",
    )


def superseded_page(superseded_at: str) -> str:
    return _document(
        "Link replaced",
        "<h1>This link no longer works</h1>"
        f"<p class=warn>Nobody decided in time, so at {_time(superseded_at)} the approval "
        "was escalated to a second group of approvers with new links. Nothing was changed through "
        "this link.</p>",
    )


def moved_on_page(decision: Mapping[str, Any]) -> str:
    return _document(
        "Too late",
        "<h1>Too late: the workflow has moved on</h1>"
        f"<p class=no>Your decision ({_who_when(decision)}) reached the workflow after it had stopped "
        "waiting for it (the approval timed out or the execution ended). It changed nothing; the "
        "approval record says so.</p>",
    )


def unknown_link_page() -> str:
    return _document(
        "Unknown approval link",
        "<h1>Unknown approval link</h1><p class=warn>This link is not valid, or its approval was "
        "removed. Nothing was changed. Check that the whole link was copied.</p>",
    )


def refusal_page(title: str, message: str) -> str:
    return _document(
        title,
        f"<h1>{escape(title)}</h1><p class=no>{escape(message)}</p><p>Nothing was changed. "
        "Open the approval link again to decide.</p>",
    )
