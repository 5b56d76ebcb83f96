"""The base of every record that crosses a boundary: a frozen pydantic v2 model.

Events, the incident and its plan, the policy, registry entries and settings are all
:class:`Record` subclasses. ``Cls.parse(raw, where)`` validates JSON-shaped input (field names or
their ``alias``) and raises :class:`RecordError` naming the first bad field by its dotted path
(``actions.0.type``); ``record.to_json()`` is the wire form ``parse`` reads back.

Models are built lazily (``defer_build``): a handler pays for the schema of the classes it reads,
at their first use, not for every class it imports.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import ErrorDetails

from opspilot.domain.format import plain

Path = tuple[str | int, ...]


class RecordError(ValueError):
    """A value that does not fit its record; ``field`` is the dotted path of the bad field."""

    def __init__(self, path: Path, message: str) -> None:
        self.field = ".".join(str(part) for part in path) or "<document>"
        self.message = message
        super().__init__(f"field '{self.field}': {message}")


def _message(error: ErrorDetails) -> str:
    """pydantic's message, in the words the reports and messages used before (people read them)."""
    kind, ctx, value = error["type"], error.get("ctx") or {}, error.get("input")
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "unknown field"
    if kind in ("enum", "literal_error"):
        return f"must be one of {ctx.get('expected')}, got {value!r}"
    bounds = {
        "greater_than": ("greater than", "gt"),
        "greater_than_equal": ("at least", "ge"),
        "less_than": ("less than", "lt"),
        "less_than_equal": ("at most", "le"),
    }
    if kind in bounds:
        words, key = bounds[kind]
        return f"must be {words} {_shown(ctx.get(key))}, got {_shown(value)}"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    for prefix, expected in _EXPECTED:
        if kind.startswith(prefix) and kind.endswith(("_type", "_parsing", "_from_float")):
            return f"must be {expected}, got {_kind(value)}"
    return f"{error['msg'][0].lower()}{error['msg'][1:]}, got {_kind(value)}"


_EXPECTED = (
    ("dict", "an object"),
    ("model", "an object"),
    ("list", "a list"),
    ("tuple", "a list"),
    ("string", "a string"),
    ("float", "a number"),
    ("int", "a whole number"),
    ("bool", "true or false"),
)


def _kind(value: Any) -> str:
    """How a JSON value looks to the person who wrote it."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float | Decimal):
        return f"the number {value}"
    names: dict[type, str] = {dict: "an object", list: "a list", str: "a string", type(None): "null"}
    return next((name for cls, name in names.items() if isinstance(value, cls)), type(value).__name__)


def _shown(value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return plain(value)
    return repr(value)


class Record(BaseModel):
    """Frozen, keyword-only, unknown fields refused; subclasses may say ``extra="ignore"`` (AWS
    events gain fields) or ``frozen=False`` as class keywords."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        populate_by_name=True,
        defer_build=True,
        use_enum_values=False,
    )

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(cls.model_fields)

    @classmethod
    def parse(cls, raw: Any, where: str = "") -> Self:
        """Validate ``raw`` and build the record; errors name the field, prefixed with ``where``
        (e.g. ``"context.usage"``)."""
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            prefix: Path = tuple(where.split(".")) if where else ()
            raise RecordError((*prefix, *first["loc"]), _message(first)) from exc

    def to_json(self, *, exclude_none: bool = False, exclude_defaults: bool = False) -> dict[str, Any]:
        """The JSON form ``parse`` reads back: fields under their aliases, enums by value, tuples as
        lists, nested records as objects."""
        return self.model_dump(
            mode="json", by_alias=True, exclude_none=exclude_none, exclude_defaults=exclude_defaults
        )

    def replace(self, **changes: Any) -> Self:
        """A copy with ``changes`` applied and validated."""
        return type(self).model_validate(self.model_dump() | changes)
