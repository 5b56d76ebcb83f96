"""Reduce per-minute CloudWatch series to the usage evidence decisions need."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
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


def summarize_usage(model_id: str, days: int, series: Mapping[str, Series], end: datetime) -> UsageSummary:
    """Steady (mean over minutes with traffic) and peak per-minute rates, tokens per request, errors.

    A metric with no datapoints is listed in ``missing`` and its figures are ``None``: unknown,
    not zero.
    """
    missing = [name for name in USAGE_METRICS if not series.get(name)]
    invocations = series.get("Invocations") or []
    tokens_in = series.get("InputTokenCount") or []
    tokens_out = series.get("OutputTokenCount") or []
    estimated = series.get("EstimatedTPMQuotaUsage") or []
    if estimated:
        tpm, tpm_source = list(estimated), "EstimatedTPMQuotaUsage"
    elif tokens_in or tokens_out:
        tpm, tpm_source = _sum_by_timestamp(tokens_in, tokens_out), "InputTokenCount+OutputTokenCount"
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
        throttles=total("InvocationThrottles"),
        server_errors=total("InvocationServerErrors"),
        client_errors=total("InvocationClientErrors"),
        daily_peak_rpm=_daily_peaks(invocations, end, days) if invocations else [],
        daily_peak_tpm=_daily_peaks(tpm, end, days) if tpm else [],
        missing=missing,
    )
