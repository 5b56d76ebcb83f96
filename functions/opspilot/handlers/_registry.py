"""The model registry's entry for a model, as the workflow's handlers read it (optional table)."""

from __future__ import annotations

from functools import cache
from typing import Any

from opspilot.adapters.registry import RegistryStore
from opspilot.domain.errors import AwsPermissionError
from opspilot.handlers._runtime import logger
from opspilot.settings import core_settings


@cache
def _registry() -> RegistryStore:
    return RegistryStore(core_settings().model_registry_table_name)


def model_entry(model_id: str) -> dict[str, Any]:
    """The registered settings of ``model_id`` ({} when the model is not registered). A denied
    read falls back to the stack's defaults, and says so in the log; throttling is retried."""
    try:
        stored = _registry().get_entry(model_id)
    except AwsPermissionError as exc:
        logger.warning("model registry unreadable: using the stack's defaults", extra={"reason": str(exc)})
        return {}
    return dict(stored.entry) if stored else {}
