"""Every test checks the records it builds, wherever they are built.

Records do not validate on construction (production code is type-checked by mypy, and parsing
happens at the edges with ``Record.parse``), so a value of the wrong type passed where mypy cannot
see it (an ``Any`` from a dict) would slip through. During the tests every record's ``__init__``
is checked (``Record.__init__`` is wrapped): the new record must survive ``parse(to_json())``
unchanged, types included (a plain ``"pilot"`` where an ``Environment`` belongs fails). Records
with fields that are not JSON (the services' dependency bundles) are left out.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from typing import Any

import opspilot
from opspilot.domain.records import Record, RecordError


def _same(a: Any, b: Any) -> bool:
    if type(a) is int and type(b) is float:  # an int is a float to the type checker too
        return a == b
    if type(a) is not type(b):
        return False
    if isinstance(a, Record):
        return all(_same(getattr(a, name), getattr(b, name)) for name in a.field_names())
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(
            _same(k, next(k2 for k2 in b if k2 == k)) and _same(a[k], b[k]) for k in a
        )
    return bool(a == b)


def _import_every_module() -> None:
    """So that every record class exists before the first test (and a broken import shows)."""
    for module in pkgutil.walk_packages(opspilot.__path__, "opspilot."):
        importlib.import_module(module.name)


_checking = False


@cache
def _on_the_wire(cls: type[Record]) -> bool:
    """Records whose fields are all JSON-shaped (not the dependency bundles of the services)."""
    try:
        cls._build_plan()
    except TypeError:
        return False
    return True


def _check_every_record() -> None:
    built = Record.__init__

    def __init__(self: Record, **values: Any) -> None:
        global _checking
        built(self, **values)
        if _checking or not _on_the_wire(type(self)):
            return
        _checking = True
        try:
            again = type(self).parse(self.to_json())
        except RecordError as exc:
            raise TypeError(f"{type(self).__name__} built with a value of the wrong type: {exc}") from exc
        finally:
            _checking = False
        if not _same(self, again):
            raise TypeError(f"{type(self).__name__} built with a value of the wrong type: {self!r}")

    Record.__init__ = __init__  # type: ignore[method-assign]


def pytest_configure() -> None:
    _import_every_module()
    _check_every_record()
