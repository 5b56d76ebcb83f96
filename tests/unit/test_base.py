"""opspilot.domain.base: the pydantic base of every record that crosses a boundary."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
from pydantic import AfterValidator, Field, ValidationError

from opspilot.domain.base import Record, RecordError

ROOT = Path(__file__).resolve().parents[2]


class Colour(StrEnum):
    RED = "red"
    BLUE = "blue"


def _even(value: int) -> int:
    if value % 2:
        raise ValueError(f"must be even, got {value}")
    return value


class Part(Record):
    name: str = Field(min_length=2, max_length=5)
    weight: float = Field(gt=0, le=10)


class Box(Record):
    label: str
    colour: Colour
    size: Literal["s", "m"] = "s"
    count: Annotated[int, AfterValidator(_even)] = Field(0, ge=0)
    parts: list[Part] = Field(default_factory=list)
    note: str | None = None
    code: str = Field("", pattern=r"^$|^L-[0-9A-F]{8}$")
    sizes: dict[Literal["s", "m"], float | None] = Field(default_factory=dict)
    pair: tuple[str, int] | None = None
    tags: tuple[str, ...] = ()
    extra: Any = None


class Envelope(Record, extra="ignore"):
    detail_type: str = Field(alias="detail-type")
    flag: bool = False


class Counter(Record, frozen=False):
    seen: int = 0


def box(**more: Any) -> dict[str, Any]:
    return {"label": "b", "colour": "red", **more}


def test_parse_builds_typed_values_and_to_json_reads_back() -> None:
    raw = box(
        size="m",
        count=Decimal(4),
        parts=[{"name": "ab", "weight": 1}],
        sizes={"s": None, "m": 2},
        pair=["x", 3.0],
        tags=["a", "b"],
        extra={"anything": [1]},
    )
    parsed = Box.parse(raw)
    assert parsed.colour is Colour.RED
    assert parsed.count == 4 and type(parsed.count) is int  # DynamoDB's Decimal, whole
    assert parsed.parts == [Part(name="ab", weight=1.0)] and type(parsed.parts[0].weight) is float
    assert parsed.pair == ("x", 3) and parsed.tags == ("a", "b")
    doc = parsed.to_json()
    assert doc["colour"] == "red" and type(doc["colour"]) is str
    assert doc["pair"] == ["x", 3] and doc["parts"] == [{"name": "ab", "weight": 1.0}]
    assert Box.parse(doc) == parsed


@pytest.mark.parametrize(
    ("raw", "field", "message"),
    [
        ({"colour": "red"}, "label", "is required"),
        (box(colour="green"), "colour", "must be one of 'red' or 'blue', got 'green'"),
        (box(size="xl"), "size", "must be one of 's' or 'm', got 'xl'"),
        (box(count=-2), "count", "must be at least 0, got -2"),
        (box(count=3), "count", "must be even, got 3"),
        (box(count=2.5), "count", "must be a whole number, got the number 2.5"),
        (box(parts=[{"name": "ab", "weight": 1}, {"name": "a", "weight": 1}]), "parts.1.name", "at least 2"),
        (box(parts=[{"name": "abcdef", "weight": 1}]), "parts.0.name", "at most 5 characters"),
        (box(parts=[{"name": "ab", "weight": 0}]), "parts.0.weight", "must be greater than 0, got 0"),
        (box(parts=[{"name": "ab", "weight": 11}]), "parts.0.weight", "must be at most 10, got 11"),
        (box(parts=[{"name": "ab", "weight": 6e7}]), "parts.0.weight", "must be at most 10, got 60000000"),
        (box(parts=[{"name": "ab", "weight": 10.25}]), "parts.0.weight", "must be at most 10, got 10.25"),
        (box(parts=[{"name": "ab"}]), "parts.0.weight", "is required"),
        (box(parts={"name": "ab"}), "parts", "must be a list, got an object"),
        (box(parts=["ab"]), "parts.0", "must be an object, got a string"),
        (box(note=5), "note", "must be a string, got the number 5"),
        (box(code="L-1"), "code", "should match pattern"),  # not a code's shape, in no catalog
        (box(sizes={"xl": 1}), "sizes.xl", "must be one of 's' or 'm'"),
        (box(sizes={"s": "big"}), "sizes.s", "must be a number, got a string"),
        (box(colour_name="red"), "colour_name", "unknown field"),
    ],
)
def test_a_bad_value_is_refused_naming_its_field(raw: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(RecordError) as caught:
        Box.parse(raw, "state.box")
    assert caught.value.field.startswith(f"state.box.{field}")
    assert message in caught.value.message
    assert str(caught.value).startswith(f"field 'state.box.{field}")


def test_the_document_itself_must_be_an_object() -> None:
    with pytest.raises(RecordError, match=r"field '<document>': must be an object, got a list"):
        Box.parse([])


def test_aliases_and_ignored_extras() -> None:
    event = Envelope.parse({"detail-type": "x", "flag": "true", "unknown": 1})
    assert event == Envelope(detail_type="x", flag=True)
    assert event.to_json() == {"detail-type": "x", "flag": True}
    with pytest.raises(RecordError, match="field 'detail-type': is required"):
        Envelope.parse({"detail_type_": "x"})


def test_strings_become_numbers_only_when_they_are_numbers() -> None:
    assert Part.parse({"name": "ab", "weight": "2.5"}).weight == 2.5  # environment variables
    with pytest.raises(RecordError, match="must be a number, got a string"):
        Part.parse({"name": "ab", "weight": "heavy"})


def test_records_are_frozen_values_and_replace_validates() -> None:
    a, b = Part(name="ab", weight=1.0), Part(name="ab", weight=1.0)
    assert a == b and hash(a) == hash(b) and a != Part(name="ab", weight=2.0)
    with pytest.raises(ValidationError, match="frozen"):
        a.name = "cd"  # type: ignore[misc]
    changed = a.replace(weight=3.0)
    assert (a.weight, changed.weight, changed.name) == (1.0, 3.0, "ab")
    with pytest.raises(ValidationError):
        a.replace(weight=-1)


def test_construction_checks_types_and_fields() -> None:
    first, second = Box(label="a", colour=Colour.RED), Box(label="b", colour=Colour.BLUE)
    first.parts.append(Part(name="ab", weight=1.0))
    assert second.parts == []
    with pytest.raises(ValidationError, match="colour"):
        Box(label="a")  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="shade"):
        Box(label="a", colour=Colour.RED, shade="dark")  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="name"):
        Part(name=5, weight=1.0)  # type: ignore[arg-type]


def test_a_mutable_record_changes_in_place() -> None:
    counter = Counter()
    counter.seen += 1
    assert counter.seen == 1


def test_exclusions_reach_nested_records() -> None:
    class Outer(Record):
        inner: Box
        note: str | None = None

    outer = Outer(inner=Box(label="a", colour=Colour.RED, note=None))
    assert outer.to_json(exclude_none=True) == {
        "inner": Box(label="a", colour=Colour.RED).to_json(exclude_none=True)
    }
    assert outer.to_json(exclude_defaults=True) == {"inner": {"label": "a", "colour": "red"}}


def test_importing_a_handler_builds_no_validation_schema() -> None:
    """``defer_build`` only helps while nothing validates at import: a module-level record (a
    default rule, a constant event) would build its schema in every cold start of every function
    that imports it. Checked in a fresh interpreter, where no other test has built one yet."""
    handlers = sorted(p.stem for p in (ROOT / "functions/opspilot/handlers").glob("[a-z]*.py"))
    code = f"""
import importlib
from opspilot.domain.base import Record
for name in {handlers!r}:
    importlib.import_module("opspilot.handlers." + name)
def every(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from every(sub)
print(sorted({{c.__module__ + "." + c.__qualname__ for c in every(Record) if c.__pydantic_complete__}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert len(handlers) >= 14
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("handler", ["approval_api", "request_approval", "sync_alarms", "chat_forwarder"])
def test_a_handler_that_reads_no_incident_does_not_define_the_incident_records(handler: str) -> None:
    """The incident's record classes cost about 9 ms of import to define (pydantic collects their
    fields even with ``defer_build``). Handlers that need only a value of them (an action type, an
    environment) take it from ``opspilot.domain.kinds``; checked in a fresh interpreter."""
    code = f"import sys, opspilot.handlers.{handler}; print('opspilot.domain.model' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
