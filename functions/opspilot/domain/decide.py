"""Scenario, thresholds, forecast and the planned actions: the decision, as pure functions."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

from opspilot.domain.classify import needs_investigation
from opspilot.domain.format import number
from opspilot.domain.governor import Demand, PastRequest, Verdict, govern, routed
from opspilot.domain.model import (
    ActionType,
    Category,
    Incident,
    PendingRequest,
    Plan,
    PlannedAction,
    QuotaContext,
    QuotaInfo,
    QuotaScope,
    Scenario,
    Severity,
    SupportContext,
    UsageSummary,
)
from opspilot.domain.policy import Policy, Rule, select_rule
from opspilot.domain.quotas import parse_model_id, pressure_threshold
from opspilot.domain.recommend import recommend

SUPPORT_SERVICE_CODE = "amazon-bedrock"
SUPPORT_CATEGORY_CODE = "general-guidance"


@dataclass(frozen=True)
class DecisionSettings:
    threshold_percent: float
    increase_percent: float
    approval_timeout_seconds: int
    # per-model overrides from the model registry; None takes threshold_percent
    rpm_threshold_percent: float | None = None
    tpm_threshold_percent: float | None = None

    def percent_for(self, kind: str) -> float:
        override = self.rpm_threshold_percent if kind == "rpm" else self.tpm_threshold_percent
        return override if override is not None else self.threshold_percent


def threshold(quota_value: float, percent: float) -> int:
    """The usage level that counts as pressure: floor(quota x percent / 100), never below 1.

    The same function sets the pressure alarms' thresholds (domain/model_alarms.py), so an alarm
    and the decision about it always agree."""
    return pressure_threshold(quota_value, percent)


def desired_value(current: float, increase_percent: float, maximum: float | None = None) -> float:
    """ceil(current x (1 + increase / 100)), capped at the quota's maximum when it is known.

    Computed in exact rational arithmetic: in floats, 100 x 1.1 is 110.00000000000001 and the
    ceiling would ask for one unit more than the policy allows."""
    wanted = float(math.ceil(Fraction(current) * (100 + Fraction(increase_percent)) / 100))
    return min(wanted, maximum) if maximum is not None else wanted


def days_until_reached(daily_peaks: list[float], quota_value: float) -> float | None:
    """Days until the daily peak reaches the quota on a least-squares linear trend.

    ``None`` when the trend is flat or falling ("not growing") or there are fewer than two days.
    0 when the latest peak is already at or above the quota; otherwise counted from the latest
    peak at the trend's slope.
    """
    n = len(daily_peaks)
    if n < 2:
        return None
    if daily_peaks[-1] >= quota_value:
        return 0.0
    mean_x, mean_y = (n - 1) / 2, sum(daily_peaks) / n
    var = sum((x - mean_x) ** 2 for x in range(n))
    slope = sum((x - mean_x) * (y - mean_y) for x, y in enumerate(daily_peaks)) / var
    if slope <= 0:
        return None
    return round((quota_value - daily_peaks[-1]) / slope, 1)


def _quota(context: QuotaContext, kind: str) -> QuotaInfo | None:
    return context.model_quota(kind)


QUOTA_KINDS = ("rpm", "tpm", "tpd")


def _kinds(scope: QuotaScope) -> list[str]:
    """The quota kinds a signal's scope is judged on (a throttle can come from any of them)."""
    return {QuotaScope.RPM: ["rpm"], QuotaScope.TPM: ["tpm"], QuotaScope.TPD: ["tpd"]}.get(
        scope, list(QUOTA_KINDS)
    )


# The metrics whose per-minute value is directly comparable with each per-minute quota.
_QUOTA_METRICS = {
    "rpm": frozenset({"Invocations"}),
    "tpm": frozenset({"EstimatedTPMQuotaUsage"}),
    "tpd": frozenset[str](),  # a daily quota is compared with the day's total, not a minute's
}


def alarm_peak(incident: Incident, kind: str) -> float | None:
    """The highest normalised (per-minute) figure an alarm in the incident reports for ``kind``.
    Anomaly bands and other metrics say nothing comparable with the quota, so they do not count."""
    values = [
        s.observed_per_minute
        for s in incident.signals
        if s.observed_per_minute is not None
        and not s.metric.anomaly_band
        and s.metric.name in _QUOTA_METRICS[kind]
        and s.metric.stat in {"Sum", "SampleCount"}
    ]
    return max(values) if values else None


