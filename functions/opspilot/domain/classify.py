"""Classify alarms into signals, and a model's signals into one incident classification.

An alarm's metric is read from its own configuration (the event's ``configuration``, or the
DescribeAlarms definition for the alarms a composite alarm or the model's other alarms point
at), never from its name, so alarms OpsPilot did not create are understood too. Which way it
fires (above or below its threshold or band) comes from the alarm's ``ComparisonOperator`` when
it is known, else from what the state change reports (the band it left, or the reason's words):
requests or tokens falling below what is expected is a traffic drop, never quota pressure.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from opspilot.domain.errors import InvalidAlarmEvent, UnclassifiableSignal
from opspilot.domain.format import iso
from opspilot.domain.model import (
    Category,
    Environment,
    Incident,
    MetricRef,
    QuotaScope,
    Severity,
    Signal,
    Suppression,
)

if TYPE_CHECKING:  # the event models load where events are read (Classify, Recover), not in Decide
    from opspilot.domain.events import AlarmStateChangeEvent

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

# Metric math that adds a model's input and output tokens (e.g. SUM(METRICS()) over
# InputTokenCount and OutputTokenCount): the tokens it processed per period, a TPM measure.
TOKEN_METRICS = frozenset({"InputTokenCount", "OutputTokenCount"})
TOKENS_SUM = "InputTokenCount+OutputTokenCount"
_THRESHOLD_RULES[TOKENS_SUM] = (Category.QUOTA_PRESSURE, Severity.WARNING, QuotaScope.TPM)

# anomaly-detection alarms (upper band) -> quota scope
_ANOMALY_SCOPES: dict[str, QuotaScope] = {
    "Invocations": QuotaScope.RPM,
    "InputTokenCount": QuotaScope.TPM,
    "OutputTokenCount": QuotaScope.TPM,
    TOKENS_SUM: QuotaScope.TPM,
    "InvocationLatency": QuotaScope.NONE,
}

# Traffic metrics: below their threshold or band, requests or tokens stopped arriving (a client
# outage, a broken deployment, a routing change). Nothing a quota change would help.
_TRAFFIC_METRICS = frozenset({"Invocations", *TOKEN_METRICS, TOKENS_SUM})

# PutMetricAlarm's ComparisonOperator values that fire when the metric is low.
_BELOW_OPERATORS = frozenset({"LessThanThreshold", "LessThanOrEqualToThreshold", "LessThanLowerThreshold"})
_ABOVE_OPERATORS = frozenset(
    {"GreaterThanThreshold", "GreaterThanOrEqualToThreshold", "GreaterThanUpperThreshold"}
)
# The state reason of a static-threshold alarm: "... datapoints [...] was less than the threshold"
_REASON_DIRECTION = re.compile(r"\bwas (?:(?P<below>less)|greater) than (?:or equal to )?the threshold")

# Metrics Insights alarm queries (one time series per GROUP BY value, a contributor each):
# SELECT SUM(InvocationThrottles) FROM "AWS/Bedrock" GROUP BY ModelId ORDER BY MAX() DESC
# SELECT AVG(InvocationLatency) FROM SCHEMA("AWS/Bedrock", ModelId) WHERE ... GROUP BY ModelId
_INSIGHTS_QUERY = re.compile(
    r"^\s*SELECT\s+(?P<fn>[A-Za-z]+)\s*\(\s*(?P<metric>\"[^\"]+\"|[A-Za-z0-9_.-]+)\s*\)\s+"
    r"FROM\s+(?:SCHEMA\s*\(\s*)?(?P<namespace>\"[^\"]+\"|[A-Za-z0-9_./-]+)",
    re.IGNORECASE,
)
_INSIGHTS_GROUP_BY = re.compile(r"\bGROUP\s+BY\s+(?P<keys>.+?)(?:\s+ORDER\s+BY\b|\s+LIMIT\b|$)", re.I | re.S)
_INSIGHTS_STATS = {"SUM": "Sum", "AVG": "Average", "MAX": "Maximum", "MIN": "Minimum", "COUNT": "SampleCount"}

# Metric math that adds its series up: "m1 + m2", "SUM(METRICS())", "SUM([m1, m2])".
_SUM_OF_IDS = re.compile(r"^\s*[A-Za-z]\w*(?:\s*\+\s*[A-Za-z]\w*)+\s*$")
_SUM_FUNCTION = re.compile(
    r"^\s*SUM\s*\(\s*(?:METRICS\s*\(\s*(?:\"[^\"]*\"|'[^']*')?\s*\)|\[\s*[A-Za-z]\w*(?:\s*,\s*[A-Za-z]\w*)*\s*\])\s*\)\s*$",
    re.IGNORECASE,
)

_PER_MINUTE_STATS = frozenset({"Sum", "SampleCount"})
# A token alarm whose period is an hour or longer watches the daily token quota ("Model invocation
# max tokens per day", "Cross-Model Max Tokens Per Day"), not a per-minute one.
DAILY_QUOTA_PERIOD = 3600


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


def is_sum(expression: str) -> bool:
    """Metric math that adds its series: ``m1 + m2``, ``SUM(METRICS())``, ``SUM([m1, m2])``."""
    return bool(_SUM_OF_IDS.match(expression) or _SUM_FUNCTION.match(expression))


def insights_query(metrics: Sequence[MetricInput]) -> MetricInput | None:
    """The Metrics Insights query (``SELECT ...``) a multi-time-series alarm evaluates, if any."""
    return next(
        (m for m in metrics if m.expression and m.expression.lstrip().upper().startswith("SELECT")), None
    )


def _unquote(text: str) -> str:
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text


def insights_group_by(query: str) -> list[str]:
    """The GROUP BY keys of a Metrics Insights query: the attributes that name a contributor."""
    match = _INSIGHTS_GROUP_BY.search(query)
    if not match:
        return []
    return [_unquote(k.strip()) for k in match.group("keys").split(",") if k.strip()]


def insights_metric(
    alarm_name: str, query: MetricInput, contributor: dict[str, str] | None = None
) -> MetricRef:
    """What a Metrics Insights alarm evaluates, for one contributor (its GROUP BY attributes are
    that time series' dimensions) or, without one, for the alarm as a whole."""
    text = query.expression or ""
    match = _INSIGHTS_QUERY.match(text)
    stat = _INSIGHTS_STATS.get(match.group("fn").upper()) if match else None
    if match is None or stat is None:
        raise UnclassifiableSignal(
            f"alarm '{alarm_name}': Metrics Insights query {text!r} is not "
            "SELECT SUM|AVG|MAX|MIN|COUNT(<metric>) FROM <namespace>"
        )
    return MetricRef(
        namespace=_unquote(match.group("namespace")),
        name=_unquote(match.group("metric")),
        dimensions=dict(contributor or {}),
        stat=stat,
        period=int(query.period or 60),
        expression=text,
    )


def metric_of(alarm_name: str, metrics: Sequence[MetricInput]) -> MetricRef:
    """The metric an alarm evaluates: one metric, one metric with an anomaly band, metric math
    that sums several series of the same metric (e.g. over sibling inference profiles), metric
    math that sums a model's input and output tokens, or a Metrics Insights query."""
    stats = [m for m in metrics if m.name is not None]
    expressions = [m for m in metrics if m.expression]
    anomaly = [m for m in expressions if "ANOMALY_DETECTION_BAND" in (m.expression or "")]
    if not stats:
        query = insights_query(metrics)
        if query is not None:
            return insights_metric(alarm_name, query)
        raise UnclassifiableSignal(f"alarm '{alarm_name}': its configuration names no metric")
    math = [m for m in expressions if m not in anomaly]
    if len(stats) > 1 and not math:
        raise UnclassifiableSignal(
            f"alarm '{alarm_name}': {len(stats)} metrics and no expression combining them"
        )
    if len(stats) > 1 and not all(is_sum(m.expression or "") for m in math):
        expression = next(m.expression for m in math if not is_sum(m.expression or ""))
        raise UnclassifiableSignal(
            f"alarm '{alarm_name}': metric math {expression!r} is not a sum of its series; "
            "OpsPilot reads sums only"
        )
    name: str | None = None
    names = {(m.namespace, m.name, m.stat, m.period) for m in stats}
    if len(names) == 1:
        name = stats[0].name
    elif {(m.namespace, m.stat, m.period) for m in stats} == {
        (BEDROCK_NAMESPACE, stats[0].stat, stats[0].period)
    } and {m.name for m in stats} == TOKEN_METRICS:
        name = TOKENS_SUM  # input + output tokens of the same model(s): tokens per period
    if name is None:
        described = ", ".join(sorted({f"{m.namespace}/{m.name} ({m.stat}, {m.period}s)" for m in stats}))
        raise UnclassifiableSignal(
            f"alarm '{alarm_name}': metric math over different metrics or statistics ({described}) "
            "has no single meaning OpsPilot can reason about"
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
        name=name,
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


def fires_below(
    metric: MetricRef, comparison: str | None, reason: str = "", reason_data: str | None = None
) -> bool:
    """Whether the alarm fires because its metric is low: its ``ComparisonOperator`` when known
    (DescribeAlarms), else what the state change reports. A state-change event carries no
    operator: an anomaly alarm's ``reasonData`` holds the band (``recentLowerThresholds``,
    ``recentUpperThresholds``) around ``recentDatapoints``, and a static threshold's reason says
    "was less than the threshold"."""
    if comparison in _BELOW_OPERATORS:
        return True
    if comparison in _ABOVE_OPERATORS:
        return False
    data: object = None
    with suppress(json.JSONDecodeError):
        data = json.loads(reason_data or "")
    if isinstance(data, dict) and isinstance(data.get("recentLowerThresholds"), list):
        points = [p for p in data.get("recentDatapoints") or [] if isinstance(p, int | float)]
        lower = [t for t in data["recentLowerThresholds"] if isinstance(t, int | float)]
        upper = [t for t in data.get("recentUpperThresholds") or [] if isinstance(t, int | float)]
        under = any(p < t for p, t in zip(points, lower, strict=False))
        over = any(p > t for p, t in zip(points, upper, strict=False))
        return under and not over
    if metric.anomaly_band:
        return False
    found = _REASON_DIRECTION.search(reason or "")
    return bool(found and found.group("below"))


def classify_metric(
    alarm_name: str, state: str, metric: MetricRef, reason: str = "", below: bool = False
) -> Signal:
    """One alarm's signal. ``below``: it fires when its metric is low (:func:`fires_below`)."""
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
    if below:
        # Fewer requests or tokens than expected: a client outage, a broken deployment. Latency
        # or errors below their threshold are good news. Neither is a reason to ask for quota.
        category = Category.TRAFFIC_DROP if metric.name in _TRAFFIC_METRICS else Category.ANOMALY
        return Signal(
            alarm_name=alarm_name,
            state="ALARM",
            metric=metric,
            category=category,
            severity=Severity.WARNING,
            quota_scope=QuotaScope.NONE,
            reason=reason,
        )
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
        if scope is QuotaScope.TPM and metric.period >= DAILY_QUOTA_PERIOD:
            scope = QuotaScope.TPD  # tokens summed over hours or a day: the daily token quota
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
    tags = tags or {}
    if metric.inputs > 1 and tags.get(MODEL_TAG):
        return tags[MODEL_TAG]
    model = metric.dimensions.get(MODEL_DIMENSION) or tags.get(MODEL_TAG)
    tagged = tags.get(MODEL_TAG)
    if tagged and model == tagged.rsplit("/", 1)[-1]:
        return tagged  # CloudWatch names an application profile by its id; the tag has its ARN
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


_PRIMARY_ORDER = (
    Category.QUOTA_PRESSURE,
    Category.FAILURE,
    Category.TRAFFIC_DROP,
    Category.ANOMALY,
    Category.RECOVERY,
)


def combine(signals: Iterable[Signal]) -> tuple[Category, Severity, QuotaScope, list[Category]]:
    """One classification for a model's whole set of alarms in ALARM. Nothing is masked: the
    quota scope is the union of every signal's, and every category present is listed."""
    signals = list(signals)
    present = [c for c in _PRIMARY_ORDER if any(s.category is c for s in signals)]
    severity = (
        Severity.CRITICAL if any(s.severity is Severity.CRITICAL for s in signals) else Severity.WARNING
    )
    scopes = {s.quota_scope for s in signals} - {QuotaScope.NONE}
    if QuotaScope.BOTH in scopes or len(scopes) > 1:
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
                period=stat.period if stat else getattr(m, "period", None),
                expression=getattr(m, "expression", None),
                return_data=getattr(m, "return_data", None),
            )
        )
    return out


