"""The quota governor: every quota increase OpsPilot plans or files passes it, twice.

Decide asks it what to request for each quota in the signal's scope (:func:`govern`); Execute
Action asks it again, with Service Quotas' history read a moment before filing
(:func:`check_history`), because an approval can take hours and another incident may have filed
meanwhile. It refuses, with a reason written into the plan and the message:

- ``pending_request``: a request for the quota is still open (PENDING or CASE_OPENED): never
  stack a request on a pending one;
- ``cooldown``: a request for the quota was filed, or raised it, within the policy's
  ``cooldown_days`` (default 7);
- ``window_limit``: ``max_requests_per_window`` requests for the quota were filed within
  ``window_days`` (default: 2 in 30 days);
- ``window_ceiling``: the issue's "absolute per-quota ceiling per window": the sum of our increases
  of the quota within ``window_days`` (each request's value less the quota's value when it was
  filed, from our own ledger; a request AWS denied raised nothing) has reached the policy's
  ``window_ceilings[code]``, in the quota's own unit. A request that would pass it is capped at
  what is left;
- ``at_ceiling``: the quota is already at the policy's absolute ceiling for its code
  (``guardrails.max_values``), the most it may ever reach;
- ``no_evidence``: no usage figure to size a request from;
- ``evidence_within_quota``: the quota already holds what the evidence needs.

Otherwise the request is sized by the evidence, never "current + n %" regardless of use: the
quota at which the higher of the peak and its forecast sits ``headroom_percent`` below the
pressure threshold, ``ceil(demand x 100 / threshold % x (1 + headroom / 100))``, then capped by the
increase percent (``IncreasePercent`` or the registry's), by what is left of the window's ceiling,
and by the absolute ceiling. Generic over the quota
kind: a per-minute or a per-day quota takes the peak and daily peaks in its own unit.

The history is Service Quotas' own (ListRequestedServiceQuotaChangeHistory), so a request whose
response was lost, or one a person filed, counts too (docs/decisions.md, "The quota governor").
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

from opspilot.domain.format import iso, number

OPEN_STATUSES = frozenset({"PENDING", "CASE_OPENED"})
# Service Quotas' statuses of a request that raised nothing (RequestStatus in its botocore model)
REFUSED_STATUSES = frozenset({"DENIED", "NOT_APPROVED", "CASE_CLOSED", "INVALID_REQUEST"})
REASONS = (
    "pending_request",
    "cooldown",
    "window_limit",
    "window_ceiling",
    "at_ceiling",
    "no_evidence",
    "evidence_within_quota",
)


@dataclass(frozen=True)
class Rules:
    """The policy's ``governor`` section (see :class:`opspilot.domain.policy.GovernorPolicy`)."""

    cooldown_days: float = 7
    headroom_percent: float = 20
    forecast_days: float = 14
    window_days: float = 30
    max_requests_per_window: int = 2
    # quota code -> the most the sum of our increases of it may reach within window_days
    window_ceilings: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class PastRequest:
    """One increase request for a quota, as Service Quotas' history lists it."""

    request_id: str
    quota_code: str
    desired_value: float
    status: str
    created: datetime
    last_updated: datetime | None = None
    previous_value: float | None = None  # the quota's value when we filed it; None: not ours

    @property
    def latest(self) -> datetime:
        """When it last happened: filed, or decided (raised, denied)."""
        return max(self.created, self.last_updated or self.created)


@dataclass(frozen=True)
class Demand:
    """What the evidence says one quota must hold, in the quota's own unit."""

    peak: float | None  # the highest figure seen (history or the alarm's own, per unit of time)
    daily_peaks: Sequence[float]  # oldest first, for the trend
    threshold_percent: float  # the pressure threshold, percent of the quota


@dataclass(frozen=True)
class Refusal:
    quota_code: str
    kind: str
    reason: str  # one of REASONS
    text: str
    request_id: str | None = None
    until: str | None = None  # when a cooldown or window ends

    def to_json(self) -> dict[str, Any]:
        out = {"quota_code": self.quota_code, "kind": self.kind, "reason": self.reason, "text": self.text}
        return out | {k: v for k, v in (("request_id", self.request_id), ("until", self.until)) if v}


@dataclass(frozen=True)
class Verdict:
    """What may be requested for one quota (``desired``), or why nothing (``refusal``)."""

    desired: float | None
    refusal: Refusal | None
    basis: dict[str, Any] = field(default_factory=dict)  # the figures the size rests on


