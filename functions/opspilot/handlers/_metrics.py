"""OpsPilot's own metrics, written where each event happens (docs/operations.md#metrics).

CloudWatch embedded metric format (EMF) through Powertools Metrics: one JSON line in the function's
log, which CloudWatch turns into metrics. No PutMetricData call, so no IAM permission. The namespace
is ``POWERTOOLS_METRICS_NAMESPACE``, which the template sets to ``OpsPilot/<stack name>``: two stacks
in one account and Region keep their metrics apart, and the dashboard reads its own stack's.

Two shapes:
- :func:`count`: a metric of the invocation with the one dimension ``service`` (``opspilot``),
  written when the handler returns (:func:`publishes_metrics`);
- :func:`count_by`: a metric with its own dimensions (an action's kind and outcome, a model id),
  written at once as its own EMF line, without ``service``.

A metric never fails the step it measures: every failure to record or write one is logged as a
warning and dropped.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from functools import wraps

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

from opspilot.handlers._runtime import logger

NAMESPACE = "OpsPilot"  # without a stack name only outside a deployed stack (the template sets it)
SERVICE = "opspilot"  # the template's POWERTOOLS_SERVICE_NAME

metrics = Metrics()


def namespace() -> str:
    """Read when metrics are written, not at import: the environment is complete by then."""
    return os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or NAMESPACE


def count(name: str, value: float = 1, unit: MetricUnit = MetricUnit.Count) -> None:
    """Add to this invocation's metrics (dimension ``service``), written when the handler ends."""
    try:
        metrics.add_metric(name=name, unit=unit, value=value)
    except Exception as exc:  # a metric never fails the step
        logger.warning("metric not recorded", extra={"metric": name, "error": str(exc)[:300]})


def count_by(
    dimensions: Mapping[str, str],
    values: Mapping[str, float],
    unit: MetricUnit = MetricUnit.Count,
) -> None:
    """Write ``values`` (metric name -> value) with exactly ``dimensions``, now, as one EMF line."""
    try:
        own = EphemeralMetrics(namespace=namespace())
        for key, dimension in dimensions.items():
            own.add_dimension(name=key, value=dimension)
        for name, value in values.items():
            own.add_metric(name=name, unit=unit, value=value)
        own.flush_metrics()
    except Exception as exc:  # a metric never fails the step
        logger.warning("metric not written", extra={"metrics": sorted(values), "error": str(exc)[:300]})


def flush() -> None:
    """Write what the invocation counted, if anything."""
    try:
        if metrics.metric_set:
            metrics.namespace = namespace()
            metrics.service = os.environ.get("POWERTOOLS_SERVICE_NAME") or SERVICE
            metrics.flush_metrics()
    except Exception as exc:  # a metric never fails the step
        logger.warning("metrics not written", extra={"error": str(exc)[:300]})
    finally:
        metrics.clear_metrics()


def publishes_metrics[**P, R](handler: Callable[P, R]) -> Callable[P, R]:
    """Write what the invocation counted when it ends (also when it fails)."""

    @wraps(handler)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return handler(*args, **kwargs)
        finally:
            flush()

    return wrapper
