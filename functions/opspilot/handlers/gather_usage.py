"""Gather Usage: 14 days of per-minute usage for the incident's model."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from opspilot.adapters.metrics import fetch_usage_series
from opspilot.domain.model import Incident
from opspilot.domain.usage import summarize_usage
from opspilot.handlers._runtime import bind_execution, logger, now, parse, state_part

WINDOW_DAYS = 14


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    bind_execution(event)
    incident = parse(Incident, state_part(event, "state", "incident"), "incident")
    end = now()
    series = fetch_usage_series(incident.model_id, end, WINDOW_DAYS, region=incident.region)
    return summarize_usage(incident.model_id, WINDOW_DAYS, series, end).model_dump(mode="json")