def alarm_signal(
    alarm_name: str,
    state: str,
    metrics: Sequence[MetricInput],
    reason: str,
    reason_data: str | None,
    comparison: str | None = None,
) -> Signal:
    """One alarm, classified from its own metric list, with its own figures per minute.
    ``comparison``: its ComparisonOperator, when known (DescribeAlarms)."""
    metric = metric_of(alarm_name, metrics)
    observed, threshold = per_minute(alarm_name, metric, reason_data)
    below = fires_below(metric, comparison, reason, reason_data)
    signal = classify_metric(alarm_name, state, metric, reason, below)
    return signal.replace(observed_per_minute=observed, threshold_per_minute=threshold)


def alarm_key(alarm: AlarmStateChangeEvent) -> str:
    """What the event's incident is keyed on: the alarm, or for a Metrics Insights contributor
    the alarm and that contributor (each contributor is its own time series, and incident)."""
    contributor = alarm.detail.alarm_contributor
    if alarm.is_contributor and contributor is not None:
        return f"{alarm.detail.alarm_name} [{contributor.id}]"
    return alarm.detail.alarm_name


def handled_per_contributor(alarm: AlarmStateChangeEvent) -> bool:
    """The alarm-level state change of a Metrics Insights alarm (one query over many time
    series, e.g. ``GROUP BY ModelId``). Its reason only counts contributors ("6 out of 6 time
    series evaluated to ALARM"); CloudWatch sends a contributor event for each time series, and
    those are classified, one incident per contributor."""
    if alarm.is_contributor or alarm.is_composite:
        return False
    inputs = inputs_from_event(alarm.detail.configuration.metrics)
    return not any(m.name for m in inputs) and insights_query(inputs) is not None


