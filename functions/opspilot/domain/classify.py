"""Classify alarms into signals, and a model's signals into one incident classification.

An alarm's metric is read from its own configuration (the event's ``configuration``, or the
DescribeAlarms definition for the alarms a composite alarm or the model's other alarms point
at), never from its name, so alarms OpsPilot did not create are understood too.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from opspilot.domain.errors import InvalidAlarmEvent, UnclassifiableSignal
from opspilot.domain.events import AlarmStateChangeEvent
from opspilot.domain.format import iso
from opspilot.domain.model import Category, Environment, Incident, MetricRef, QuotaScope, Severity, Signal

BEDROCK_NAMESPACE = "AWS/Bedrock"
MODEL_DIMENSION = "ModelId"
MODEL_TAG = "opspilot:model-id"
ENVIRONMENT_TAG = "opspilot:environment"
OWNER_TAG = "opspilot:owner"

# metric name -> (category when in ALARM on a static threshold, severity, quota scope)
_THRESHOLD_RULES: dict[str, tuple[Category, Severity, QuotaScope]] = {
    "InvocationThrottles": (Category.QUOTA_PRESSURE, Severity.CRITICAL, QuotaScope.BOTH),
    "Invocations": (Category.QUOTA_PRESSURE, Severity.WARNING, QuotaScope.RPM),
    "EstimatedTPMQuotaUsage": (Category.QUOTA_PRESSURE, Severity.WARNING, QuotaScope.TPM),
    "InputTokenCount": (Category.QUOTA_PRESSURE, Severity.WARNING, QuotaScope.TPM),
    "OutputTokenCount": (Category.QUOTA_PRESSURE, Severity.WARNING, QuotaScope.TPM),
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

_PER_MINUTE_STATS = frozenset({"Sum", "SampleCount"})


@dataclass(frozen=True)
class MetricInput:
    """One entry of an alarm's metric list, whichever way it was described."""

    id: str
    namespace: str | None = None
    name: str | None = None
    dimensions: tuple[tuple[str, str], ...] = ()
    stat: str | None = None
    period: int | None = None
    expression: str | None = None
    return_data: bool | None = None


def metric_of(alarm_name: str, metrics: Sequence[MetricInput]) -> MetricRef:
    """The metric an alarm evaluates: one metric, one metric with an anomaly band, or metric
    math over several series of the same metric (e.g. the sum over sibling inference profiles)."""
    stats = [m for m in metrics if m.name is not None]
    expressions = [m for m in metrics if m.expression]
    anomaly = [m for m in expressions if "ANOMALY_DETECTION_BAND" in (m.expression or "")]
    if not stats:
        raise UnclassifiableSignal(f"alarm '{alarm_name}': its configuration names no metric")
    names = {(m.namespace, m.name, m.stat, m.period) for m in stats}
    if len(names) != 1:
        described = ", ".join(sorted({f"{m.namespace}/{m.name}" for m in stats}))
        raise UnclassifiableSignal(
            f"alarm '{alarm_name}': metric math over different metrics or statistics ({described}) "
            "has no single meaning OpsPilot can reason about"
        )
    math = [m for m in expressions if m not in anomaly]
    if len(stats) > 1 and not math:
        raise UnclassifiableSignal(
            f"alarm '{alarm_name}': {len(stats)} metrics and no expression combining them"
        )
    first = stats[0]
    dims = dict(first.dimensions)
    for other in stats[1:]:  # dimensions shared by every series (e.g. the same base model)
        dims = {k: v for k, v in dims.items() if dict(other.dimensions).get(k) == v}
    if len(stats) > 1 and MODEL_DIMENSION not in dims:
        # several models summed (sibling inference profiles): the first series names the alarm's model
        model_ids = [dict(m.dimensions).get(MODEL_DIMENSION) for m in stats]
        first_model = next((m for m in model_ids if m), None)
        if first_model:
            dims[MODEL_DIMENSION] = first_model
    return MetricRef(
        namespace=str(first.namespace),
        name=str(first.name),
        dimensions=dims,
        stat=str(first.stat),
        period=int(first.period or 60),
        anomaly_band=bool(anomaly),
        expression=math[0].expression if math else None,
        inputs=len(stats),
    )


def per_minute(
    alarm_name: str, metric: MetricRef, reason_data: str | None
) -> tuple[float | None, float | None]:
    """The alarm's latest datapoint and threshold as per-minute rates. A Sum over five minutes is
    divided by five before anyone compares it with a per-minute quota. Averages and percentiles
    are rates already; they are returned unchanged."""
    if not reason_data:
        return None, None
    try:
        data = json.loads(reason_data)
    except json.JSONDecodeError:
        return None, None
    if not isinstance(data, dict):
        return None, None
    period = int(data.get("period") or metric.period or 60)
    factor = period / 60 if metric.stat in _PER_MINUTE_STATS else 1.0
    points = [float(p) for p in data.get("recentDatapoints") or [] if isinstance(p, int | float)]
    threshold = data.get("threshold")
    observed = round(max(points) / factor, 2) if points else None
    limit = round(float(threshold) / factor, 2) if isinstance(threshold, int | float) else None
    return observed, limit


