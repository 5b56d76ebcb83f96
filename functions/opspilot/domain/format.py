"""How numbers read in messages, pages and reasons: 1,500,000 not 1.5e+06."""

from __future__ import annotations


def number(value: float) -> str:
    """Whole numbers with thousands separators; others with at most two decimals."""
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


SEVERITY_ORDER = ("low", "normal", "high", "urgent", "critical")


def allowed_severity(wanted: str, offered: list[str]) -> str:
    """The wanted support-case severity, or the highest the plan offers below it."""
    rank = {code: i for i, code in enumerate(SEVERITY_ORDER)}
    known = [c for c in offered if c in rank]
    below = [c for c in known if rank[c] <= rank.get(wanted, 1)]
    if below:
        return max(below, key=lambda c: rank[c])
    return min(known, key=lambda c: rank[c]) if known else wanted
