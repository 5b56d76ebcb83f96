"""Scenario, thresholds, forecast and the planned actions: the decision, as pure functions."""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from opspilot.domain.format import number
from opspilot.domain.model import (
    ActionType,
    Incident,
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
from opspilot.domain.policy import Policy, select_rule

SUPPORT_SERVICE_CODE = "amazon-bedrock"
SUPPORT_CATEGORY_CODE = "general-guidance"


@dataclass(frozen=True)
class DecisionSettings:
    threshold_percent: float
    increase_percent: float
    approval_timeout_seconds: int


def threshold(quota_value: float, percent: float) -> int:
    """The usage level that counts as pressure: floor(quota x percent / 100)."""
    return math.floor(quota_value * percent / 100)


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
    return next((q for q in context.quotas if q.kind == kind), None)


def _kinds(scope: QuotaScope) -> list[str]:
    return {QuotaScope.RPM: ["rpm"], QuotaScope.TPM: ["tpm"]}.get(scope, ["rpm", "tpm"])


def decide_scenario(
    incident: Incident, usage: UsageSummary, quotas: QuotaContext, percent: float
) -> tuple[Scenario, dict[str, Any]]:
    """The scenario and the evidence it rests on."""
    evidence: dict[str, Any] = {"threshold_percent": percent}
    if incident.quota_scope is QuotaScope.NONE:
        return Scenario.NON_QUOTA, evidence
    if usage.datapoints == 0 or quotas.unknown_reason is not None:
        evidence["why"] = quotas.unknown_reason or "no usage history"
        return Scenario.NEW_MODEL, evidence
    high = False
    in_scope = _kinds(incident.quota_scope)  # an RPM signal is judged on RPM usage, TPM on TPM
    peaks = {"rpm": usage.peak_rpm, "tpm": usage.peak_tpm}
    for kind in ("rpm", "tpm"):
        quota, peak = _quota(quotas, kind), peaks[kind]
        if quota is None or peak is None:
            continue
        limit = threshold(quota.value, percent)
        evidence[f"{kind}_quota"] = quota.value
        evidence[f"{kind}_threshold"] = limit
        evidence[f"peak_{kind}"] = peak
        high = high or (kind in in_scope and peak >= limit)
    if not any(f"{kind}_threshold" in evidence for kind in in_scope):
        evidence["why"] = "no usable quota or usage figure"
        return Scenario.NEW_MODEL, evidence
    return (Scenario.HIGH_USAGE if high else Scenario.LOW_USAGE), evidence


def _forecast(usage: UsageSummary, quotas: QuotaContext) -> dict[str, str]:
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
    return out


def _case_body(incident: Incident, usage: UsageSummary, quotas: QuotaContext, scenario: Scenario) -> str:
    lines = [
        f"Model: {incident.model_id}",
        f"Region: {incident.region}",
        f"Triggering alarms: {', '.join(s.alarm_name for s in incident.signals)}",
        f"Steady / peak RPM (14 days): {usage.steady_rpm} / {usage.peak_rpm}",
        f"Steady / peak TPM (14 days): {usage.steady_tpm} / {usage.peak_tpm}",
        f"Average input / output tokens per request: {usage.avg_input_tokens} / {usage.avg_output_tokens}",
        f"Server errors / throttles (14 days): {usage.server_errors} / {usage.throttles}",
    ]
    lines += [f"Quota {q.quota_name} ({q.quota_code}): {q.value}" for q in quotas.quotas]
    lines.append(f"OpsPilot scenario: {scenario.value}; incident {incident.incident_id}")
    return "\n".join(lines)


def plan_actions(
    incident: Incident,
    usage: UsageSummary,
    quotas: QuotaContext,
    support: SupportContext,
    policy: Policy,
    settings: DecisionSettings,
) -> Plan:
    scenario, evidence = decide_scenario(incident, usage, quotas, settings.threshold_percent)
    rule = select_rule(policy, incident.environment, scenario, incident.category)
    actions: list[PlannedAction] = []
    for action_type in rule.actions:
        if action_type is ActionType.REQUEST_QUOTA_INCREASE:
            for kind in _kinds(incident.quota_scope):
                quota = _quota(quotas, kind)
                if quota is None:
                    continue
                target = desired_value(quota.value, settings.increase_percent)
                actions.append(
                    PlannedAction(
                        action_id=f"{action_type.value}:{quota.quota_code}",
                        type=action_type,
                        reason=f"{rule.summary} {kind.upper()} quota {number(quota.value)} -> "
                        f"{number(target)} (+{number(settings.increase_percent)}%).",
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
                    params={
                        "subject": f"[OpsPilot] investigation: {incident.model_id} in {incident.region}",
                        "serviceCode": SUPPORT_SERVICE_CODE,
                        "categoryCode": SUPPORT_CATEGORY_CODE,
                        "severityCode": "high" if incident.severity is Severity.CRITICAL else "normal",
                        "issueType": "technical",
                        "language": "en",
                        "communicationBody": _case_body(incident, usage, quotas, scenario),
                    },
                )
            )
    if rule.approval == "guardrails":
        within = (
            scenario is Scenario.HIGH_USAGE
            and settings.increase_percent <= policy.guardrails.max_auto_increase_percent
        )
        approval_required = bool(actions) and not within
    else:
        approval_required = rule.approval == "required" and bool(actions)
    evidence["forecast"] = _forecast(usage, quotas)
    evidence["support_plan"] = support.plan
    return Plan(
        scenario=scenario,
        rule=rule.name,
        approval_required=approval_required,
        approval_timeout_seconds=settings.approval_timeout_seconds,
        actions=actions,
        summary=rule.summary,
        evidence=evidence,
    )