def classify_metric(alarm_name: str, state: str, metric: MetricRef, reason: str = "") -> Signal:
    if metric.namespace != BEDROCK_NAMESPACE:
        raise UnclassifiableSignal(
            f"alarm '{alarm_name}': namespace '{metric.namespace}' is not {BEDROCK_NAMESPACE}"
        )
    if state == "OK":
        return Signal(
            alarm_name=alarm_name,
            state="OK",
            metric=metric,
            category=Category.RECOVERY,
            severity=Severity.WARNING,
            quota_scope=QuotaScope.NONE,
            reason=reason,
        )
    if state != "ALARM":
        raise UnclassifiableSignal(f"alarm '{alarm_name}': state {state} is not actionable")
    if metric.anomaly_band:
        scope = _ANOMALY_SCOPES.get(metric.name)
        if scope is None:
            raise UnclassifiableSignal(f"alarm '{alarm_name}': no anomaly rule for metric '{metric.name}'")
        category, severity = Category.ANOMALY, Severity.WARNING
    else:
        rule = _THRESHOLD_RULES.get(metric.name)
        if rule is None:
            raise UnclassifiableSignal(f"alarm '{alarm_name}': no rule for metric '{metric.name}'")
        category, severity, scope = rule
    return Signal(
        alarm_name=alarm_name,
        state="ALARM",
        metric=metric,
        category=category,
        severity=severity,
        quota_scope=scope,
        reason=reason,
    )


def model_id_of(alarm_name: str, metric: MetricRef, tags: dict[str, str]) -> str:
    """The model an alarm is about: its ModelId dimension, or the ``opspilot:model-id`` tag. For
    an alarm that sums several models' series (sibling inference profiles), the tag wins."""
    if metric.inputs > 1 and tags.get(MODEL_TAG):
        return tags[MODEL_TAG]
    model = metric.dimensions.get(MODEL_DIMENSION) or tags.get(MODEL_TAG)
    if not model:
        raise UnclassifiableSignal(
            f"alarm '{alarm_name}': no '{MODEL_DIMENSION}' dimension in its metrics and no '{MODEL_TAG}' tag"
        )
    return model


def environment_of(alarm_name: str, tags: dict[str, str], default: Environment) -> Environment:
    """The environment an alarm's ``opspilot:environment`` tag names, else the stack's."""
    tagged = tags.get(ENVIRONMENT_TAG)
    if not tagged:
        return default
    try:
        return Environment(tagged)
    except ValueError:
        allowed = ", ".join(e.value for e in Environment)
        raise InvalidAlarmEvent(
            f"alarm '{alarm_name}': tag '{ENVIRONMENT_TAG}' is {tagged!r}, expected one of {allowed}"
        ) from None


_ARN_ALARM = re.compile(r":alarm:(.+)$")


def triggering_alarms(alarm_name: str, reason_data: str | None) -> list[str]:
    """The alarm names a composite alarm's state change reports as triggering it."""
    try:
        data = json.loads(reason_data or "")
    except json.JSONDecodeError as exc:
        raise UnclassifiableSignal(f"composite alarm '{alarm_name}': state.reasonData is not JSON") from exc
    names = []
    for item in data.get("triggeringAlarms") or [] if isinstance(data, dict) else []:
        match = _ARN_ALARM.search(str(item.get("arn", "")))
        if match and (item.get("state") or {}).get("value", "ALARM") == "ALARM":
            names.append(match.group(1))
    if not names:
        raise UnclassifiableSignal(
            f"composite alarm '{alarm_name}': state.reasonData names no triggering alarm"
        )
    return names


_PRIMARY_ORDER = (Category.QUOTA_PRESSURE, Category.FAILURE, Category.ANOMALY, Category.RECOVERY)


def combine(signals: Iterable[Signal]) -> tuple[Category, Severity, QuotaScope, list[Category]]:
    """One classification for a model's whole set of alarms in ALARM. Nothing is masked: the
    quota scope is the union of every signal's, and every category present is listed."""
    signals = list(signals)
    present = [c for c in _PRIMARY_ORDER if any(s.category is c for s in signals)]
    severity = (
        Severity.CRITICAL if any(s.severity is Severity.CRITICAL for s in signals) else Severity.WARNING
    )
    scopes = {s.quota_scope for s in signals} - {QuotaScope.NONE}
    if QuotaScope.BOTH in scopes or scopes == {QuotaScope.RPM, QuotaScope.TPM}:
        scope = QuotaScope.BOTH
    elif scopes:
        (scope,) = scopes
    else:
        scope = QuotaScope.NONE
    return present[0], severity, scope, present


