"""What the two approval handlers share: the approval store and the approval metrics."""

from __future__ import annotations

from datetime import datetime
from functools import cache

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError

from opspilot.adapters.approvals import ApprovalStore
from opspilot.domain.errors import OpsPilotError
from opspilot.handlers._metrics import count, publishes_metrics
from opspilot.handlers._runtime import logger
from opspilot.settings import core_settings

__all__ = ["approvals", "count", "publishes_metrics", "record_pending"]


@cache
def approvals() -> ApprovalStore:
    return ApprovalStore(core_settings().incident_table_name)


def record_pending(at: datetime) -> int | None:
    """The PendingApprovals gauge (requests not decided, superseded or expired, counted now) and
    OldestPendingApprovalAge (seconds since the oldest of them was asked; 0 when none is). A metric
    never fails the step it measures: when they cannot be read it is logged and skipped (None)."""
    try:
        pending, oldest = approvals().pending_summary(at)
    except (OpsPilotError, ClientError) as exc:
        logger.warning("PendingApprovals not counted", extra={"error": str(exc)[:300]})
        return None
    count("PendingApprovals", pending)
    age = 0.0
    if oldest:
        try:
            asked = datetime.fromisoformat(oldest.replace("Z", "+00:00"))
            age = float(max(0, round((at - asked).total_seconds())))  # whole seconds
        except (TypeError, ValueError):
            logger.warning("OldestPendingApprovalAge not counted", extra={"created_at": oldest[:40]})
            return pending
    count("OldestPendingApprovalAge", age, MetricUnit.Seconds)
    return pending
