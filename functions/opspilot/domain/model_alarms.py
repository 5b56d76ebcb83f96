"""The alarms OpsPilot provisions for each registered model: names, tags, definitions, thresholds.

Every alarm evaluates one-minute periods, so every threshold is per minute. The pressure alarms'
thresholds come from the model's current quotas: ``floor(quota x percent / 100)``, at least 1.
The definitions are ``PutMetricAlarm`` parameters; :func:`managed_differences` and
:func:`with_threshold` compare and update alarms as ``DescribeAlarms`` returns them.

The kinds, their defaults and the alarm names live in :mod:`opspilot.domain.alarm_names`, which the
registry's validation reads too. Pure: no boto3.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from opspilot.domain.alarm_names import DEFAULTS, KINDS, OPTIONAL_QUOTA_KINDS, PRESSURE, alarm_name
from opspilot.domain.quota_resolver import (
    ListedQuota,
    ModelFacts,
    Resolution,
    inference_type_of,
    parse_quota_name,
    resolve,
)
from opspilot.domain.quotas import metric_model_id, pressure_threshold
from opspilot.domain.registry import AlarmOverride, ModelEntry

NAMESPACE = "AWS/Bedrock"
DIMENSION = "ModelId"
PERIOD = 60  # seconds: every alarm (and so every threshold) is per minute

MODEL_TAG = "opspilot:model-id"
ENVIRONMENT_TAG = "opspilot:environment"
OWNER_TAG = "opspilot:owner"
KIND_TAG = "opspilot:alarm"
MANAGED_BY_TAG = "opspilot:managed-by"
QUOTA_MODEL_TAG = "opspilot:quota-model-id"
INCREASE_TAG = "opspilot:increase-percent"
NOTIFY_TAG = "opspilot:notify"

# Every alarm OpsPilot writes carries its tags in its state-change events (``alarmTags``), so the
# workflow reads the model, environment and owner without a ListTagsForResource call. All tags
# (no IncludedTagKeys): "If you specify neither, all of the alarm's tags are included" (the
# AlarmTagsPropagation shape in botocore's cloudwatch model). Creating or updating such an alarm
# needs cloudwatch:ListTagsForResource on it (same shape's documentation). The member is newer
# than the Lambda runtime's boto3: functions/requirements.txt pins the boto3 that knows it.
TAG_PROPAGATION = {"AlarmTagsPropagation": {"Enabled": True}}


def propagates_tags(alarm: Mapping[str, Any]) -> bool:
    """Whether an alarm (DescribeAlarms' ``MetricAlarm``, or PutMetricAlarm parameters) sends
    its tags in its state-change events."""
    config = alarm.get("ActionConfiguration") or {}
    return bool((config.get("AlarmTagsPropagation") or {}).get("Enabled"))


@dataclass(frozen=True)
class StackDefaults:
    """What the stack decides for every model: the alarm name prefix and the default percents."""

    alarm_name_prefix: str
    threshold_percent: float
    increase_percent: float
    managed_by: str  # the stack name, tagged on every alarm the app owns
    # anomaly detection models the sync may use in the Region (CloudWatch allows 500 per account)
    anomaly_budget: int = 400


@dataclass(frozen=True)
class QuotaSnapshot:
    """The Bedrock quotas of one ListServiceQuotas listing: code -> (name, value)."""

    quotas: Mapping[str, tuple[str, float]]
    _listed: list[ListedQuota] = field(default_factory=list, compare=False, repr=False)
    _resolved: dict[str, Resolution] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._listed.extend(ListedQuota(code, name, value) for code, (name, value) in self.quotas.items())

    def names(self) -> list[tuple[str, str]]:
        return [(code, name) for code, (name, _) in self.quotas.items()]

    def value(self, code: str) -> float | None:
        found = self.quotas.get(code)
        return found[1] if found else None

    def match(self, model_id: str, quota_kind: str) -> str | None:
        """The model's quota of ``quota_kind`` matched by name (``domain/quota_resolver.py``, from
        the model id's words: the sync has no GetFoundationModel answer)."""
        if model_id not in self._resolved:  # one resolution per model and listing
            self._resolved[model_id] = resolve(ModelFacts(model_id), self._listed)
        found = self._resolved[model_id].quota(quota_kind)
        return found.code if found else None

    def limit(self, code: str, model_id: str) -> float | None:
        """The figure usage is compared with: the value, doubled for a cross-Region profile where
        the name says "(doubled for cross-region calls)"."""
        value = self.value(code)
        parsed = parse_quota_name(self.quotas[code][0]) if code in self.quotas else None
        doubled = bool(parsed and parsed.doubled_for_cross_region)
        if value is not None and doubled and inference_type_of(model_id) == "cross_region":
            return value * 2
        return value


@dataclass(frozen=True)
class ThresholdBasis:
    """Where a pressure alarm's threshold comes from."""

    quota_code: str
    quota_value: float
    percent: float


@dataclass(frozen=True)
class DesiredAlarm:
    """One alarm as the registry says it should be. ``threshold`` None on a pressure alarm means
    the quota is unknown in this run: its current threshold must be kept."""

    name: str
    kind: str
    model_id: str
    params: dict[str, Any]  # PutMetricAlarm parameters, without Threshold and Tags
    threshold: float | None
    basis: ThresholdBasis | None
    tags: dict[str, str]

    @property
    def is_pressure(self) -> bool:
        return self.kind in PRESSURE


def effective_percent(entry: ModelEntry, quota_kind: str, stack: StackDefaults) -> float:
    value = entry.rpm_threshold_percent if quota_kind == "rpm" else entry.tpm_threshold_percent  # tpd: tpm's
    return value if value is not None else stack.threshold_percent


def quota_code_for(entry: ModelEntry, quota_kind: str, quotas: QuotaSnapshot) -> str | None:
    """The entry's override, else the quota of its pool model matched by name."""
    override = getattr(entry.quota_codes, quota_kind, None)
    return override or quotas.match(entry.pool, quota_kind)


def overrides_of(entry: ModelEntry) -> dict[str, AlarmOverride]:
    return {str(kind): override for kind, override in entry.alarms.items()}


def enabled_kinds(entry: ModelEntry) -> list[str]:
    """The entry's alarm kinds: its overrides' ``enabled``, else the kind's default for its
    environment."""
    overrides = overrides_of(entry)
    kinds = []
    for kind in KINDS:
        override = overrides.get(kind)
        if override is not None and override.enabled is not None:
            if override.enabled:
                kinds.append(kind)
            continue
        environments = DEFAULTS[kind].default_environments
        if environments is None or entry.environment.value in environments:
            kinds.append(kind)
    return kinds


def model_tags(entry: ModelEntry, stack: StackDefaults) -> dict[str, str]:
    """The tags every alarm of ``entry`` carries (plus its kind): what the workflow reads from an
    alarm's state-change event."""
    increase = entry.increase_percent if entry.increase_percent is not None else stack.increase_percent
    tags = {
        MODEL_TAG: entry.model_id,
        ENVIRONMENT_TAG: entry.environment.value,
        OWNER_TAG: entry.owner,
        MANAGED_BY_TAG: stack.managed_by,
        INCREASE_TAG: f"{increase:g}",
    }
    if entry.source_model_id:
        tags[QUOTA_MODEL_TAG] = entry.source_model_id
    if entry.notify:
        tags[NOTIFY_TAG] = " ".join(entry.notify)[:256]
    return tags


def _metric(metric: str, model_id: str) -> dict[str, Any]:
    return {
        "Namespace": NAMESPACE,
        "MetricName": metric,
        # an application inference profile's series is named by its id, not its ARN
        "Dimensions": [{"Name": DIMENSION, "Value": metric_model_id(model_id)}],
    }


def _stat_params(statistic: str) -> dict[str, str]:
    return {"ExtendedStatistic": statistic} if statistic.startswith("p") else {"Statistic": statistic}


def _pool_metrics(metric: str, members: Sequence[str], period: int = PERIOD) -> list[dict[str, Any]]:
    """Metric math: the sum of ``metric`` over every series that shares the quota."""
    queries: list[dict[str, Any]] = [
        {
            "Id": f"m{i}",
            "MetricStat": {"Metric": _metric(metric, member), "Period": period, "Stat": "Sum"},
            "ReturnData": False,
        }
        for i, member in enumerate(members)
    ]
    ids = ",".join(q["Id"] for q in queries)
    queries.append(
        {
            "Id": "total",
            "Expression": f"SUM([{ids}])",
            "Label": f"{metric} summed over {len(members)} inference profiles sharing the quota",
            "ReturnData": True,
        }
    )
    return queries


def profiles_by_pool(registry: Iterable[ModelEntry]) -> dict[str, set[str]]:
    """The registered application inference profiles, by the model whose quotas they share."""
    pools: dict[str, set[str]] = {}
    for e in registry:
        if e.is_application_profile:
            pools.setdefault(e.pool, set()).add(e.model_id)
    return pools


def pool_members(entry: ModelEntry, registry: Iterable[ModelEntry] | Mapping[str, set[str]]) -> list[str]:
    """Every series whose traffic counts against the same quota as ``entry``'s: the pool model
    itself and each registered application inference profile created from it, sorted.
    ``registry``: the entries, or :func:`profiles_by_pool` of them."""
    pools = registry if isinstance(registry, Mapping) else profiles_by_pool(registry)
    return sorted({entry.pool, entry.model_id} | pools.get(entry.pool, set()))


def desired_alarms(
    entry: ModelEntry,
    stack: StackDefaults,
    quotas: QuotaSnapshot | None,
    members: Sequence[str] = (),
) -> tuple[list[DesiredAlarm], list[str]]:
    """The model's alarms, and the problems that leave a threshold unknown (quota not found).
    ``quotas`` None: the lookup failed in this run. ``members``: see :func:`pool_members`."""
    members = list(members) or [entry.model_id]
    tags = model_tags(entry, stack)
    problems: list[str] = []
    alarms = []
    for kind in enabled_kinds(entry):
        d = DEFAULTS[kind]
        override = overrides_of(entry).get(kind)
        o = override.to_json(exclude_none=True) if override else {}
        periods = int(o.get("evaluation_periods", d.evaluation_periods))
        params: dict[str, Any] = {
            "AlarmName": alarm_name(stack.alarm_name_prefix, entry.model_id, kind),
            "AlarmDescription": (
                f"OpsPilot: {d.summary} of {entry.display_name} ({entry.model_id}), owner {entry.owner}. "
                f"Owned by the OpsPilot stack {stack.managed_by} and kept in line with its model registry: "
                "change the registry entry, not this alarm."
            )[:1024],
            "ActionsEnabled": True,
            "ActionConfiguration": {k: dict(v) for k, v in TAG_PROPAGATION.items()},
            "AlarmActions": list(entry.notify),
            "OKActions": list(entry.notify),
            "EvaluationPeriods": periods,
            "DatapointsToAlarm": int(o.get("datapoints_to_alarm", min(d.datapoints_to_alarm, periods))),
            "TreatMissingData": o.get("treat_missing_data", d.treat_missing_data),
        }
        statistic = str(o.get("statistic", d.statistic))
        threshold: float | None = None
        basis: ThresholdBasis | None = None
        if d.band_width is not None:
            width = float(o.get("band_width", d.band_width))
            params |= {
                "ComparisonOperator": "GreaterThanUpperThreshold",  # upper band only
                "ThresholdMetricId": "band",
                "Metrics": [
                    {
                        "Id": "m1",
                        "MetricStat": {
                            "Metric": _metric(d.metric, entry.model_id),
                            "Period": PERIOD,
                            "Stat": statistic,
                        },
                        "ReturnData": True,
                    },
                    {
                        "Id": "band",
                        "Expression": f"ANOMALY_DETECTION_BAND(m1, {width:g})",
                        "ReturnData": True,
                    },
                ],
            }
        elif d.quota_kind is not None:
            params["ComparisonOperator"] = "GreaterThanOrEqualToThreshold"
            if len(members) > 1:
                params["Metrics"] = _pool_metrics(d.metric, members, d.period)
            else:
                params |= _metric(d.metric, entry.model_id) | {"Period": d.period, "Statistic": "Sum"}
            if quotas is not None:
                code = quota_code_for(entry, d.quota_kind, quotas)
                value = quotas.limit(code, entry.pool) if code else None
                if code is None and d.quota_kind in OPTIONAL_QUOTA_KINDS:
                    continue  # not listed for this model: nothing to watch
                if code is None or value is None:
                    field = f"quota_codes.{d.quota_kind}"
                    problems.append(
                        f"{entry.model_id}: no {d.quota_kind.upper()} quota "
                        + (f"{code} in the listing" if code else f"matched by name for {entry.pool}")
                        + f"; set {field}"
                    )
                else:
                    percent = effective_percent(entry, d.quota_kind, stack)
                    threshold = float(pressure_threshold(value, percent))
                    basis = ThresholdBasis(code, value, percent)
        else:
            threshold = float(o.get("threshold", d.threshold or 0))
            params |= _metric(d.metric, entry.model_id) | {"Period": PERIOD} | _stat_params(statistic)
            params["ComparisonOperator"] = "GreaterThanOrEqualToThreshold"
        alarms.append(
            DesiredAlarm(
                name=params["AlarmName"],
                kind=kind,
                model_id=entry.model_id,
                params=params,
                threshold=threshold,
                basis=basis,
                tags={**tags, KIND_TAG: kind},
            )
        )
    return alarms, problems


def create_params(alarm: DesiredAlarm) -> dict[str, Any]:
    """PutMetricAlarm for a new alarm: the full definition with its threshold and tags."""
    if alarm.threshold is None and "ThresholdMetricId" not in alarm.params:
        raise ValueError(f"{alarm.name}: cannot create an alarm without a threshold")
    params = dict(alarm.params)
    if alarm.threshold is not None:
        params["Threshold"] = alarm.threshold
    params["Tags"] = [{"Key": k, "Value": v} for k, v in sorted(alarm.tags.items())]
    return params


def replace_params(alarm: DesiredAlarm, keep_threshold: float | None) -> dict[str, Any]:
    """PutMetricAlarm that rewrites an existing alarm's whole definition (tags are not changed
    by an update). A pressure alarm whose quota is unknown keeps ``keep_threshold``."""
    params = dict(alarm.params)
    threshold = alarm.threshold if alarm.threshold is not None else keep_threshold
    if threshold is not None and "ThresholdMetricId" not in params:
        params["Threshold"] = threshold
    return params


# The fields of an alarm on one metric (an alarm on metric math has Metrics instead).
_SINGLE_METRIC_FIELDS = (
    "MetricName",
    "Namespace",
    "Statistic",
    "ExtendedStatistic",
    "Dimensions",
    "Period",
    "Unit",
)
# Fields of a described alarm that PutMetricAlarm takes back unchanged.
_PUT_FIELDS = (
    "AlarmName",
    "AlarmDescription",
    "ActionsEnabled",
    "OKActions",
    "AlarmActions",
    "InsufficientDataActions",
    *_SINGLE_METRIC_FIELDS,
    "EvaluationPeriods",
    "DatapointsToAlarm",
    "Threshold",
    "ComparisonOperator",
    "TreatMissingData",
    "EvaluateLowSampleCountPercentile",
    "Metrics",
    "ThresholdMetricId",
    "ActionConfiguration",
)
_QUERY_FIELDS = ("Id", "MetricStat", "Expression", "Label", "ReturnData", "Period", "AccountId")


def with_threshold(described: Mapping[str, Any], threshold: float) -> dict[str, Any]:
    """PutMetricAlarm parameters that write ``described`` (a DescribeAlarms MetricAlarm) back with
    only its threshold changed. PutMetricAlarm replaces the whole alarm, so everything else (actions
    someone added, evaluation settings) is carried over as it is."""
    params: dict[str, Any] = {}
    for key in _PUT_FIELDS:
        value = described.get(key)
        if value is None or value == []:
            continue
        params[key] = value
    if params.get("Metrics"):
        params["Metrics"] = [{k: q[k] for k in _QUERY_FIELDS if k in q} for q in params["Metrics"]]
        for key in _SINGLE_METRIC_FIELDS:
            params.pop(key, None)
    params["Threshold"] = float(threshold)
    return params


def _dims(dimensions: Sequence[Mapping[str, str]] | None) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((d["Name"], d["Value"]) for d in dimensions or []))