def _daily_alarm_windows(incident: Incident) -> list[tuple[float, float]]:
    """Each daily-token alarm's Sum over its period (an hour or more), as the alarm saw it, and the
    period's minutes."""
    return [
        ((s.observed_per_minute or 0) * s.metric.period / 60, s.metric.period / 60)
        for s in incident.signals
        if s.quota_scope is QuotaScope.TPD and s.observed_per_minute is not None and s.metric.stat == "Sum"
    ]


def daily_alarm_total(incident: Incident) -> float | None:
    """The tokens a daily-token alarm in the incident reports for its day, or None."""
    windows = _daily_alarm_windows(incident)
    return max(round(tokens) for tokens, _ in windows) if windows else None


def daily_alarm_window(incident: Incident) -> tuple[float, float] | None:
    """The daily-token alarm that saw the highest rate: its Sum and its minutes, or None."""
    windows = _daily_alarm_windows(incident)
    return max(windows, key=lambda w: w[0] / w[1]) if windows else None


def daily_forecast(
    tokens_today: float, limit: float, as_of: datetime, alarm: tuple[float, float] | None = None
) -> str:
    """When today's tokens reach the daily limit if the day goes on at today's average rate, or at
    the rate a daily alarm saw over its own period (``alarm``: its Sum and its minutes) when that
    is higher. Just after midnight UTC a one-day alarm's Sum is mostly yesterday's: it gives the
    rate, never today's count."""
    if tokens_today >= limit:
        return "daily quota reached"
    midnight = as_of.replace(hour=0, minute=0, second=0, microsecond=0)
    minutes = (as_of - midnight).total_seconds() / 60
    today_rate = tokens_today / minutes if tokens_today > 0 and minutes > 0 else 0.0
    alarm_rate = alarm[0] / alarm[1] if alarm is not None and alarm[1] > 0 else 0.0
    rate = max(today_rate, alarm_rate)
    if rate <= 0:
        return "no tokens today yet"
    basis = "the alarm's rate" if alarm_rate > today_rate else "today's rate"
    reached = as_of + timedelta(minutes=(limit - max(tokens_today, 0)) / rate)
    if reached.date() != as_of.date():
        return f"daily quota not reached today at {basis}"
    return f"daily quota reached at {reached:%H:%M} UTC at {basis}"


def decide_scenario(
    incident: Incident, usage: UsageSummary, quotas: QuotaContext, percent: float | Mapping[str, float]
) -> tuple[Scenario, dict[str, Any]]:
    """The scenario and the evidence it rests on. ``percent``: one threshold percent, or one per
    quota kind ({"rpm": 70, "tpm": 85}, from the model registry)."""
    percents = dict(percent) if isinstance(percent, Mapping) else dict.fromkeys(QUOTA_KINDS, percent)
    percents.setdefault("tpd", percents["tpm"])
    evidence: dict[str, Any] = {
        "threshold_percent": percents["rpm"] if len(set(percents.values())) == 1 else percents
    }
    if incident.quota_scope is QuotaScope.NONE:
        return Scenario.NON_QUOTA, evidence
    if quotas.gaps:
        evidence["quota_gaps"] = [gap.to_json() for gap in quotas.gaps]
    if usage.datapoints == 0 or quotas.unknown_reason is not None:
        # a usage read that failed (denied) is not the same as a model without history
        evidence["why"] = quotas.unknown_reason or usage.unknown_reason or "no usage history"
        return Scenario.NEW_MODEL, evidence
    high = False
    in_scope = _kinds(incident.quota_scope)  # an RPM signal is judged on RPM usage, TPM on TPM
    peaks = {"rpm": usage.peak_rpm, "tpm": usage.peak_tpm, "tpd": usage.tokens_today}
    for kind in QUOTA_KINDS:
        quota, peak = _quota(quotas, kind), peaks[kind]
        observed = alarm_peak(incident, kind) if kind != "tpd" else daily_alarm_total(incident)
        if observed is not None and (peak is None or observed > peak):
            peak = observed  # the alarm's latest datapoint, per minute, is newer than the history
            evidence[f"peak_{kind}_from_alarm"] = True
        if quota is None or peak is None:
            continue
        limit = threshold(quota.limit, percents[kind])
        evidence[f"{kind}_quota"] = quota.limit
        evidence[f"{kind}_threshold"] = limit
        evidence[f"peak_{kind}"] = peak
        if kind == "tpd":
            evidence["tokens_today"] = peak
        if kind == "tpd":
            evidence["days_near_tpd"] = sum(1 for total in usage.daily_token_totals if total >= limit)
        high = high or (kind in in_scope and peak >= limit)
    if not any(f"{kind}_threshold" in evidence for kind in in_scope):
        evidence["why"] = "no usable quota or usage figure"
        return Scenario.NEW_MODEL, evidence
    return (Scenario.HIGH_USAGE if high else Scenario.LOW_USAGE), evidence


