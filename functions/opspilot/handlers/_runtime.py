"""What every handler shares: the logger, the clock and the incident store.

Kept tiny so that importing a handler costs little more than importing boto3.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger

from opspilot.adapters.incidents import IncidentStore
from opspilot.domain.base import Record, RecordError
from opspilot.domain.errors import InvalidInput
from opspilot.settings import core_settings

logger = Logger()


def now() -> datetime:
    return datetime.now(UTC)


@cache
def store() -> IncidentStore:
    settings = core_settings()
    return IncidentStore(settings.incident_table_name, settings.incident_retention_days)


def bind_execution(event: dict[str, Any]) -> None:
    """The Step Functions execution id (``$$.Execution.Id``, which the state machine passes as
    ``execution_id``) is the correlation id of every log line of this invocation: Powertools
    Logger's own ``correlation_id`` key, so one CloudWatch Logs Insights query
    (``filter correlation_id = "<execution ARN>"``) follows an incident through every function."""
    execution_id = event.get("execution_id") if isinstance(event, dict) else None
    if execution_id:
        logger.set_correlation_id(str(execution_id))


def parse[M: Record](model: type[M], value: Any, where: str) -> M:
    """Validate one part of the workflow state; the error names the field."""
    try:
        return model.parse(value, where)
    except RecordError as exc:
        raise InvalidInput(str(exc)) from exc


def state_part(event: dict[str, Any], *path: str) -> Any:
    value: Any = event
    for key in path:
        if not isinstance(value, dict) or key not in value:
            raise InvalidInput(f"field '{'.'.join(path)}' is missing from the workflow state")
        value = value[key]
    return value
