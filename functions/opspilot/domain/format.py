"""How numbers read in messages, pages and reasons: 1,500,000 not 1.5e+06."""

from __future__ import annotations


def number(value: float) -> str:
    """Whole numbers with thousands separators; others with at most two decimals."""
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")