def _forecast(usage: UsageSummary, quotas: QuotaContext, incident: Incident) -> dict[str, str]:
    out: dict[str, str] = {}
    for kind, peaks in (("rpm", usage.daily_peak_rpm), ("tpm", usage.daily_peak_tpm)):
        quota = _quota(quotas, kind)
        if quota is None or not peaks:
            continue
        days = days_until_reached(peaks, quota.value)
        if days == 0:
            out[kind] = "quota already reached"
        elif days is None:
            out[kind] = "not growing"
        else:
            out[kind] = f"quota reached in {days:g} days at the current trend"
    daily = _quota(quotas, "tpd")
    if daily is not None and usage.tokens_today is not None and usage.as_of:
        out["tpd"] = daily_forecast(
            usage.tokens_today, daily.limit, datetime.fromisoformat(usage.as_of), daily_alarm_window(incident)
        )
    return out


CASE_TYPES = ("investigation", "quota request")


def case_subject(case_type: str, model_id: str, region: str) -> str:
    """The subject that identifies OpsPilot's one open case per (Region, model, case type)."""
    return f"[OpsPilot] {case_type}: {model_id} in {region}"


def case_subjects(model_id: str, region: str) -> set[str]:
    return {case_subject(t, model_id, region) for t in CASE_TYPES}


def _figure(value: float | None) -> str:
    return "unknown" if value is None else number(value)


def case_body(
    incident: Incident,
    usage: UsageSummary,
    quotas: QuotaContext,
    scenario: Scenario,
    increase_percent: float,
    use_case: str = "",
    targets: Mapping[str, float | None] | None = None,
) -> str:
    """What a support engineer needs, in one text: the model and how it is called, the signals,
    the usage, the quotas and what would be requested, the trend and the use case. With low usage
    the tone is "please help us investigate" and the quota figures are marked as reference only."""
    ref = parse_model_id(incident.model_id)
    low = scenario is Scenario.LOW_USAGE
    opening = (
        "We are investigating an unexpected signal on this model while usage is well below our quotas. "
        "Please help us understand it; the quota figures below are for reference only."
        if low
        else f"OpsPilot opened this case for incident {incident.incident_id}."
    )
    lines = [
        opening,
        "",
        f"Model: {incident.model_id} (inference type: {ref.inference_type.replace('_', '-')})",
        f"Region: {incident.region}",
        "Triggering alarms:",
        *[
            f"  - {s.alarm_name}: {s.metric.name} ({s.category.value}, {s.severity.value})"
            for s in incident.signals
        ],
        f"Steady / peak requests per minute (14 days): {_figure(usage.steady_rpm)} / "
        f"{_figure(usage.peak_rpm)}",
        f"Steady / peak tokens per minute (14 days): {_figure(usage.steady_tpm)} / {_figure(usage.peak_tpm)}",
        f"Average input / output tokens per request: {_figure(usage.avg_input_tokens)} / "
        f"{_figure(usage.avg_output_tokens)}",
        f"Server errors / throttles (14 days): {_figure(usage.server_errors)} / {_figure(usage.throttles)}",
        f"p99 latency (14 days): {_figure(usage.p99_latency_ms)} ms",
        "Quotas" + (" (reference only)" if low else "") + ":",
    ]
    for q in quotas.quotas:
        # what the governor sized from the evidence (None: it refused); without it, the +n % figure
        wanted = (
            (targets or {}).get(q.quota_code)
            if targets is not None
            else desired_value(q.value, increase_percent)
        )
        default = f" (AWS default {number(q.default_value)})" if q.default_value is not None else ""
        asked = f", would request {number(wanted)}" if wanted is not None else ", no increase justified"
        lines.append(f"  - {q.quota_name} ({q.quota_code}): {number(q.value)}{default}{asked}")
    if usage.tokens_today is not None and (daily := _quota(quotas, "tpd")) is not None:
        lines.append(
            f"Tokens today (UTC, so far): {_figure(usage.tokens_today)} "
            f"of a daily quota of {number(daily.limit)}"
            + (" (doubled for cross-region calls)" if daily.limit != daily.value else "")
        )
    for kind, text in _forecast(usage, quotas, incident).items():
        lines.append(f"Forecast ({kind.upper()}): {text}")
    if low:
        lines.append(PRIORITY_NOTE.strip())
    if quotas.request_quota is not None:
        lines += [
            "",
            "As the Amazon Bedrock user guide asks, we file the increase on "
            f"{quotas.request_quota.quota_name} ({quotas.request_quota.quota_code}); "
            "please offer the related quotas of this model as well "
            "(tokens per day, on-demand and requests per minute).",
        ]
    if use_case:
        lines += ["", f"Use case: {use_case}"]
    lines.append(f"OpsPilot scenario: {scenario.value}; incident {incident.incident_id}")
    return "\n".join(lines)


