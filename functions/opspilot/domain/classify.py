"""Classify an alarm state change into a signal: category, severity and quota scope.

The metric is read from the event's own ``configuration`` (never from the alarm name), so alarms
OpsPilot did not create are understood too.
"""

from __future__ import annotations

import hashlib

from opspilot.domain.errors import UnclassifiableSignal
from opspilot.domain.events import AlarmStateChangeEvent
from opspilot.domain.model import Category, MetricRef, QuotaScope, Severity, Signal

BEDROCK_NAMESPACE = "AWS/Bedrock"
MODEL_DIMENSION = "ModelId"
MODEL_TAG = "opspilot:model-id"

# metric name -> (category when in ALARM on a static threshold, severity, quota scope)
_THRESHOLD_RULES: dict[str, tuple[Category, Severity, QuotaScope]] = {
    "InvocationThrottles": (Category.QUOTA_PRESSURE, Severity.CRITICAL, QuotaScope.BOTH),
    "Invocations": (Category.QUOTA_PRESSURE, Severity.WARNING, QuotaScope.RPM),
    "EstimatedTPMQuotaUsage": (Category.QUOTA_PRESSURE, Severity.WARNING, QuotaScope.TPM),
    "InvocationServerErrors": (Category.FAILURE, Severity.CRITICAL, QuotaScope.NONE),
    "InvocationClientErrors": (Category.FAILURE, Severity.WARNING, QuotaScope.BOTH),
    "InvocationLatency": (Category.FAILURE, Severity.WARNING, QuotaScope.NONE),
}

# anomaly-detection alarms (upper band) -> quota scope
_ANOMALY_SCOPES: dict[str, QuotaScope] = {
    "Invocations": QuotaScope.RPM,
    "InputTokenCount": QuotaScope.TPM,
    "OutputTokenCount": QuotaScope.TPM,
    "InvocationLatency": QuotaScope.NONE,
}


def watched_metric(event: AlarmStateChangeEvent) -> MetricRef:
    """The metric the alarm evaluates, from a single-metric or anomaly-band configuration."""
    config = event.detail.configuration
    stats = [m for m in config.metrics if m.metric_stat is not None]
    expressions = [m for m in config.metrics if m.expression]
    anomaly = any("ANOMALY_DETECTION_BAND" in (m.expression or "") for m in expressions)
    if len(stats) != 1 or (expressions and not anomaly):
        raise UnclassifiableSignal(
            f"alarm '{event.detail.alarm_name}': configuration.metrics has {len(stats)} metric(s) and "
            f"{len(expressions)} expression(s); expected one metric, optionally with an anomaly band"
        )
    stat = stats[0].metric_stat
    assert stat is not None
    return MetricRef(
        namespace=stat.metric.namespace,
        name=stat.metric.name,
        dimensions=dict(stat.metric.dimensions),
        stat=stat.stat,
        period=stat.period,
        anomaly_band=anomaly,
    )


def model_id_of(event: AlarmStateChangeEvent, metric: MetricRef) -> str:
    model = metric.dimensions.get(MODEL_DIMENSION) or event.detail.alarm_tags.get(MODEL_TAG)
    if not model:
        raise UnclassifiableSignal(
            f"alarm '{event.detail.alarm_name}': no '{MODEL_DIMENSION}' dimension in "
            f"configuration.metrics and no '{MODEL_TAG}' tag"
        )
    return model


def classify_signal(event: AlarmStateChangeEvent, metric: MetricRef) -> Signal:
    detail = event.detail
    if metric.namespace != BEDROCK_NAMESPACE:
        raise UnclassifiableSignal(
            f"alarm '{detail.alarm_name}': namespace '{metric.namespace}' is not {BEDROCK_NAMESPACE}"
        )
    if detail.state.value == "OK":
        return Signal(
            alarm_name=detail.alarm_name,
            state="OK",
            metric=metric,
            category=Category.RECOVERY,
            severity=Severity.WARNING,
            quota_scope=QuotaScope.NONE,
            reason=detail.state.reason,
        )
    if detail.state.value != "ALARM":
        raise UnclassifiableSignal(
            f"alarm '{detail.alarm_name}': state {detail.state.value} is not actionable"
        )
    if metric.anomaly_band:
        scope = _ANOMALY_SCOPES.get(metric.name)
        if scope is None:
            raise UnclassifiableSignal(
                f"alarm '{detail.alarm_name}': no anomaly rule for metric '{metric.name}'"
            )
        return Signal(
            alarm_name=detail.alarm_name,
            state="ALARM",
            metric=metric,
            category=Category.ANOMALY,
            severity=Severity.WARNING,
            quota_scope=scope,
            reason=detail.state.reason,
        )
    rule = _THRESHOLD_RULES.get(metric.name)
    if rule is None:
        raise UnclassifiableSignal(f"alarm '{detail.alarm_name}': no rule for metric '{metric.name}'")
    category, severity, scope = rule
    return Signal(
        alarm_name=detail.alarm_name,
        state="ALARM",
        metric=metric,
        category=category,
        severity=severity,
        quota_scope=scope,
        reason=detail.state.reason,
    )


def incident_id_for(event_id: str) -> str:
    """Deterministic per event, so a retried Classify opens the same incident, never a second one."""
    return "inc-" + hashlib.sha256(event_id.encode()).hexdigest()[:16]
