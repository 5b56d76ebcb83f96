"""Following a quota increase request until AWS decides it: when to look again, what it means."""

from __future__ import annotations

from dataclasses import dataclass

FINAL_STATUSES = frozenset({"APPROVED", "DENIED", "NOT_APPROVED", "CASE_CLOSED", "INVALID_REQUEST"})
FIRST_WAIT_SECONDS = 300
MAX_WAIT_SECONDS = 6 * 3600
WATCH_LIMIT_SECONDS = 14 * 86400  # after this, stop watching and say the request is still open


def next_wait(previous: int | None) -> int:
    """5 minutes, then doubling, never more than 6 hours between looks."""
    if not previous:
        return FIRST_WAIT_SECONDS
    return min(previous * 2, MAX_WAIT_SECONDS)


@dataclass(frozen=True)
class WatchState:
    checks: int
    waited_seconds: int
    wait_seconds: int


def advance(state: WatchState) -> WatchState:
    return WatchState(
        state.checks + 1, state.waited_seconds + state.wait_seconds, next_wait(state.wait_seconds)
    )


def outcome_of(statuses: dict[str, str]) -> str:
    """approved / denied / mixed / pending, for a set of request ids -> status."""
    if not statuses or any(s not in FINAL_STATUSES for s in statuses.values()):
        return "pending"
    approved = {s == "APPROVED" for s in statuses.values()}
    if approved == {True}:
        return "approved"
    if approved == {False}:
        return "denied"
    return "mixed"