def _quota_request_case(
    rule: Rule,
    incident: Incident,
    usage: UsageSummary,
    quotas: QuotaContext,
    scenario: Scenario,
    increase: float,
    quota: QuotaInfo,
    target: float,
) -> PlannedAction:
    return PlannedAction(
        action_id=f"{ActionType.OPEN_SUPPORT_CASE.value}:quota_request:{quota.quota_code}",
        type=ActionType.OPEN_SUPPORT_CASE,
        reason=f"{rule.summary} {quota.quota_name} is not adjustable in Service Quotas: ask AWS Support for "
        f"{number(quota.value)} -> {number(target)}.",
        params=_case_params(
            "quota request", incident, usage, quotas, scenario, increase, {quota.quota_code: target}
        ),
    )


def _case_params(
    case_type: str,
    incident: Incident,
    usage: UsageSummary,
    quotas: QuotaContext,
    scenario: Scenario,
    increase: float,
    targets: Mapping[str, float | None] | None = None,
) -> dict[str, Any]:
    """CreateCase parameters for one support case about the incident's model."""
    return {
        "subject": case_subject(case_type, incident.model_id, incident.region),
        "serviceCode": SUPPORT_SERVICE_CODE,
        "categoryCode": SUPPORT_CATEGORY_CODE,
        "severityCode": "high" if incident.severity is Severity.CRITICAL else "normal",
        "issueType": "technical",
        "language": "en",
        "communicationBody": case_body(incident, usage, quotas, scenario, increase, targets=targets),
    }


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def past_requests(requests: list[PendingRequest]) -> list[PastRequest]:
    """Service Quotas' history as the governor reads it, one entry per request id. A request
    without a date cannot be placed in a cooldown: it counts only while it is open."""
    seen: dict[str, PastRequest] = {}
    for r in requests:
        created = _parse_time(r.created)
        if r.request_id in seen or (created is None and r.status not in {"PENDING", "CASE_OPENED"}):
            continue
        seen[r.request_id] = PastRequest(
            r.request_id,
            r.quota_code,
            r.desired_value,
            r.status,
            created or datetime.fromtimestamp(0, UTC),
            _parse_time(r.last_updated),
            r.previous_value,
        )
    return list(seen.values())


def governed(
    incident: Incident,
    usage: UsageSummary,
    quotas: QuotaContext,
    evidence: Mapping[str, Any],
    percents: Mapping[str, float],
    policy: Policy,
    increase: float,
    now: datetime,
) -> dict[str, Verdict]:
    """The governor's verdict for each quota in the signal's scope, by quota kind. Generic over
    kinds: a kind's peak is ``evidence["peak_<kind>"]`` and its trend ``usage.daily_peak_<kind>``."""
    history = past_requests(list(quotas.history) + list(quotas.pending_requests))
    rules = policy.governor.rules()
    verdicts: dict[str, Verdict] = {}
    for kind in _kinds(incident.quota_scope):
        quota = _quota(quotas, kind)
        if quota is None or (kind == "tpd" and not _daily_in_question(incident, evidence)):
            continue
        # usage is compared with the quota's limit (a cross-Region daily allowance is twice the
        # listed value); the governor sizes the value Service Quotas holds
        scale = Fraction(repr(float(quota.value))) / Fraction(repr(float(quota.limit)))
        peak = evidence.get(f"peak_{kind}")
        demand = Demand(
            peak=None if peak is None else float(Fraction(repr(float(peak))) * scale),
            daily_peaks=[
                float(Fraction(repr(float(p))) * scale)
                for p in getattr(usage, f"daily_peak_{kind}", None) or []
            ],
            threshold_percent=percents.get(kind, 100.0),
        )
        verdict = govern(
            quota.quota_code,
            kind,
            quota.value,
            demand,
            history,
            now,
            rules,
            increase,
            policy.guardrails.max_values.get(quota.quota_code),
        )
        filed = _filed_on(quotas, kind)
        if filed is not None and filed.quota_code != quota.quota_code:
            verdict = routed(
                verdict,
                quota.value,
                filed.quota_code,
                filed.kind,
                filed.value,
                history,
                now,
                rules,
                increase,
                policy.guardrails.max_values.get(filed.quota_code),
            )
        verdicts[kind] = verdict
    return verdicts


