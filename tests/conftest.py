"""Every module of the package imports before the first test, so a broken import shows at once
(records are pydantic models: a value of the wrong type is refused where the record is built)."""

from __future__ import annotations

import importlib
import pkgutil

import opspilot


def pytest_configure() -> None:
    for module in pkgutil.walk_packages(opspilot.__path__, "opspilot."):
        importlib.import_module(module.name)
