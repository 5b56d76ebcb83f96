"""Gather Usage: 14 days of per-minute usage for the incident's model."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from opspilot.adapters.metrics import fetch_usage_series
from opspilot.domain.errors import AwsPermissionError
from opspilot.domain.model import Incident, UsageSummary
from opspilot.domain.quotas import metric_model_id
from opspilot.domain.usage import USAGE_METRICS, summarize_usage
from opspilot.handlers._runtime import bind_execution, logger, now, parse, state_part

WINDOW_DAYS = 14


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    bind_execution(event)
    incident = parse(Incident, state_part(event, "state", "incident"), "incident")
    end = now()
    try:
        # CloudWatch names an application inference profile by its id, never its ARN
        series = fetch_usage_series(
            metric_model_id(incident.model_id), end, WINDOW_DAYS, region=incident.region
        )
    except AwsPermissionError as exc:  # unknown usage is a state the decision handles, not a crash
        logger.warning("usage unavailable", extra={"reason": str(exc)})
        return UsageSummary.parse(
            {
                "model_id": incident.model_id,
                "days": WINDOW_DAYS,
                "datapoints": 0,
                **dict.fromkeys(
                    ["steady_rpm", "peak_rpm", "steady_tpm", "peak_tpm", "tpm_source", "avg_input_tokens"],
                    None,
                ),
                **dict.fromkeys(["avg_output_tokens", "throttles", "server_errors", "client_errors"], None),
                "missing": list(USAGE_METRICS),
                "unknown_reason": f"access denied: {exc}",
            }
        ).to_json()
    return summarize_usage(incident.model_id, WINDOW_DAYS, series, end).to_json()