def _metric_view(source: Mapping[str, Any]) -> Any:
    queries = source.get("Metrics") or []
    if queries:
        out = []
        for q in queries:
            stat = q.get("MetricStat") or {}
            metric = stat.get("Metric") or {}
            out.append(
                (
                    q.get("Id"),
                    q.get("Expression"),
                    q.get("Label"),
                    bool(q.get("ReturnData", True)),
                    metric.get("Namespace"),
                    metric.get("MetricName"),
                    _dims(metric.get("Dimensions")),
                    stat.get("Period"),
                    stat.get("Stat"),
                )
            )
        return tuple(out)
    return (
        source.get("Namespace"),
        source.get("MetricName"),
        _dims(source.get("Dimensions")),
        source.get("Period"),
        source.get("Statistic") or source.get("ExtendedStatistic"),
    )


def _view(source: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "AlarmDescription": source.get("AlarmDescription"),
        "ActionsEnabled": bool(source.get("ActionsEnabled", True)),
        "AlarmActions": tuple(sorted(source.get("AlarmActions") or [])),
        "OKActions": tuple(sorted(source.get("OKActions") or [])),
        "InsufficientDataActions": tuple(sorted(source.get("InsufficientDataActions") or [])),
        "EvaluationPeriods": source.get("EvaluationPeriods"),
        "DatapointsToAlarm": source.get("DatapointsToAlarm") or source.get("EvaluationPeriods"),
        "ComparisonOperator": source.get("ComparisonOperator"),
        "TreatMissingData": source.get("TreatMissingData") or "missing",
        "ThresholdMetricId": source.get("ThresholdMetricId"),
        "TagPropagation": propagates_tags(source),  # an alarm written before it was on is rewritten once
        "Metric": _metric_view(source),
    }


def managed_differences(alarm: DesiredAlarm, described: Mapping[str, Any]) -> list[str]:
    """The definition fields (threshold aside) in which ``described`` differs from ``alarm``."""
    want, have = _view(alarm.params), _view(described)
    return [key for key in want if want[key] != have[key]]


def current_threshold(described: Mapping[str, Any]) -> float | None:
    value = described.get("Threshold")
    if value is None or described.get("ThresholdMetricId"):
        return None
    return float(value)