def contributor_signal(alarm: AlarmStateChangeEvent) -> Signal:
    """A Metrics Insights contributor's state change: the query's metric, with the
    contributor's attributes (e.g. ``ModelId``) as its dimensions."""
    detail = alarm.detail
    contributor = detail.alarm_contributor
    query = insights_query(inputs_from_event(detail.configuration.metrics))
    if contributor is None or query is None:
        raise UnclassifiableSignal(
            f"alarm '{detail.alarm_name}': a contributor state change without its Metrics Insights query"
        )
    metric = insights_metric(detail.alarm_name, query, contributor.attributes)
    below = fires_below(metric, None, detail.state.reason, detail.state.reason_data)
    signal = classify_metric(alarm_key(alarm), detail.state.value, metric, detail.state.reason, below)
    return signal


def event_signal(alarm: AlarmStateChangeEvent) -> Signal | None:
    """The signal the event carries by itself: its own alarm's, a Metrics Insights contributor's,
    or a composite alarm's recovery. None for a composite alarm in ALARM: the alarms it names as
    triggering it must be read."""
    detail = alarm.detail
    if alarm.is_contributor:
        return contributor_signal(alarm)
    if not alarm.is_composite:
        inputs = inputs_from_event(detail.configuration.metrics)
        state = detail.state
        return alarm_signal(detail.alarm_name, state.value, inputs, state.reason, state.reason_data)
    if detail.state.value == "OK":  # the composite's own incident recovers, by the composite's name
        return composite_recovery(detail.alarm_name, detail.state.reason)
    return None


