"""Typed records: frozen value objects that parse JSON-shaped input and dump back to JSON.

Every object that crosses a Lambda boundary, every settings object and every document a person
writes (the policy, a registry entry) is a :class:`Record`. ``Cls.parse(raw)`` checks the shape
against the class's annotations and constraints and raises :class:`RecordError` naming the first
bad field by its dotted path (``actions.0.type``); ``record.to_json()`` is the wire form.

Why not pydantic: each handler's cold start must stay within 1.5x of ``import boto3`` (issue 2),
and importing pydantic and building this package's models cost about 0.8x of boto3 by themselves
(docs/architecture.md, "Cold start"). Even ``dataclasses`` costs about 1.5 ms a class here (it
compiles generated methods); a record class costs what a plain class costs, and its annotations are
resolved only when it is first parsed, so a handler pays only for the classes it reads.

Supported annotations: ``str``, ``int``, ``float``, ``bool``, ``Any``, enums, ``Literal``,
``X | None`` and other unions (tried in order), ``list[X]``, ``tuple[X, ...]``, ``tuple[X, Y]``,
``dict[K, V]`` and nested records. Coercion is deliberately narrow: whole-number floats and
Decimals (DynamoDB) become ints, ints become floats, and strings become numbers or booleans only
where the JSON cannot carry them (environment variables are strings).
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from collections.abc import Callable, Mapping
from decimal import Decimal
from enum import Enum
from typing import Any, ClassVar, Literal, Self, dataclass_transform

Path = tuple[str | int, ...]
Converter = Callable[[Any, Path], Any]


class _Missing:
    def __repr__(self) -> str:
        return "<no default>"


_MISSING: Any = _Missing()


class RecordError(ValueError):
    """A value that does not fit its record; ``field`` is the dotted path of the bad field."""

    def __init__(self, path: Path, message: str) -> None:
        self.field = ".".join(str(part) for part in path) or "<document>"
        self.message = message
        super().__init__(f"field '{self.field}': {message}")


class FieldSpec:
    """What :func:`spec` declares: a default and the rules a parsed value must meet."""

    __slots__ = ("default", "default_factory", "rules")

    def __init__(
        self, default: Any, default_factory: Callable[[], Any] | None, rules: dict[str, Any]
    ) -> None:
        self.default = default
        self.default_factory = default_factory
        self.rules = rules


def spec(
    default: Any = _MISSING,
    *,
    default_factory: Any = None,
    key: str | None = None,
    gt: float | None = None,
    ge: float | None = None,
    le: float | None = None,
    min_length: int | None = None,
    max_length: int | None = None,
    pattern: str | None = None,
    check: Callable[[Any], None] | None = None,
) -> Any:
    """A record field with a default, a JSON key other than its name, or constraints.

    ``check`` is called with the converted value (when it is not None) and raises ``ValueError``
    with a message for people.
    """
    rules = {
        "key": key,
        "gt": gt,
        "ge": ge,
        "le": le,
        "min_length": min_length,
        "max_length": max_length,
        "pattern": pattern,
        "check": check,
    }
    return FieldSpec(
        default, default_factory, {name: rule for name, rule in rules.items() if rule is not None}
    )


class _Field:
    __slots__ = ("default", "factory", "key", "name", "rules")

    def __init__(self, name: str, declared: Any) -> None:
        self.name = name
        if isinstance(declared, FieldSpec):
            self.default, self.factory, self.rules = (
                declared.default,
                declared.default_factory,
                declared.rules,
            )
        else:
            self.default, self.factory, self.rules = declared, None, {}
        self.key: str = self.rules.get("key", name)

    @property
    def required(self) -> bool:
        return self.default is _MISSING and self.factory is None

    def initial(self) -> Any:
        return self.factory() if self.factory is not None else self.default


class FrozenRecordError(AttributeError):
    """A frozen record was assigned to; build a changed copy with ``replace`` instead."""


@dataclass_transform(kw_only_default=True, frozen_default=True, field_specifiers=(spec,))
class Record:
    """Base of every record: keyword-only construction, equality by value, frozen unless the
    subclass says ``frozen=False``.

    The fields are the annotated names of the class and its record bases, read when the class is
    created (no annotation is evaluated then, so this costs next to nothing at import); the
    annotations are resolved into converters at the class's first ``parse``. Construction does not
    check types: code that builds records is type-checked, and parsing happens at the edges.
    """

    _record_fields: ClassVar[tuple[_Field, ...]] = ()
    _record_names: ClassVar[frozenset[str]] = frozenset()
    _record_extra: ClassVar[str] = "forbid"
    _record_frozen: ClassVar[bool] = True
    _record_plan: ClassVar[tuple[_FieldPlan, ...] | None] = None

    def __init_subclass__(
        cls, *, extra: Literal["forbid", "ignore"] | None = None, frozen: bool = True, **kwargs: Any
    ) -> None:
        super().__init_subclass__(**kwargs)
        if extra is not None:
            cls._record_extra = extra
        cls._record_frozen = frozen
        cls._record_plan = None  # each class resolves its own annotations, at its first parse
        fields = {f.name: f for f in cls._record_fields}
        # the class's own annotations; as text in every module here (``from __future__ import annotations``)
        for name, annotation in inspect.get_annotations(cls).items():
            if str(annotation).startswith(("ClassVar", "typing.ClassVar")):
                continue
            fields[name] = _Field(name, cls.__dict__.get(name, _MISSING))
            if isinstance(cls.__dict__.get(name), FieldSpec):
                delattr(cls, name)
        cls._record_fields = tuple(fields.values())
        cls._record_names = frozenset(fields)

    def __init__(self, **values: Any) -> None:
        cls = type(self)
        for f in cls._record_fields:
            if f.name in values:
                value = values[f.name]
            elif f.required:
                raise TypeError(f"{cls.__name__}: missing field '{f.name}'")
            else:
                value = f.initial()
            object.__setattr__(self, f.name, value)
        if unknown := values.keys() - cls._record_names:
            raise TypeError(f"{cls.__name__}: unknown fields {sorted(unknown)}")

    def __setattr__(self, name: str, value: Any) -> None:
        if self._record_frozen:
            raise FrozenRecordError(f"{type(self).__name__} is frozen: cannot set '{name}'")
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        raise FrozenRecordError(f"{type(self).__name__}: cannot delete '{name}'")

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, f.name) for f in self._record_fields)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        if not self._record_frozen:
            raise TypeError(f"unhashable record: {type(self).__name__} is not frozen")
        return hash((type(self), self._values()))

    def __repr__(self) -> str:
        shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in self._record_fields)
        return f"{type(self).__name__}({shown})"

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in cls._record_fields)

    @classmethod
    def parse(cls, raw: Any, where: str = "") -> Self:
        """Check ``raw`` (a JSON-shaped mapping) and build the record; errors name the field,
        prefixed with ``where`` (e.g. ``"context.usage"``)."""
        path: Path = tuple(where.split(".")) if where else ()
        return cls._parse(raw, path)

    @classmethod
    def _parse(cls, raw: Any, path: Path) -> Self:
        if isinstance(raw, cls):
            return raw
        if not isinstance(raw, Mapping):
            raise RecordError(path, f"must be an object, got {_kind(raw)}")
        plan = cls.__dict__.get("_record_plan") or cls._build_plan()
        values: dict[str, Any] = {}
        for f in plan:
            if f.key in raw:
                values[f.name] = f.convert(raw[f.key], (*path, f.key))
            elif f.required:
                raise RecordError((*path, f.key), "is required")
        if cls._record_extra == "forbid":
            known = {f.key for f in plan}
            for name in raw:
                if name not in known:
                    raise RecordError((*path, str(name)), "unknown field")
        return cls(**values)

    @classmethod
    def _build_plan(cls) -> tuple[_FieldPlan, ...]:
        hints = typing.get_type_hints(cls)
        plan = tuple(_FieldPlan(f, hints[f.name]) for f in cls._record_fields)
        cls._record_plan = plan
        return plan

    def to_json(self, *, exclude_none: bool = False, exclude_defaults: bool = False) -> dict[str, Any]:
        """The JSON form ``parse`` reads back: fields under their keys, enums by value, tuples as
        lists, nested records as objects. The exclusions apply to nested records too."""
        out: dict[str, Any] = {}
        for f in self._record_fields:
            value = getattr(self, f.name)
            if exclude_none and value is None:
                continue
            if exclude_defaults and not f.required and value == f.initial():
                continue
            out[f.key] = _dump(value, exclude_none, exclude_defaults)
        return out

    def replace(self, **changes: Any) -> Self:
        """A copy with ``changes`` applied (not checked: the caller passes typed values)."""
        current = {f.name: getattr(self, f.name) for f in self._record_fields}
        return type(self)(**(current | changes))


class _FieldPlan:
    __slots__ = ("convert", "key", "name", "required")

    def __init__(self, f: _Field, annotation: Any) -> None:
        convert = _converter(annotation)
        if f.rules.keys() - {"key"}:
            convert = _constrained(convert, f.rules)
        self.name, self.key, self.required, self.convert = f.name, f.key, f.required, convert


def _dump(value: Any, exclude_none: bool = False, exclude_defaults: bool = False) -> Any:
    if isinstance(value, Record):
        return value.to_json(exclude_none=exclude_none, exclude_defaults=exclude_defaults)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list | tuple):
        return [_dump(item, exclude_none, exclude_defaults) for item in value]
    if isinstance(value, dict):
        return {_dump(k): _dump(v, exclude_none, exclude_defaults) for k, v in value.items()}
    return value


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    for cls, name in names.items():
        if isinstance(value, cls):
            return name
    if isinstance(value, int | float | Decimal):
        return f"the number {value}"
    return type(value).__name__


def _constrained(convert: Converter, rules: Mapping[str, Any]) -> Converter:
    pattern = re.compile(rules["pattern"]) if "pattern" in rules else None

    def checked(value: Any, path: Path) -> Any:
        out = convert(value, path)
        if out is None:
            return out
        if "gt" in rules and not out > rules["gt"]:
            raise RecordError(path, f"must be greater than {rules['gt']:g}, got {out:g}")
        if "ge" in rules and not out >= rules["ge"]:
            raise RecordError(path, f"must be at least {rules['ge']:g}, got {out:g}")
        if "le" in rules and not out <= rules["le"]:
            raise RecordError(path, f"must be at most {rules['le']:g}, got {out:g}")
        unit = "characters" if isinstance(out, str) else "items"
        if "min_length" in rules and len(out) < rules["min_length"]:
            raise RecordError(path, f"must have at least {rules['min_length']} {unit}")
        if "max_length" in rules and len(out) > rules["max_length"]:
            raise RecordError(path, f"must have at most {rules['max_length']} {unit}")
        if pattern is not None and not pattern.search(out):
            raise RecordError(path, f"{out!r} does not match {pattern.pattern}")
        if "check" in rules:
            try:
                rules["check"](out)
            except ValueError as exc:
                raise RecordError(path, str(exc)) from exc
        return out

    return checked


def _converter(annotation: Any) -> Converter:
    if annotation is Any:
        return lambda value, path: value
    simple = _SIMPLE.get(annotation)
    if simple is not None:
        return simple
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return _enum(annotation)
    if isinstance(annotation, type) and issubclass(annotation, Record):
        return annotation._parse
    if origin is Literal:
        return _literal(args)
    if origin in (typing.Union, types.UnionType):
        return _union(args)
    if origin is list:
        return _list(_converter(args[0]))
    if origin is tuple:
        return _tuple(args)
    if origin is dict:
        return _dict(_converter(args[0]), _converter(args[1]))
    raise TypeError(f"records do not support the annotation {annotation!r}")


def _str(value: Any, path: Path) -> str:
    if isinstance(value, str):
        return value
    raise RecordError(path, f"must be a string, got {_kind(value)}")


def _int(value: Any, path: Path) -> int:
    if isinstance(value, bool):
        raise RecordError(path, f"must be a whole number, got {_kind(value)}")
    if isinstance(value, int):
        return value
    if isinstance(value, float | Decimal) and value == int(value):
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
        return int(value)
    raise RecordError(path, f"must be a whole number, got {_kind(value)}")


def _float(value: Any, path: Path) -> float:
    if isinstance(value, bool):
        raise RecordError(path, f"must be a number, got {_kind(value)}")
    if isinstance(value, int | float | Decimal):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise RecordError(path, f"must be a number, got {_kind(value)}")


_BOOL_WORDS = {"true": True, "false": False}


def _bool(value: Any, path: Path) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _BOOL_WORDS:
        return _BOOL_WORDS[value.strip().lower()]
    raise RecordError(path, f"must be true or false, got {_kind(value)}")


def _none(value: Any, path: Path) -> None:
    if value is None:
        return None
    raise RecordError(path, f"must be null, got {_kind(value)}")


_SIMPLE: dict[Any, Converter] = {
    str: _str,
    int: _int,
    float: _float,
    bool: _bool,
    type(None): _none,
}


def _choices(values: typing.Iterable[Any]) -> str:
    return ", ".join(repr(v) for v in values)


def _enum(enum: type[Enum]) -> Converter:
    by_value = {member.value: member for member in enum}

    def convert(value: Any, path: Path) -> Enum:
        if isinstance(value, enum):
            return value
        if isinstance(value, str | int) and value in by_value:
            return by_value[value]
        raise RecordError(path, f"must be one of {_choices(by_value)}, got {value!r}")

    return convert


def _literal(allowed: tuple[Any, ...]) -> Converter:
    def convert(value: Any, path: Path) -> Any:
        for choice in allowed:
            if value == choice and type(value) is type(choice):
                return choice
        raise RecordError(path, f"must be one of {_choices(allowed)}, got {value!r}")

    return convert


def _union(members: tuple[Any, ...]) -> Converter:
    optional = type(None) in members
    converters = [_converter(m) for m in members if m is not type(None)]

    def convert(value: Any, path: Path) -> Any:
        if value is None and optional:
            return None
        first: RecordError | None = None
        for each in converters:
            try:
                return each(value, path)
            except RecordError as exc:
                first = first or exc
        assert first is not None  # a union has at least one member besides None
        raise first

    return convert


def _list(item: Converter) -> Converter:
    def convert(value: Any, path: Path) -> list[Any]:
        if not isinstance(value, list | tuple):
            raise RecordError(path, f"must be a list, got {_kind(value)}")
        return [item(each, (*path, i)) for i, each in enumerate(value)]

    return convert


def _tuple(args: tuple[Any, ...]) -> Converter:
    if len(args) == 2 and args[1] is Ellipsis:
        each = _list(_converter(args[0]))
        return lambda value, path: tuple(each(value, path))
    items = [_converter(a) for a in args]

    def convert(value: Any, path: Path) -> tuple[Any, ...]:
        if not isinstance(value, list | tuple) or len(value) != len(items):
            raise RecordError(path, f"must be a list of {len(items)} items, got {_kind(value)}")
        return tuple(c(v, (*path, i)) for i, (c, v) in enumerate(zip(items, value, strict=True)))

    return convert


def _dict(key: Converter, item: Converter) -> Converter:
    def convert(value: Any, path: Path) -> dict[Any, Any]:
        if not isinstance(value, Mapping):
            raise RecordError(path, f"must be an object, got {_kind(value)}")
        return {key(k, (*path, str(k))): item(v, (*path, str(k))) for k, v in value.items()}

    return convert