def _day(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def forecast_peak(daily_peaks: Sequence[float], days: float) -> float | None:
    """The daily peak ``days`` after the latest on a least-squares linear trend, rounded up; None
    when the trend is flat or falling, or there are fewer than two days."""
    n = len(daily_peaks)
    if n < 2 or days <= 0:
        return None
    mean_x, mean_y = (n - 1) / 2, sum(daily_peaks) / n
    var = sum((x - mean_x) ** 2 for x in range(n))
    slope = sum((x - mean_x) * (y - mean_y) for x, y in enumerate(daily_peaks)) / var
    return None if slope <= 0 else float(math.ceil(daily_peaks[-1] + slope * days))


def needed_value(demand: Demand, rules: Rules) -> tuple[int | None, dict[str, Any]]:
    """The quota the evidence justifies, and its basis. Exact arithmetic (no float ceilings)."""
    forecast = forecast_peak(demand.daily_peaks, rules.forecast_days)
    figures = [f for f in (demand.peak, forecast) if f is not None]
    basis: dict[str, Any] = {"peak": demand.peak}
    if forecast is not None:
        basis |= {"forecast": forecast, "forecast_days": rules.forecast_days}
    if not figures:
        return None, basis
    exact = (
        Fraction(repr(float(max(figures))))
        * 100
        / Fraction(repr(float(demand.threshold_percent)))
        * (100 + Fraction(repr(float(rules.headroom_percent))))
        / 100
    )
    needed = max(1, math.ceil(exact))
    return needed, basis | {
        "threshold_percent": demand.threshold_percent,
        "headroom_percent": rules.headroom_percent,
        "needed": needed,
    }


def _increase_cap(current: float, increase_percent: float) -> float:
    return float(
        math.ceil(Fraction(repr(float(current))) * (100 + Fraction(repr(float(increase_percent)))) / 100)
    )


def check_history(
    quota_code: str, kind: str, history: Iterable[PastRequest], now: datetime, rules: Rules
) -> Refusal | None:
    """The refusals that rest on past requests only: pending, cooldown, window. Newest first."""
    mine = sorted((r for r in history if r.quota_code == quota_code), key=lambda r: r.latest, reverse=True)
    label = f"{kind.upper()} quota {quota_code}" if kind else f"Quota {quota_code}"
    if pending := next((r for r in mine if r.status in OPEN_STATUSES), None):
        return Refusal(
            quota_code,
            kind,
            "pending_request",
            f"{label}: request {pending.request_id} for {number(pending.desired_value)} "
            f"is still {pending.status}; no request is stacked on a pending one.",
            request_id=pending.request_id,
        )
    cooldown = timedelta(days=rules.cooldown_days)
    if (recent := next((r for r in mine if now - r.latest < cooldown), None)) is not None:
        until = recent.latest + cooldown
        what = "raised it to" if recent.status == "APPROVED" else f"asked for ({recent.status})"
        return Refusal(
            quota_code,
            kind,
            "cooldown",
            f"{label}: request {recent.request_id} {what} {number(recent.desired_value)} "
            f"on {_day(recent.latest)}; no new request before {_day(until)} "
            f"({number(rules.cooldown_days)}-day cooldown).",
            request_id=recent.request_id,
            until=iso(until),
        )
    window = timedelta(days=rules.window_days)
    in_window = [r for r in mine if now - r.created < window]
    if len(in_window) >= rules.max_requests_per_window:
        until = min(r.created for r in in_window) + window
        return Refusal(
            quota_code,
            kind,
            "window_limit",
            f"{label}: {len(in_window)} requests in the last {number(rules.window_days)} "
            f"days (at most {rules.max_requests_per_window}); no new request before {_day(until)}.",
            until=iso(until),
        )
    return None


def window_increase(quota_code: str, history: Iterable[PastRequest], now: datetime, rules: Rules) -> float:
    """The sum of our increases of the quota filed within the window: each request's value less
    the quota's value when we filed it. A request AWS refused raised nothing; one we did not
    file (no value on our ledger) is not ours."""
    window = timedelta(days=rules.window_days)
    return float(
        sum(
            max(Fraction(repr(float(r.desired_value))) - Fraction(repr(float(r.previous_value))), Fraction(0))
            for r in history
            if r.quota_code == quota_code
            and r.previous_value is not None
            and r.status not in REFUSED_STATUSES
            and now - r.created < window
        )
    )


def window_room(
    quota_code: str, kind: str, history: Iterable[PastRequest], now: datetime, rules: Rules
) -> tuple[float | None, Refusal | None]:
    """How much our increases of the quota may still add within the window (None: no ceiling for
    it), or the refusal when nothing is left."""
    ceiling = rules.window_ceilings.get(quota_code)
    if ceiling is None:
        return None, None
    past = list(history)
    used = window_increase(quota_code, past, now, rules)
    room = ceiling - used
    if room > 0:
        return room, None
    window = timedelta(days=rules.window_days)
    counted = [
        r.created
        for r in past
        if r.quota_code == quota_code and r.previous_value is not None and now - r.created < window
    ]
    until = min(counted) + window if counted else now
    label = f"{kind.upper()} quota {quota_code}" if kind else f"Quota {quota_code}"
    text = (
        f"{label}: our increases within the last {number(rules.window_days)} days add "
        f"{number(used)}, the policy's ceiling for the window ({number(ceiling)}); no new request "
        f"before {_day(until)}."
    )
    return None, Refusal(quota_code, kind, "window_ceiling", text, until=iso(until))


def govern(
    quota_code: str,
    kind: str,
    current: float,
    demand: Demand,
    history: Iterable[PastRequest],
    now: datetime,
    rules: Rules,
    increase_percent: float,
    ceiling: float | None = None,
) -> Verdict:
    """What may be requested for one quota now, and on what basis; or the refusal and its reason."""
    if refusal := check_history(quota_code, kind, history, now, rules):
        return Verdict(None, refusal)
    label = f"{kind.upper()} quota {quota_code}"
    if ceiling is not None and current >= ceiling:
        text = f"{label} is {number(current)}, at the policy's ceiling of {number(ceiling)}."
        return Verdict(None, Refusal(quota_code, kind, "at_ceiling", text))
    needed, basis = needed_value(demand, rules)
    if needed is None:
        text = f"{label}: no usage figure to size a request from; nothing is requested."
        return Verdict(None, Refusal(quota_code, kind, "no_evidence", text), basis)
    if needed <= current:
        forecast = f", forecast {number(basis['forecast'])}" if "forecast" in basis else ""
        text = (
            f"{label}: the evidence (peak {number(demand.peak or 0)}{forecast}) needs "
            f"{number(needed)} to stay {number(rules.headroom_percent)}% below the "
            f"{number(demand.threshold_percent)}% threshold; the quota is already {number(current)}."
        )
        return Verdict(None, Refusal(quota_code, kind, "evidence_within_quota", text), basis)
    room, full = window_room(quota_code, kind, history, now, rules)
    if full is not None:
        return Verdict(None, full, basis)
    desired, capped_by = float(needed), None
    cap = _increase_cap(current, increase_percent)
    if cap < desired:
        desired, capped_by = cap, "increase_percent"
    if room is not None and current + room < desired:
        desired, capped_by = float(math.floor(current + room)), "window_ceiling"
        basis["window_room"] = room
    if ceiling is not None and ceiling < desired:
        desired, capped_by = float(ceiling), "ceiling"
    if capped_by:
        basis |= {"capped_by": capped_by, "increase_percent": increase_percent}
    return Verdict(desired, None, basis)


def routed(
    verdict: Verdict,
    pressured_value: float,
    filed_code: str,
    filed_kind: str,
    filed_value: float,
    history: Iterable[PastRequest],
    now: datetime,
    rules: Rules,
    increase_percent: float,
    ceiling: float | None = None,
) -> Verdict:
    """A request for one quota filed on another: the Bedrock user guide asks for increases of a
    model's daily-token quota, or of a quota Service Quotas cannot adjust, to be filed on its
    cross-Region tokens-per-minute quota, after which AWS Support offers the related quotas
    (bedrock-quotas-notes.json, "increase-requests"). The request passes the governor twice: the
    quota under pressure is sized from its evidence (``verdict``), and the quota it is filed on is
    checked on its own history and ceiling. It asks for the same proportion the evidence asks of
    the quota under pressure: ``ceil(filed x desired / pressured)``. The account's own ratio between
    the two quotas is kept (AWS's default daily quota is TPM x 24 x 60, but an account may have
    less, bedrock-quotas-notes.json "tokens-per-day"), so the proportion, not a unit conversion,
    carries the evidence over; capped like any request by the increase percent and the ceiling."""
    if verdict.desired is None:
        return verdict
    if refusal := check_history(filed_code, filed_kind, history, now, rules):
        return Verdict(None, refusal, verdict.basis)
    label = f"{filed_kind.upper()} quota {filed_code}"
    if ceiling is not None and filed_value >= ceiling:
        text = f"{label} is {number(filed_value)}, at the policy's ceiling of {number(ceiling)}."
        return Verdict(None, Refusal(filed_code, filed_kind, "at_ceiling", text), verdict.basis)
    room, full = window_room(filed_code, filed_kind, history, now, rules)
    if full is not None:
        return Verdict(None, full, verdict.basis)
    proportion = Fraction(repr(float(verdict.desired))) / Fraction(repr(float(pressured_value)))
    desired, capped_by = float(math.ceil(Fraction(repr(float(filed_value))) * proportion)), None
    cap = _increase_cap(filed_value, increase_percent)
    if cap < desired:
        desired, capped_by = cap, "increase_percent"
    if room is not None and filed_value + room < desired:
        desired, capped_by = float(math.floor(filed_value + room)), "window_ceiling"
    if ceiling is not None and ceiling < desired:
        desired, capped_by = float(ceiling), "ceiling"
    basis = verdict.basis | {
        "filed_on": filed_code,
        "pressured_desired": verdict.desired,
        "pressured_value": pressured_value,
    }
    if capped_by:
        basis |= {"filed_capped_by": capped_by, "increase_percent": increase_percent}
    return Verdict(desired, None, basis)