def suppression_of(alarm: AlarmStateChangeEvent) -> Suppression | None:
    """Why the alarm's actions are held back, if they are: a mute rule (``muteDetail``, named by
    its ARN) or a composite alarm's suppressor alarm (``state.actionsSuppressedBy``:
    ``WaitPeriod``, ``ExtensionPeriod`` or ``Alarm``, the suppressor named by
    ``configuration.actionsSuppressor``). A person chose that silence: OpsPilot records the
    state change and says so once, and acts on nothing."""
    detail = alarm.detail
    if detail.mute_detail is not None:
        mute = detail.mute_detail
        window = " to ".join(w for w in (mute.mute_window_start, mute.mute_window_end) if w)
        return Suppression(
            kind="mute_rule",
            by=mute.rule_name,
            arn=mute.muted_by_arn,
            reason=f"muted by alarm mute rule {mute.rule_name}" + (f" ({window})" if window else ""),
            window_start=mute.mute_window_start,
            window_end=mute.mute_window_end,
        )
    state = detail.state
    if state.actions_suppressed_by:
        suppressor = detail.configuration.actions_suppressor
        reason = state.actions_suppressed_reason or f"Actions suppressed by {state.actions_suppressed_by}"
        return Suppression(
            kind="suppressor_alarm",
            by=suppressor or state.actions_suppressed_by,
            reason=f"{reason}" + (f" (suppressor alarm {suppressor})" if suppressor else ""),
            suppressed_by=state.actions_suppressed_by,
        )
    return None


