"""What the two approval handlers share: the approval store and the approval metrics."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from functools import cache, wraps

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError

from opspilot.adapters.approvals import ApprovalStore
from opspilot.domain.errors import OpsPilotError
from opspilot.handlers._runtime import logger
from opspilot.settings import core_settings

# CloudWatch embedded metric format (EMF): one JSON line in the function's log per invocation that
# counted something; CloudWatch turns it into metrics in the namespace POWERTOOLS_METRICS_NAMESPACE
# (OpsPilot) with the dimension service=opspilot. No PutMetricData call, so no IAM permission.
metrics = Metrics()
NAMESPACE = "OpsPilot"  # the template's POWERTOOLS_METRICS_NAMESPACE


@cache
def approvals() -> ApprovalStore:
    return ApprovalStore(core_settings().incident_table_name)


def count(name: str, value: int = 1) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def record_pending(at: datetime) -> int | None:
    """The PendingApprovals gauge: requests not decided, superseded or expired, counted now. A
    metric never fails the step it measures: when the count cannot be read it is logged and
    skipped (None)."""
    try:
        pending = approvals().count_pending(at)
    except (OpsPilotError, ClientError) as exc:
        logger.warning("PendingApprovals not counted", extra={"error": str(exc)[:300]})
        return None
    count("PendingApprovals", pending)
    return pending


def publishes_metrics[**P, R](handler: Callable[P, R]) -> Callable[P, R]:
    """Write what the invocation counted, if anything, when it ends (also when it fails)."""

    @wraps(handler)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return handler(*args, **kwargs)
        finally:
            if metrics.metric_set:
                # read at import by Powertools; settle them here, where the environment is complete
                metrics.namespace = metrics.namespace or os.environ.get(
                    "POWERTOOLS_METRICS_NAMESPACE", NAMESPACE
                )
                metrics.service = metrics.service or os.environ.get("POWERTOOLS_SERVICE_NAME", "opspilot")
                metrics.flush_metrics()
            metrics.clear_metrics()

    return wrapper
