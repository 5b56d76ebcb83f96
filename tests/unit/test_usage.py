"""summarize_usage: per-minute CloudWatch series reduced to the figures a decision rests on."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from opspilot.domain.usage import USAGE_METRICS, summarize_usage

END = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
MODEL = "us.anthropic.claude-3-7-sonnet-20250219-v1:0"
Series = list[tuple[datetime, float]]


def per_minute(values: Sequence[float], last: datetime = END - timedelta(minutes=1)) -> Series:
    """Consecutive one-minute datapoints, oldest first, the last one at ``last``."""
    start = last - timedelta(minutes=len(values) - 1)
    return [(start + timedelta(minutes=i), float(v)) for i, v in enumerate(values)]


def at(*points: tuple[timedelta, float]) -> Series:
    """Datapoints at ``END - age``."""
    return [(END - age, value) for age, value in points]


@pytest.mark.parametrize(
    ("invocations", "steady", "peak"),
    [
        ([10, 20, 30, 60], 30.0, 60.0),
        ([1, 2, 2], 1.7, 2.0),  # mean rounded to one decimal
        ([250], 250.0, 250.0),
    ],
)
def test_steady_is_the_mean_and_peak_the_max(invocations: list[float], steady: float, peak: float) -> None:
    usage = summarize_usage(MODEL, 14, {"Invocations": per_minute(invocations)}, END)

    assert (usage.steady_rpm, usage.peak_rpm) == (steady, peak)
    assert usage.datapoints == len(invocations)


def test_estimated_tpm_quota_usage_is_preferred_over_input_plus_output() -> None:
    usage = summarize_usage(
        MODEL,
        14,
        {
            "Invocations": per_minute([10, 10]),
            "EstimatedTPMQuotaUsage": per_minute([90_000, 150_000]),
            "InputTokenCount": per_minute([40_000, 50_000]),
            "OutputTokenCount": per_minute([2_000, 3_000]),
        },
        END,
    )

    assert usage.tpm_source == "EstimatedTPMQuotaUsage"
    assert (usage.steady_tpm, usage.peak_tpm) == (120_000.0, 150_000.0)


def test_without_estimated_tpm_input_and_output_are_summed_per_minute() -> None:
    t1, t2, t3 = END - timedelta(minutes=3), END - timedelta(minutes=2), END - timedelta(minutes=1)
    usage = summarize_usage(
        MODEL,
        14,
        {
            "Invocations": [(t1, 5.0), (t2, 8.0), (t3, 1.0)],
            "InputTokenCount": [(t1, 10_000.0), (t2, 20_000.0)],
            "OutputTokenCount": [(t1, 1_000.0), (t2, 3_000.0), (t3, 600.0)],
        },
        END,
    )

    assert usage.tpm_source == "InputTokenCount+OutputTokenCount"
    # per minute: 11,000 / 23,000 / 600 -- summed by timestamp, not paired by position
    assert usage.peak_tpm == 23_000.0
    assert usage.steady_tpm == round((11_000 + 23_000 + 600) / 3, 1)
    assert "EstimatedTPMQuotaUsage" in usage.missing


def test_input_tokens_alone_still_give_a_tpm_figure() -> None:
    usage = summarize_usage(
        MODEL, 14, {"Invocations": per_minute([2]), "InputTokenCount": per_minute([7_000])}, END
    )

    assert (usage.peak_tpm, usage.tpm_source) == (7_000.0, "InputTokenCount+OutputTokenCount")


def test_tokens_per_request_divide_by_all_invocations() -> None:
    usage = summarize_usage(
        MODEL,
        14,
        {
            "Invocations": per_minute([4, 6]),
            "InputTokenCount": per_minute([4_000, 6_500]),
            "OutputTokenCount": per_minute([300, 200]),
        },
        END,
    )

    assert (usage.avg_input_tokens, usage.avg_output_tokens) == (1050.0, 50.0)


def test_tokens_per_request_unknown_without_invocations() -> None:
    usage = summarize_usage(MODEL, 14, {"InputTokenCount": per_minute([4_000])}, END)

    assert usage.avg_input_tokens is None
    assert usage.steady_rpm is None
    assert usage.datapoints == 0


def test_error_totals_are_sums_over_the_window() -> None:
    usage = summarize_usage(
        MODEL,
        14,
        {
            "Invocations": per_minute([100, 100, 100]),
            "InvocationThrottles": per_minute([0, 12, 30]),
            "InvocationServerErrors": per_minute([1, 0, 2]),
            "InvocationClientErrors": per_minute([0, 0, 0]),
        },
        END,
    )

    assert (usage.throttles, usage.server_errors, usage.client_errors) == (42.0, 3.0, 0.0)


def test_missing_metrics_are_listed_and_unknown_not_zero() -> None:
    usage = summarize_usage(MODEL, 14, {"Invocations": per_minute([5, 7]), "InvocationThrottles": []}, END)

    assert usage.missing == [
        "InputTokenCount",
        "OutputTokenCount",
        "EstimatedTPMQuotaUsage",
        "InvocationThrottles",
        "InvocationServerErrors",
        "InvocationClientErrors",
    ]
    assert usage.throttles is None
    assert usage.server_errors is None
    assert usage.client_errors is None
    assert (usage.steady_tpm, usage.peak_tpm, usage.tpm_source) == (None, None, None)
    assert (usage.avg_input_tokens, usage.avg_output_tokens) == (None, None)
    assert usage.daily_peak_tpm == []


def test_a_published_zero_is_known_not_missing() -> None:
    usage = summarize_usage(
        MODEL, 14, {"Invocations": per_minute([5]), "InvocationThrottles": per_minute([0])}, END
    )

    assert usage.throttles == 0.0
    assert "InvocationThrottles" not in usage.missing


def test_no_data_at_all() -> None:
    usage = summarize_usage(MODEL, 14, {}, END)

    assert usage.missing == list(USAGE_METRICS)
    assert usage.datapoints == 0
    assert (usage.steady_rpm, usage.peak_rpm, usage.steady_tpm, usage.peak_tpm) == (None, None, None, None)
    assert (usage.daily_peak_rpm, usage.daily_peak_tpm) == ([], [])


def test_daily_peaks_are_whole_24h_windows_back_from_end() -> None:
    day = timedelta(days=1)
    invocations = at(
        (timedelta(0), 7.0),  # exactly at end: newest window
        (timedelta(minutes=1), 50.0),  # newest window
        (day - timedelta(minutes=1), 60.0),  # still the newest window
        (day, 20.0),  # exactly 24 h back: the previous window
        (2 * day - timedelta(minutes=1), 35.0),  # previous window
        (2 * day + timedelta(minutes=1), 90.0),  # oldest window
        (3 * day, 999.0),  # outside the 3-day window
        (-timedelta(minutes=1), 999.0),  # after end: ignored
    )

    usage = summarize_usage(MODEL, 3, {"Invocations": invocations}, END)

    assert usage.daily_peak_rpm == [90.0, 35.0, 60.0]  # oldest first


def test_daily_peaks_are_zero_for_days_without_datapoints() -> None:
    usage = summarize_usage(
        MODEL, 4, {"Invocations": at((timedelta(hours=1), 30.0), (timedelta(days=2, hours=1), 10.0))}, END
    )

    assert usage.daily_peak_rpm == [0.0, 10.0, 0.0, 30.0]


def test_daily_tpm_peaks_follow_the_tpm_source() -> None:
    usage = summarize_usage(
        MODEL,
        2,
        {
            "Invocations": at((timedelta(hours=1), 1.0)),
            "InputTokenCount": at((timedelta(hours=30), 500.0), (timedelta(hours=1), 800.0)),
            "OutputTokenCount": at((timedelta(hours=30), 100.0), (timedelta(hours=1), 50.0)),
        },
        END,
    )

    assert usage.daily_peak_tpm == [600.0, 850.0]
