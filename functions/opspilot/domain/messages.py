"""Notification texts. One message per incident state change; plain text that reads well in email."""

from __future__ import annotations

from typing import Any

from opspilot.domain.format import number
from opspilot.domain.labels import label
from opspilot.domain.model import Outcome, Severity

_RULE = "-" * 60
CASE_URL = "https://support.console.aws.amazon.com/support/home#/case/?displayId={}"
QUOTA_REQUESTS_URL = "https://console.aws.amazon.com/servicequotas/home/requests"


def _sev(incident: dict[str, Any]) -> str:
    return label("severity", incident.get("severity", "")).lower()


def _header(incident: dict[str, Any]) -> list[str]:
    return [
        f"Incident:  {incident.get('incident_id')}",
        f"Model:     {incident.get('model_id')} ({incident.get('region')})",
        f"Category:  {label('category', incident.get('category'))}   "
        f"Severity: {label('severity', incident.get('severity'))}",
        f"Alarm:     {incident.get('alarm_name')}",
    ]


def _subject(verb: str, incident: dict[str, Any]) -> str:
    # the verb comes first: a long model ARN may be cut at SNS's 100-character subject limit
    return f"[OpsPilot] {verb} ({_sev(incident)}): {incident.get('model_id')}"


def _message(incident: dict[str, Any], subject: str, lines: list[str]) -> Outcome:
    """A message about ``incident``, at its severity; the subject cut to SNS's 100 characters."""
    return Outcome(
        incident_id=str(incident.get("incident_id")),
        severity=Severity(incident.get("severity", "warning")),
        subject=subject[:100],
        message="\n".join(lines),
    )


def _state_change(verb: str, incident: dict[str, Any], details: list[str], next_step: list[str]) -> Outcome:
    """What happened to an incident before any action (opened, suppressed, revised, reopened): the
    header, the alarms that fired, what is particular to this change, and what OpsPilot does next."""
    signals = ", ".join(str(s.get("alarm_name")) for s in incident.get("signals") or [])
    lines = [*_header(incident), f"Signals:   {signals}", *details, "", *next_step]
    return _message(incident, _subject(verb, incident), lines)


def _plan_lines(plan: dict[str, Any]) -> list[str]:
    lines = [
        f"Scenario:  {label('scenario', plan.get('scenario'))}   Policy rule: {plan.get('rule')}",
        f"Why:       {plan.get('summary')}",
    ]
    evidence = plan.get("evidence") or {}
    for signal in evidence.get("signals") or []:
        category = label("category", signal.get("category")).lower()
        lines.append(f"Signal:    {signal.get('alarm')} ({signal.get('metric')}, {category})")
    figures = {k: v for k, v in (evidence.get("usage") or {}).items() if isinstance(v, int | float)}
    if figures:
        lines.append(
            "Evidence:  " + ", ".join(f"{label('evidence', k)} {number(v)}" for k, v in figures.items())
        )
    if "tokens_today" in evidence and "tpd_quota" in evidence:
        lines.append(
            f"Daily:     {number(evidence['tokens_today'])} tokens today (UTC) of a daily quota of "
            f"{number(evidence['tpd_quota'])}"
        )
    for gap in evidence.get("quota_gaps") or []:
        problem = str(gap.get("problem", "")).replace("_", " ")
        lines.append(f"Quota:     {str(gap.get('kind')).upper()} {problem}: {gap.get('reason')}")
        lines.append(f"           Fix: {gap.get('fix')}")
    for kind, text in (evidence.get("forecast") or {}).items():
        lines.append(f"Forecast:  {kind.upper()} {text}")
    for refusal in plan.get("refusals") or []:  # the quota governor's (domain/governor.py)
        lines.append(f"Refused:   {refusal.get('text')} ({label('refusal', refusal.get('reason'))})")
    for rec in plan.get("recommendations") or []:
        lines.append(f"Consider:  {rec.get('text')}")
    return lines