def _daily_in_question(incident: Incident, evidence: Mapping[str, Any]) -> bool:
    """A daily-token signal, or today's tokens at the daily threshold: only then is the daily
    quota part of the question (a throttle alone says nothing about which quota)."""
    return incident.quota_scope is QuotaScope.TPD or evidence.get("tokens_today", 0) >= evidence.get(
        "tpd_threshold", math.inf
    )


_CAPPED = {
    None: "",
    "ceiling": ", capped at the policy's ceiling",
    "window_ceiling": ", capped at what the policy's ceiling for the window leaves",
}


def sizing_text(verdict: Verdict, pressured: QuotaInfo | None = None) -> str:
    """How the governor sized a request, for people: the peak, the forecast, the headroom; for a
    request filed on another quota, the value the quota under pressure needs and the proportion."""
    basis = verdict.basis
    if "filed_on" in basis and pressured is not None:
        wanted = basis["pressured_desired"]
        capped = _CAPPED.get(
            basis.get("filed_capped_by"),
            f", capped at the +{number(basis.get('increase_percent', 0))}% increase",
        )
        rise = number(round((wanted / pressured.value - 1) * 100, 1))
        return (
            f"{pressured.kind.upper()} quota {pressured.quota_code} {number(pressured.value)} -> "
            f"{number(wanted)} ({_own_sizing(basis)}), asked in the same proportion "
            f"(+{rise}%) on the quota it is filed on{capped}"
        )
    return _own_sizing(basis)


def _own_sizing(basis: Mapping[str, Any]) -> str:
    forecast = (
        f", forecast {number(basis['forecast'])} in {number(basis['forecast_days'])} days"
        if "forecast" in basis
        else ""
    )
    capped = _CAPPED.get(
        basis.get("capped_by"), f", capped at the +{number(basis.get('increase_percent', 0))}% increase"
    )
    return (
        f"peak {number(basis.get('peak') or 0)}{forecast} needs {number(basis['needed'])} to stay "
        f"{number(basis['headroom_percent'])}% below the {number(basis['threshold_percent'])}% "
        f"threshold{capped}"
    )


