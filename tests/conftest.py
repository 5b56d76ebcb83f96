"""Every test checks the records it builds, wherever they are built.

Records do not validate on construction (production code is type-checked by mypy, and parsing
happens at the edges with ``Record.parse``), so a value of the wrong type passed where mypy cannot
see it (an ``Any`` from a dict) would slip through. During the tests every record's ``__init__``
is wrapped: the new record must survive ``parse(to_json())`` unchanged, types included (a plain
``"pilot"`` where an ``Environment`` belongs fails).
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

import opspilot
from opspilot.domain.records import Record


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


def _every_record_class() -> list[type[Record]]:
    for module in pkgutil.walk_packages(opspilot.__path__, "opspilot."):
        importlib.import_module(module.name)
    found: list[type[Record]] = []
    pending = list(Record.__subclasses__())
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


_checking = False


def _checked(cls: type[Record]) -> None:
    built = cls.__init__

    def __init__(self: Record, **values: Any) -> None:
        global _checking
        built(self, **values)
        if _checking:
            return
        _checking = True
        try:
            again = type(self).parse(self.to_json())
        finally:
            _checking = False
        if not _same(self, again):
            raise TypeError(f"{type(self).__name__} built with a value of the wrong type: {self!r}")

    cls.__init__ = __init__  # type: ignore[method-assign]


def pytest_configure() -> None:
    for cls in _every_record_class():
        if "__init__" in cls.__dict__:
            _checked(cls)
