"""Reduce per-minute CloudWatch series to the usage evidence decisions need."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from statistics import fmean

from opspilot.domain.model import UsageSummary

# The per-minute series Gather Usage asks CloudWatch for (all Sum over 60 s).
USAGE_METRICS = (
    "Invocations",
    "InputTokenCount",
    "OutputTokenCount",
    "EstimatedTPMQuotaUsage",
    "InvocationThrottles",
    "InvocationServerErrors",
    "InvocationClientErrors",
)

Series = Sequence[tuple[datetime, float]]


def _daily_peaks(series: Series, end: datetime, days: int) -> list[float]:
    """Peak of each 24-hour window counted back from ``end``, oldest first (whole windows, so
    the current calendar day's partial data does not look like a drop)."""
    peaks = [0.0] * days
    for ts, value in series:
        age = int((end - ts).total_seconds() // 86400)
        if 0 <= age < days:
            peaks[days - 1 - age] = max(peaks[days - 1 - age], value)
    return peaks


def _sum_by_timestamp(a: Series, b: Series) -> list[tuple[datetime, float]]:
    total: dict[datetime, float] = defaultdict(float)
    for ts, value in [*a, *b]:
        total[ts] += value
    return sorted(total.items())


def _daily_sums(series: Series, end: datetime, days: int) -> list[float]:
    sums = [0.0] * days
    for ts, value in series:
        age = int((end - ts).total_seconds() // 86400)
        if 0 <= age < days:
            sums[days - 1 - age] += value
    return sums


def _utc_days(series: Series, end: datetime, days: int) -> tuple[list[float], float]:
    """Tokens per UTC calendar day: the ``days`` whole days before ``end``'s day, oldest first,
    and ``end``'s day so far (the daily quota counts tokens per day)."""
    today = end.astimezone(UTC).date()
    whole = [0.0] * days
    so_far = 0.0
    for ts, value in series:
        age = (today - ts.astimezone(UTC).date()).days
        if age == 0:
            so_far += value
        elif 0 < age <= days:
            whole[days - age] += value
    return whole, so_far


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return round(numerator / denominator, 4)


def summarize_usage(
    model_id: str,
    days: int,
    series: Mapping[str, Series],
    end: datetime,
    latency_key: str = "InvocationLatency:p99",
) -> UsageSummary:
    """Steady (mean over minutes with traffic) and peak per-minute rates, tokens per request,
    p99 latency, error and throttle rates, and per-day figures for the trend and the loop check.

    A metric with no datapoints is listed in ``missing`` and its figures are ``None``: unknown,
    not zero.
    """
    missing = [name for name in USAGE_METRICS if not series.get(name)]
    invocations = series.get("Invocations") or []
    tokens_in = series.get("InputTokenCount") or []
    tokens_out = series.get("OutputTokenCount") or []
    estimated = series.get("EstimatedTPMQuotaUsage") or []
    generated = _sum_by_timestamp(tokens_in, tokens_out) if (tokens_in or tokens_out) else []
    if estimated:
        tpm, tpm_source = list(estimated), "EstimatedTPMQuotaUsage"
    elif generated:
        tpm, tpm_source = generated, "InputTokenCount+OutputTokenCount"
    else:
        tpm, tpm_source = [], None
    total_requests = sum(v for _, v in invocations)

    def total(name: str) -> float | None:
        points = series.get(name)
        return sum(v for _, v in points) if points else None

    def per_request(points: Series) -> float | None:
        if not points or total_requests <= 0:
            return None
        return round(sum(v for _, v in points) / total_requests, 1)

    throttles, server_errors = total("InvocationThrottles"), total("InvocationServerErrors")
    latency = series.get(latency_key) or []
    daily_requests = _daily_sums(invocations, end, days) if invocations else []
    token_days, token_today = _utc_days(tpm, end, days) if tpm else ([], None)
    daily_tokens = _daily_sums(generated, end, days) if generated and invocations else []
    return UsageSummary(
        model_id=model_id,
        days=days,
        datapoints=len(invocations),
        steady_rpm=round(fmean(v for _, v in invocations), 1) if invocations else None,
        peak_rpm=max(v for _, v in invocations) if invocations else None,
        steady_tpm=round(fmean(v for _, v in tpm), 1) if tpm else None,
        peak_tpm=max(v for _, v in tpm) if tpm else None,
        tpm_source=tpm_source,
        avg_input_tokens=per_request(tokens_in),
        avg_output_tokens=per_request(tokens_out),
        throttles=throttles,
        server_errors=server_errors,
        client_errors=total("InvocationClientErrors"),
        p99_latency_ms=round(max(v for _, v in latency), 1) if latency else None,
        error_rate=_ratio(server_errors, total_requests),
        throttle_rate=_ratio(throttles, total_requests + (throttles or 0)),
        peak_generated_tpm=max(v for _, v in generated) if estimated and generated else None,
        daily_peak_rpm=_daily_peaks(invocations, end, days) if invocations else [],
        daily_peak_tpm=_daily_peaks(tpm, end, days) if tpm else [],
        daily_invocations=daily_requests,
        daily_tokens_per_request=[
            round(t / r, 1) if r else None for t, r in zip(daily_tokens, daily_requests, strict=False)
        ]
        if daily_tokens
        else [],
        missing=missing,
        daily_token_totals=token_days,
        tokens_today=token_today,
        as_of=end.astimezone(UTC).isoformat(),
    )
