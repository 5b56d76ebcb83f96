"""EventBridge event-pattern matching, for the patterns a rule of this project may use.

moto's EventBridge cannot target Step Functions, so the simulator applies the template's rule
itself. Supported: exact values (a list is OR), ``prefix``, ``suffix``, ``anything-but``,
``exists``, ``equals-ignore-case`` and nested objects. Anything else raises, rather than guess.
"""

from __future__ import annotations

from typing import Any

_MISSING = object()


def _matches_value(condition: Any, value: Any) -> bool:
    if not isinstance(condition, dict):
        return value is not _MISSING and condition == value
    if len(condition) != 1:
        raise ValueError(f"event pattern: unsupported matcher {condition}")
    ((op, arg),) = condition.items()
    if op == "exists":
        return (value is not _MISSING) == bool(arg)
    if value is _MISSING:
        return False
    if op == "prefix":
        return isinstance(value, str) and value.startswith(arg)
    if op == "suffix":
        return isinstance(value, str) and value.endswith(arg)
    if op == "equals-ignore-case":
        return isinstance(value, str) and value.lower() == str(arg).lower()
    if op == "anything-but":
        excluded = arg if isinstance(arg, list) else [arg]
        return value not in excluded
    raise ValueError(f"event pattern: unsupported matcher '{op}'")


def _matches_field(conditions: Any, value: Any) -> bool:
    if isinstance(conditions, dict):  # nested object
        return isinstance(value, dict) and matches(conditions, value)
    if not isinstance(conditions, list):
        raise ValueError(f"event pattern: expected a list or an object, got {conditions!r}")
    values = value if isinstance(value, list) else [value]
    return any(_matches_value(c, v) for c in conditions for v in values)


def matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    """True when ``event`` matches every field of ``pattern``."""
    return all(_matches_field(cond, event.get(key, _MISSING)) for key, cond in pattern.items())