def _rule_actions(
    rule: Rule,
    incident: Incident,
    usage: UsageSummary,
    quotas: QuotaContext,
    scenario: Scenario,
    increase: float,
    verdicts: Mapping[str, Verdict] | None = None,
    daily_high: bool = False,
) -> list[PlannedAction]:
    verdicts = verdicts or {}
    actions: list[PlannedAction] = []
    sized: dict[str, float] = {}  # quota code -> the value requested on it
    for action_type in rule.actions:
        if action_type is ActionType.REQUEST_QUOTA_INCREASE:
            # no signal says anything about a quota (a traffic drop, server errors): whatever a
            # custom policy says, there is no quota to request
            kinds = [] if incident.quota_scope is QuotaScope.NONE else _kinds(incident.quota_scope)
            for kind in kinds:
                if kind == "tpd" and incident.quota_scope is not QuotaScope.TPD and not daily_high:
                    continue  # a throttle is put on the daily quota only when today's tokens reach it
                pressured, verdict = _quota(quotas, kind), verdicts.get(kind)
                if pressured is None or verdict is None or verdict.desired is None:
                    continue  # no quota, or the governor refused (Plan.refusals says why)
                quota = _filed_on(quotas, kind) or pressured
                target = verdict.desired  # sized by the governor, on the quota it is filed on
                if sized.get(quota.quota_code, 0) >= target:
                    continue  # two kinds filed on the same quota: one request, the larger
                actions = [a for a in actions if not a.action_id.endswith(f":{quota.quota_code}")]
                sized[quota.quota_code] = target
                if not quota.adjustable:  # Service Quotas cannot take the request: ask AWS Support
                    actions.append(
                        _quota_request_case(rule, incident, usage, quotas, scenario, increase, quota, target)
                    )
                    continue
                actions.append(
                    PlannedAction(
                        action_id=f"{action_type.value}:{quota.quota_code}",
                        type=action_type,
                        reason=f"{rule.summary} {quota.kind.upper()} quota {number(quota.value)} -> "
                        f"{number(target)} (+{number(round((target / quota.value - 1) * 100, 1))}%)"
                        + f": {sizing_text(verdict, pressured)}."
                        + _filing_note(quotas, kind, quota)
                        + (PRIORITY_NOTE if scenario is Scenario.LOW_USAGE else ""),
                        params={
                            "ServiceCode": "bedrock",
                            "QuotaCode": quota.quota_code,
                            "DesiredValue": target,
                            "SupportCaseAllowed": True,
                        },
                    )
                )
        elif action_type is ActionType.OPEN_SUPPORT_CASE:
            actions.append(
                PlannedAction(
                    action_id=f"{action_type.value}:investigation",
                    type=action_type,
                    reason=rule.summary,
                    params=_case_params(
                        "investigation",
                        incident,
                        usage,
                        quotas,
                        scenario,
                        increase,
                        {
                            q.quota_code: v.basis.get("pressured_desired", v.desired)
                            for q in quotas.quotas
                            for k, v in verdicts.items()
                            if q.kind == k
                        },
                    ),
                )
            )
    return actions


def _filed_on(quotas: QuotaContext, kind: str) -> QuotaInfo | None:
    """The quota an increase for ``kind`` is filed on. The Bedrock user guide asks for one request
    on the model's cross-Region tokens-per-minute quota, after which AWS Support offers the related
    quotas (bedrock-quotas-notes.json, "increase-requests"): a daily-token quota, or a quota
    Service Quotas cannot adjust, is filed there when the model has one; an adjustable per-minute
    quota is requested itself."""
    quota = _quota(quotas, kind)
    if quota is None:
        return None
    via = quotas.request_quota
    if via is None or via.quota_code == quota.quota_code or (quota.adjustable and kind != "tpd"):
        return quota
    return via if via.adjustable else quota


# Bedrock user guide, quotas-increase (bedrock-quotas-notes.json, "increase-requests").
PRIORITY_NOTE = (
    " AWS gives priority to customers who generate traffic that consumes their existing quota "
    "allocation; with usage below the threshold this request may be denied."
)


def _filing_note(quotas: QuotaContext, kind: str, filed: QuotaInfo) -> str:
    quota = _quota(quotas, kind)
    if quota is None or quota.quota_code == filed.quota_code:
        return ""
    return (
        f" Filed on {filed.quota_name} ({filed.quota_code}), as the Bedrock user guide asks, for the "
        f"{kind.upper()} quota under pressure ({quota.quota_code}); AWS Support offers the related quotas."
    )


def gap_notes(quotas: QuotaContext, scope: QuotaScope) -> list[str]:
    """The quotas that did not resolve for the kinds the signals are about, each with its fix:
    nothing is requested for them, and people are told why."""
    kinds = _kinds(scope) if scope is not QuotaScope.NONE else []
    return [
        f"{g.kind.upper()} quota {g.problem.replace('_', ' ')}: {g.reason}; nothing is requested for it. "
        f"Fix: {g.fix}."
        for g in quotas.gaps
        if g.kind in kinds
    ]


