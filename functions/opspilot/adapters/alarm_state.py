"""CloudWatch alarm definitions, states and tags, read for classification (DescribeAlarms,
ListTagsForResource)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from opspilot.adapters.aws import client, error_code, raise_translated
from opspilot.domain.classify import MetricInput

DESCRIBE_BATCH = 100  # DescribeAlarms accepts at most 100 names per call


@dataclass(frozen=True)
class AlarmDefinition:
    name: str
    state: str
    reason: str
    reason_data: str | None
    metrics: list[MetricInput]
    comparison: str | None = None  # ComparisonOperator: which way the alarm fires
    # when the alarm entered its state: StateTransitionedTimestamp (moto 5.2.5 returns only
    # StateUpdatedTimestamp, which is never earlier)
    updated: datetime | None = None


def _dims(dimensions: Iterable[dict[str, str]]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((d["Name"], d["Value"]) for d in dimensions))


def _inputs(alarm: dict[str, Any]) -> list[MetricInput]:
    if alarm.get("Metrics"):
        out = []
        for m in alarm["Metrics"]:
            stat = m.get("MetricStat")
            metric = (stat or {}).get("Metric", {})
            out.append(
                MetricInput(
                    id=m["Id"],
                    namespace=metric.get("Namespace"),
                    name=metric.get("MetricName"),
                    dimensions=_dims(metric.get("Dimensions", [])),
                    stat=(stat or {}).get("Stat"),
                    period=(stat or {}).get("Period"),
                    expression=m.get("Expression"),
                    return_data=m.get("ReturnData"),
                )
            )
        return out
    return [
        MetricInput(
            id="m1",
            namespace=alarm.get("Namespace"),
            name=alarm.get("MetricName"),
            dimensions=_dims(alarm.get("Dimensions", [])),
            stat=alarm.get("Statistic") or alarm.get("ExtendedStatistic"),
            period=alarm.get("Period"),
        )
    ]


def _definition(alarm: dict[str, Any]) -> AlarmDefinition:
    return AlarmDefinition(
        name=alarm["AlarmName"],
        state=alarm["StateValue"],
        reason=alarm.get("StateReason", ""),
        reason_data=alarm.get("StateReasonData"),
        metrics=_inputs(alarm),
        comparison=alarm.get("ComparisonOperator"),
        updated=alarm.get("StateTransitionedTimestamp") or alarm.get("StateUpdatedTimestamp"),
    )


def describe(
    names: list[str], region: str | None = None, cloudwatch: Any | None = None
) -> list[AlarmDefinition]:
    """Metric alarms by name, 100 names per batch, each batch read to its last page: DescribeAlarms
    answers at most ``MaxRecords`` (1 to 100) alarms and a ``NextToken`` that "marks the start of
    the next batch of returned results" (botocore's cloudwatch model). Asking for 100 names with
    ``MaxRecords`` 100 should need one page; following the token costs nothing when it is absent."""
    cw = cloudwatch or client("cloudwatch", region)
    pages = cw.get_paginator("describe_alarms")
    found: list[AlarmDefinition] = []
    try:
        for i in range(0, len(names), DESCRIBE_BATCH):
            for page in pages.paginate(
                AlarmNames=names[i : i + DESCRIBE_BATCH],
                AlarmTypes=["MetricAlarm"],
                PaginationConfig={"PageSize": DESCRIBE_BATCH},
            ):
                found.extend(_definition(a) for a in page.get("MetricAlarms", []))
    except ClientError as exc:
        raise_translated(exc, "DescribeAlarms")
    return found


def in_alarm(prefix: str, region: str | None = None, cloudwatch: Any | None = None) -> list[AlarmDefinition]:
    """Every metric alarm under ``prefix`` currently in ALARM (paginated)."""
    cw = cloudwatch or client("cloudwatch", region)
    found: list[AlarmDefinition] = []
    try:
        for page in cw.get_paginator("describe_alarms").paginate(
            AlarmNamePrefix=prefix, StateValue="ALARM", AlarmTypes=["MetricAlarm"]
        ):
            # moto 5.2.5 ignores StateValue when AlarmNamePrefix is given; CloudWatch does not
            found.extend(_definition(a) for a in page.get("MetricAlarms", []) if a["StateValue"] == "ALARM")
    except ClientError as exc:
        raise_translated(exc, "DescribeAlarms")
    return found


def tags_of(alarm_arn: str, region: str | None = None, cloudwatch: Any | None = None) -> dict[str, str]:
    """An alarm's tags (one ListTagsForResource call): what its events carry only when the alarm
    has tag propagation on. An alarm deleted since its event has none."""
    cw = cloudwatch or client("cloudwatch", region)
    try:
        tags = cw.list_tags_for_resource(ResourceARN=alarm_arn).get("Tags", [])
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return {}
        raise_translated(exc, "ListTagsForResource")
    return {t["Key"]: t["Value"] for t in tags}