def outcome(
    incident: dict[str, Any],
    plan: dict[str, Any],
    approval: dict[str, Any],
    actions: list[dict[str, Any]],
    undelivered: dict[str, Any] | None = None,
) -> Outcome:
    """The incident's outcome. ``undelivered``: the "opened" notice SNS refused earlier (its
    ``error``), which this message then carries, so people get it once this one goes out."""
    verb = {"rejected": "rejected", "expired": "approval expired"}.get(approval.get("status", ""), "handled")
    subject = _subject(verb, incident)
    lines = [
        *_header(incident),
        *_plan_lines(plan),
        f"Approval:  {label('approval', approval.get('status'))}",
    ]
    if approval.get("by"):
        lines[-1] += f" by {approval['by']}"
    lines.append(_RULE)
    if not actions:
        lines.append("Actions:   none")
    for result in actions:
        lines.append(
            f"  - {label('action', result['type'])} [{label('action_status', result['status'])}] "
            f"{result.get('result', {}).get('summary', '')}"
        )
        details = result.get("result", {})
        if details.get("request_id"):
            lines.append(f"    quota request {details['request_id']}: {QUOTA_REQUESTS_URL}")
        if details.get("case_id"):
            lines.append(f"    support case: {CASE_URL.format(details['case_id'])}")
        manual = result.get("result", {}).get("manual_filing")
        if manual:
            lines += [
                "",
                f"File this support case by hand: {manual['console_url']}",
                f"Subject:  {manual.get('subject')}",
                f"Severity: {label('case_severity', manual.get('severityCode'))}",
                "",
                str(manual.get("communicationBody", "")),
            ]
    if undelivered is not None:
        notice = incident.get("opened_notice") or {}
        lines += [
            _RULE,
            f'The "opened" notice of this incident could not be sent ({undelivered.get("Error")}); '
            "here it is:",
            f"Subject:  {notice.get('subject')}",
            str(notice.get("message", "")),
        ]
    return _message(incident, subject, lines)


def opened(incident: dict[str, Any]) -> Outcome:
    """A new incident: what fired and what OpsPilot does next (one message, before any action)."""
    return _state_change(
        "opened",
        incident,
        [],
        [
            "OpsPilot is gathering the evidence and will decide by the policy; the next message says what",
            "it did, or asks for approval.",
        ],
    )


def suppressed(incident: dict[str, Any]) -> Outcome:
    """A state change whose actions a person silenced (a mute rule or a suppressor alarm): what
    fired, who silenced it, and that nothing was done. Sent once per alarm and silence."""
    why = incident.get("suppression") or {}
    return _state_change(
        "suppressed",
        incident,
        [f"Silenced:  {why.get('reason')}"],
        [
            "The alarm's actions are held back, so OpsPilot acted on nothing: no quota request, no support",
            "case. If the alarm still fires once the silence ends, CloudWatch reports it again and",
            "OpsPilot handles it then.",
        ],
    )


def _rose(what: str, change: list[str]) -> str:
    """One change of a revision in words: "severity warning -> critical", "categories + failure"."""
    kind = "category" if what == "categories_added" else what
    values = [label(kind, value).lower() for value in change]
    if what == "categories_added":
        return f"categories + {', '.join(values)}"
    return f"{what.replace('_', ' ')} {' -> '.join(values)}"


def revised(incident: dict[str, Any], rose: dict[str, Any]) -> Outcome:
    """An alarm joined the model's open incident and raised what it is: the plan is revised."""
    changes = "; ".join(_rose(what, change) for what, change in rose.items())
    return _state_change(
        "revised",
        incident,
        [f"Rose:      {changes}"],
        [
            "The open incident takes this alarm in. OpsPilot revises the evidence and the plan; only what",
            "changed is asked for approval again.",
        ],
    )


def reopened(incident: dict[str, Any]) -> Outcome:
    """An alarm of the model fired again within the cooldown after its incident resolved."""
    return _state_change(
        "reopened",
        incident,
        [],
        [
            "The incident resolved a short while ago and is reopened instead of a new one. What it already",
            "did stands; OpsPilot plans and asks approval only for what is new.",
        ],
    )


def failure(incident_id: str, context: dict[str, Any], error: str, cause: str) -> Outcome:
    subject = (
        f"[OpsPilot] FAILED {context.get('model_id') or context.get('alarm_name') or incident_id}: {error}"
    )
    lines = [
        f"Incident:  {incident_id}",
        f"Alarm:     {context.get('alarm_name')}",
        f"Model:     {context.get('model_id')}",
        f"Error:     {error}",
        f"Cause:     {cause[:1500]}",
        "",
        "OpsPilot could not finish handling this event. Nothing further was changed. The incident",
        "record holds the error; the next state change of the alarm starts a fresh attempt.",
    ]
    return Outcome(
        incident_id=incident_id, severity=Severity.CRITICAL, subject=subject[:100], message="\n".join(lines)
    )


def resolved(incident: dict[str, Any], resolved_at: str) -> Outcome:
    subject = f"[OpsPilot] RESOLVED {incident.get('model_id')}: all alarms OK"
    lines = [
        *_header(incident),
        f"Resolved:  {resolved_at}",
        f"Status before: {label('status', incident.get('status')).lower()}",
    ]
    return _message(incident, subject, lines)