def suppression_id(alarm: AlarmStateChangeEvent, suppression: Suppression) -> str:
    """One record per alarm and silence: the repeats of a muted alarm within one mute window,
    or of one suppressed transition of a composite, are announced once."""
    moment = suppression.window_start if suppression.kind == "mute_rule" else alarm.detail.state.timestamp
    return incident_id_for(f"suppressed|{alarm_key(alarm)}|{suppression.arn or suppression.by}|{moment}")


def incident_model(alarm: AlarmStateChangeEvent, first: Signal, tags: dict[str, str] | None = None) -> str:
    """The model the incident is about (a composite's recovery: its tag, else ``composite``).
    ``tags``: the alarm's tags (the event's, or read from the alarm when it carries none)."""
    tags = alarm.tags if tags is None else tags
    if alarm.is_composite and first.category is Category.RECOVERY:
        return tags.get(MODEL_TAG) or "composite"
    return model_id_of(alarm.detail.alarm_name, first.metric, tags)


def build_incident(
    alarm: AlarmStateChangeEvent,
    model_id: str,
    signals: list[Signal],
    default_environment: Environment,
    tags: dict[str, str] | None = None,
) -> Incident:
    """The incident the event opens (before the store says whether it joins an open one): its
    classification from every signal, the triggering one first. ``tags``: see :func:`incident_model`."""
    category, severity, scope, categories = combine(signals)
    tags = alarm.tags if tags is None else tags
    return Incident(
        incident_id=incident_id_for(alarm.id),
        model_id=model_id,
        region=alarm.region,
        account=alarm.account,
        environment=environment_of(alarm.detail.alarm_name, tags, default_environment),
        category=category,
        severity=severity,
        quota_scope=scope,
        alarm_name=alarm_key(alarm),
        signals=signals,
        categories=categories,
        owner=tags.get(OWNER_TAG),
        opened_at=iso(cloudwatch_time(alarm.detail.state.timestamp)),
    )