def _needs_approval(
    rule: Rule, actions: list[PlannedAction], scenario: Scenario, policy: Policy, quotas: QuotaContext
) -> bool:
    """ "guardrails": production acts alone on high usage when every request it sized is at most
    ``max_auto_increase_percent`` above the quota and none was capped at the policy's ceiling."""
    if not actions:
        return False
    if rule.approval == "guardrails":
        current = {q.quota_code: q.value for q in quotas.quotas}
        requests = [a.params for a in actions if "DesiredValue" in a.params]
        capped = any(
            p.get("QuotaCode") in policy.guardrails.max_values
            and p.get("DesiredValue") == policy.guardrails.max_values[p["QuotaCode"]]
            for p in requests
        )
        steepest = max(
            (
                (
                    Fraction(repr(float(p["DesiredValue"]))) / Fraction(repr(float(current[p["QuotaCode"]])))
                    - 1
                )
                * 100
                for p in requests
                if current.get(p.get("QuotaCode", ""))
            ),
            default=Fraction(0),
        )
        within = (
            scenario is Scenario.HIGH_USAGE
            and steepest <= Fraction(repr(float(policy.guardrails.max_auto_increase_percent)))
            and not capped
            and len(requests) == len(actions)  # a quota request case goes to people
        )
        return not within
    return rule.approval == "required"


def usage_evidence(usage: UsageSummary) -> dict[str, Any]:
    """The evidence table people see: the figures the decision rests on."""
    keys = (
        "steady_rpm",
        "peak_rpm",
        "steady_tpm",
        "peak_tpm",
        "tpm_source",
        "avg_input_tokens",
        "avg_output_tokens",
        "p99_latency_ms",
        "error_rate",
        "throttle_rate",
        "unknown_reason",
    )
    table = {k: getattr(usage, k) for k in keys if getattr(usage, k) is not None}
    if usage.missing:
        table["missing_metrics"] = list(usage.missing)
    return table


def plan_actions(
    incident: Incident,
    usage: UsageSummary,
    quotas: QuotaContext,
    support: SupportContext,
    policy: Policy,
    settings: DecisionSettings,
    now: datetime | None = None,
) -> Plan:
    """Scenario, the policy rule(s) that apply, the planned actions with their reasons, whether a
    person must approve, and the evidence, forecast and recommendations shown with them.

    A mix of signals is not masked: when quota pressure comes with failures that say nothing about
    quota (server errors, latency), the quota rule and the investigation rule both apply.

    Every quota request passes the governor (domain/governor.py) at ``now`` (default: when the
    incident opened); its refusals are in ``Plan.refusals`` with their reasons.
    """
    percents = {kind: settings.percent_for(kind) for kind in QUOTA_KINDS}
    scenario, evidence = decide_scenario(incident, usage, quotas, percents)
    at = now or datetime.fromisoformat(incident.opened_at.replace("Z", "+00:00"))
    verdicts = governed(incident, usage, quotas, evidence, percents, policy, settings.increase_percent, at)
    rules = [select_rule(policy, incident.environment, scenario, incident.category)]
    if scenario is not Scenario.NON_QUOTA and needs_investigation(incident.signals):
        rules.append(select_rule(policy, incident.environment, Scenario.NON_QUOTA, Category.FAILURE))
    actions: list[PlannedAction] = []
    approval_required = False
    for rule in rules:
        rule_scenario = scenario if rule is rules[0] else Scenario.NON_QUOTA
        planned = _rule_actions(
            rule,
            incident,
            usage,
            quotas,
            rule_scenario,
            settings.increase_percent,
            verdicts,
            daily_high=_daily_in_question(incident, evidence),
        )
        approval_required |= _needs_approval(rule, planned, rule_scenario, policy, quotas)
        actions += [a for a in planned if a.action_id not in {b.action_id for b in actions}]
    evidence["usage"] = usage_evidence(usage)
    evidence["signals"] = [
        {
            "alarm": s.alarm_name,
            "metric": s.metric.name,
            "category": s.category.value,
            "observed_per_minute": s.observed_per_minute,
            "threshold_per_minute": s.threshold_per_minute,
        }
        for s in incident.signals
    ]
    evidence["forecast"] = _forecast(usage, quotas, incident)
    evidence["support_plan"] = support.plan
    return Plan(
        scenario=scenario,
        rule=" + ".join(r.name for r in rules),
        approval_required=approval_required,
        approval_timeout_seconds=settings.approval_timeout_seconds,
        actions=actions,
        summary=" ".join([*(r.summary for r in rules), *gap_notes(quotas, incident.quota_scope)]),
        evidence=evidence,
        recommendations=recommend(incident, usage, quotas, scenario),
        refusals=[
            v.refusal.to_json()
            for v in verdicts.values()
            if v.refusal is not None and any(ActionType.REQUEST_QUOTA_INCREASE in r.actions for r in rules)
        ],
    )
