"""The quota governor (domain/governor.py): what a quota request may be, and every refusal's reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from opspilot.domain.governor import (
    Demand,
    PastRequest,
    Rules,
    check_history,
    forecast_peak,
    govern,
    needed_value,
)

NOW = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
CODE = "L-F2717A44"
RULES = Rules()  # 7-day cooldown, 20 % headroom, 14-day forecast, 2 requests per 30 days


def past(
    status: str, days_ago: float, desired: float = 1500, updated_days_ago: float | None = None
) -> PastRequest:
    updated = None if updated_days_ago is None else NOW - timedelta(days=updated_days_ago)
    return PastRequest(
        f"req-{status}-{days_ago}", CODE, desired, status, NOW - timedelta(days=days_ago), updated
    )


def rpm(
    current: float,
    peak: float | None,
    daily: list[float] | None = None,
    history: list[PastRequest] | None = None,
    increase: float = 50,
    ceiling: float | None = None,
):  # type: ignore[no-untyped-def]
    return govern(
        CODE, "rpm", current, Demand(peak, daily or [], 80), history or [], NOW, RULES, increase, ceiling
    )


def test_the_request_is_sized_by_the_peak_not_by_a_fixed_percent() -> None:
    verdict = rpm(1000, 950)
    # 950 must sit 20 % below the 80 % threshold: 950 / 0.8 x 1.2 = 1,425 (not 1,000 + 50 % = 1,500)
    assert (verdict.desired, verdict.refusal) == (1425.0, None)
    assert verdict.basis == {"peak": 950, "threshold_percent": 80, "headroom_percent": 20, "needed": 1425}


def test_a_growing_trend_sizes_by_its_forecast() -> None:
    assert forecast_peak([600, 650, 700, 750, 800], 14) == 1500.0
    assert forecast_peak([800, 800, 800], 14) is None  # flat: the peak decides
    verdict = rpm(1000, 800, daily=[600, 650, 700, 750, 800], increase=200)
    assert (verdict.desired, verdict.basis["forecast"]) == (2250.0, 1500.0)


def test_the_increase_percent_and_the_ceiling_cap_the_size() -> None:
    assert rpm(1000, 2000).desired == 1500.0  # needs 3,000: capped at +50 %
    assert rpm(1000, 2000).basis["capped_by"] == "increase_percent"
    capped = rpm(1000, 2000, ceiling=1200)
    assert (capped.desired, capped.basis["capped_by"]) == (1200.0, "ceiling")


@pytest.mark.parametrize(
    ("history", "reason"),
    [
        ([past("PENDING", 20)], "pending_request"),
        ([past("CASE_OPENED", 20)], "pending_request"),
        ([past("APPROVED", 10, updated_days_ago=6.9)], "cooldown"),  # raised 6.9 days ago
        ([past("DENIED", 6)], "cooldown"),  # asked 6 days ago
        ([past("DENIED", 25), past("APPROVED", 12, updated_days_ago=11)], "window_limit"),
    ],
)
def test_history_refusals(history: list[PastRequest], reason: str) -> None:
    verdict = rpm(1000, 950, history=history)
    assert verdict.desired is None
    assert verdict.refusal is not None and verdict.refusal.reason == reason


def test_after_the_cooldown_and_outside_the_window_a_request_goes_through() -> None:
    assert rpm(1000, 950, history=[past("APPROVED", 40, updated_days_ago=31)]).desired == 1425.0
    assert rpm(1000, 950, history=[past("APPROVED", 10, updated_days_ago=7.1)]).desired == 1425.0


def test_another_quotas_history_does_not_count() -> None:
    other = PastRequest("req-x", "L-00000000", 5, "PENDING", NOW)  # in no catalog: any other quota
    assert rpm(1000, 950, history=[other]).desired == 1425.0


def test_a_cooldown_refusal_says_which_request_and_until_when() -> None:
    refusal = check_history(CODE, "rpm", [past("APPROVED", 3, updated_days_ago=2)], NOW, RULES)
    assert refusal is not None
    assert refusal.text == (
        "RPM quota L-F2717A44: request req-APPROVED-3 raised it to 1,500 on 2026-12-03 10:00 UTC; "
        "no new request before 2026-12-10 10:00 UTC (7-day cooldown)."
    )
    assert refusal.to_json() == {
        "quota_code": CODE,
        "kind": "rpm",
        "reason": "cooldown",
        "text": refusal.text,
        "request_id": "req-APPROVED-3",
        "until": "2026-12-10T10:00:00.000Z",
    }


@pytest.mark.parametrize(
    ("current", "peak", "ceiling", "reason"),
    [
        (1500, 950, None, "evidence_within_quota"),
        (1000, None, None, "no_evidence"),
        (1200, 950, 1200, "at_ceiling"),
    ],
)
def test_evidence_refusals(current: float, peak: float | None, ceiling: float | None, reason: str) -> None:
    verdict = rpm(current, peak, ceiling=ceiling)
    assert verdict.refusal is not None and verdict.refusal.reason == reason


def test_the_rpm_storm_model_gets_no_request_beyond_its_first() -> None:
    """Held at 880-950 RPM: one request (1,000 -> 1,425); every later incident is refused, whether
    the first is still pending, was approved, was denied, or the cooldown has passed."""
    first = rpm(1000, 950)
    assert first.desired == 1425.0
    filed = PastRequest("req-1", CODE, 1425, "PENDING", NOW - timedelta(hours=1))
    assert rpm(1000, 930, history=[filed]).refusal.reason == "pending_request"  # type: ignore[union-attr]
    approved = PastRequest("req-1", CODE, 1425, "APPROVED", NOW - timedelta(days=9), NOW - timedelta(days=8))
    # the cooldown is over, yet 950 needs no more than the 1,425 the quota now has
    assert rpm(1425, 950, history=[approved]).refusal.reason == "evidence_within_quota"  # type: ignore[union-attr]
    denied = PastRequest("req-1", CODE, 1425, "DENIED", NOW - timedelta(days=2))
    assert rpm(1000, 950, history=[denied]).refusal.reason == "cooldown"  # type: ignore[union-attr]


def test_needed_value_is_exact() -> None:
    # 800 / 0.8 x 1.1 is 1,100 exactly; binary floats would make it 1,100.0000000000002 -> 1,101
    assert needed_value(Demand(800, [], 80), Rules(headroom_percent=10))[0] == 1100


# Issue 12's "absolute per-quota ceiling per window": at most +1,000 RPM of our increases in 30 days
WINDOW = Rules(max_requests_per_window=5, window_ceilings={CODE: 1000})  # the count apart


def ours(desired: float, previous: float, days_ago: float, status: str = "APPROVED") -> PastRequest:
    at = NOW - timedelta(days=days_ago)
    return PastRequest(f"req-{desired}", CODE, desired, status, at, at, previous_value=previous)


def windowed(current: float, peak: float, history: list[PastRequest]):  # type: ignore[no-untyped-def]
    return govern(CODE, "rpm", current, Demand(peak, [], 80), history, NOW, WINDOW, 50)


def test_the_sum_of_our_increases_within_the_window_is_capped_at_the_policys_ceiling() -> None:
    # 1,000 -> 1,500 twenty days ago, 1,500 -> 1,800 ten days ago: +800 of the window's 1,000
    history = [ours(1500, 1000, 20), ours(1800, 1500, 10)]
    verdict = windowed(1800, 1800, history)  # needs 2,700; +50 % would be 2,700
    assert (verdict.desired, verdict.basis["capped_by"]) == (2000.0, "window_ceiling")


def test_a_window_whose_ceiling_is_reached_refuses_until_its_oldest_increase_leaves_it() -> None:
    history = [ours(1500, 1000, 20), ours(2000, 1500, 10)]
    verdict = windowed(2000, 2000, history)
    assert verdict.desired is None and verdict.refusal is not None
    assert verdict.refusal.reason == "window_ceiling"
    assert verdict.refusal.text == (
        "RPM quota L-F2717A44: our increases within the last 30 days add 1,000, the policy's ceiling "
        "for the window (1,000); no new request before 2026-12-15 10:00 UTC."
    )


def test_only_our_increases_that_aws_did_not_refuse_and_inside_the_window_count() -> None:
    history = [
        ours(1500, 1000, 40),  # before the window
        ours(1900, 1000, 20, status="DENIED"),  # raised nothing
        PastRequest("req-person", CODE, 1900, "APPROVED", NOW - timedelta(days=12)),  # not ours
    ]
    verdict = windowed(1000, 1100, history)  # needs 1,650
    assert (verdict.desired, verdict.basis["capped_by"]) == (1500.0, "increase_percent")  # not the window
