"""How numbers and times read in messages, pages, reasons and records: 1,500,000 not 1.5e+06."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal


def iso(moment: datetime) -> str:
    """UTC timestamps as Step Functions writes them, so strings compare in time order."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def plain(value: float) -> str:
    """Every digit, no exponent and no separators, as a person types it (60000000, 0.25): for form
    fields and for the bounds in error messages (``:g`` writes 60,000,000 as "6e+07")."""
    return str(int(value)) if float(value).is_integer() else format(Decimal(repr(float(value))), "f")


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