def needs_investigation(signals: Iterable[Signal]) -> bool:
    """A failure that says nothing about quota (server errors, latency) calls for a support case."""
    return any(s.category is Category.FAILURE and s.quota_scope is QuotaScope.NONE for s in signals)


def composite_recovery(alarm_name: str, reason: str) -> Signal:
    """A composite alarm back to OK: its metrics are those of its children, so the signal names
    the composite itself; Recover finds the incident the composite's ALARM opened."""
    return Signal(
        alarm_name=alarm_name,
        state="OK",
        metric=MetricRef(namespace="AWS/CloudWatch", name="CompositeAlarm", stat="-", period=0),
        category=Category.RECOVERY,
        severity=Severity.WARNING,
        quota_scope=QuotaScope.NONE,
        reason=reason,
    )


def cloudwatch_time(text: str) -> datetime:
    """CloudWatch's timestamps (``2026-11-30T10:00:00.000+0000``) as an aware datetime."""
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z")
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidAlarmEvent(f"field 'detail.state.timestamp': not a timestamp: {text!r}") from exc
    if moment.tzinfo is None:
        raise InvalidAlarmEvent(f"field 'detail.state.timestamp': no time zone in {text!r}")
    return moment


def incident_id_for(event_id: str) -> str:
    """Deterministic per event, so a retried Classify opens the same incident, never a second one."""
    return "inc-" + hashlib.sha256(event_id.encode()).hexdigest()[:16]


def inputs_from_event(metrics: Iterable[object]) -> list[MetricInput]:
    """The event's ``configuration.metrics`` (parsed models) as metric inputs."""
    out = []
    for m in metrics:
        stat = getattr(m, "metric_stat", None)
        out.append(
            MetricInput(
                id=str(getattr(m, "id", "")),
                namespace=stat.metric.namespace if stat else None,
                name=stat.metric.name if stat else None,
                dimensions=tuple(sorted(stat.metric.dimensions.items())) if stat else (),
                stat=stat.stat if stat else None,
                period=stat.period if stat else None,
                expression=getattr(m, "expression", None),
                return_data=getattr(m, "return_data", None),
            )
        )
    return out


def alarm_signal(
    alarm_name: str, state: str, metrics: Sequence[MetricInput], reason: str, reason_data: str | None
) -> Signal:
    """One alarm, classified from its own metric list, with its own figures per minute."""
    metric = metric_of(alarm_name, metrics)
    observed, threshold = per_minute(alarm_name, metric, reason_data)
    signal = classify_metric(alarm_name, state, metric, reason)
    return signal.replace(observed_per_minute=observed, threshold_per_minute=threshold)


def event_signal(alarm: AlarmStateChangeEvent) -> Signal | None:
    """The signal the event carries by itself: its own alarm's, or a composite alarm's recovery.
    None for a composite alarm in ALARM: the alarms it names as triggering it must be read."""
    detail = alarm.detail
    if not alarm.is_composite:
        inputs = inputs_from_event(detail.configuration.metrics)
        state = detail.state
        return alarm_signal(detail.alarm_name, state.value, inputs, state.reason, state.reason_data)
    if detail.state.value == "OK":  # the composite's own incident recovers, by the composite's name
        return composite_recovery(detail.alarm_name, detail.state.reason)
    return None


def incident_model(alarm: AlarmStateChangeEvent, first: Signal) -> str:
    """The model the incident is about (a composite's recovery: its tag, else ``composite``)."""
    tags = alarm.detail.alarm_tags
    if alarm.is_composite and first.category is Category.RECOVERY:
        return tags.get(MODEL_TAG) or "composite"
    return model_id_of(alarm.detail.alarm_name, first.metric, tags)


def build_incident(
    alarm: AlarmStateChangeEvent, model_id: str, signals: list[Signal], default_environment: Environment
) -> Incident:
    """The incident the event opens (before the store says whether it joins an open one): its
    classification from every signal, the triggering one first."""
    category, severity, scope, categories = combine(signals)
    tags = alarm.detail.alarm_tags
    return Incident(
        incident_id=incident_id_for(alarm.id),
        model_id=model_id,
        region=alarm.region,
        account=alarm.account,
        environment=environment_of(alarm.detail.alarm_name, tags, default_environment),
        category=category,
        severity=severity,
        quota_scope=scope,
        alarm_name=alarm.detail.alarm_name,
        signals=signals,
        categories=categories,
        owner=tags.get(OWNER_TAG),
        opened_at=iso(cloudwatch_time(alarm.detail.state.timestamp)),
    )
