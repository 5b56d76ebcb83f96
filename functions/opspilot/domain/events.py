"""The CloudWatch "Alarm State Change" event as EventBridge delivers it.

Only the fields OpsPilot reads are modelled; AWS may add others (``extra="ignore"``). A malformed
event raises :class:`InvalidAlarmEvent` whose message names the offending field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field

from opspilot.domain.base import Record, RecordError
from opspilot.domain.errors import InvalidAlarmEvent

ALARM_EVENT_SOURCE = "aws.cloudwatch"
ALARM_EVENT_DETAIL_TYPE = "CloudWatch Alarm State Change"


class MetricSpec(Record, extra="ignore"):
    namespace: str
    name: str
    dimensions: dict[str, str] = Field(default_factory=dict)


class MetricStat(Record, extra="ignore"):
    metric: MetricSpec
    period: int
    stat: str


class AlarmMetric(Record, extra="ignore"):
    id: str
    metric_stat: MetricStat | None = Field(None, alias="metricStat")
    expression: str | None = None
    return_data: bool | None = Field(None, alias="returnData")


class AlarmConfiguration(Record, extra="ignore"):
    description: str | None = None
    metrics: list[AlarmMetric] = Field(default_factory=list)
    threshold_metric_id: str | None = Field(None, alias="thresholdMetricId")
    alarm_rule: str | None = Field(None, alias="alarmRule")  # set for composite alarms


class AlarmState(Record, extra="ignore"):
    value: str
    reason: str = ""
    reason_data: str | None = Field(None, alias="reasonData")  # JSON text, when present
    timestamp: str


class AlarmDetail(Record, extra="ignore"):
    alarm_name: str = Field(alias="alarmName")
    state: AlarmState
    previous_state: AlarmState | None = Field(None, alias="previousState")
    configuration: AlarmConfiguration = Field(default_factory=AlarmConfiguration)
    alarm_tags: dict[str, str] = Field(default_factory=dict, alias="alarmTags")


class AlarmStateChangeEvent(Record, extra="ignore"):
    id: str
    detail_type: str = Field(alias="detail-type")
    source: str
    account: str
    time: str
    region: str
    detail: AlarmDetail

    @property
    def is_composite(self) -> bool:
        return self.detail.configuration.alarm_rule is not None


def parse_alarm_event(raw: Any) -> AlarmStateChangeEvent:
    """Validate an EventBridge envelope; the error names the first bad field by its JSON path."""
    if not isinstance(raw, Mapping):
        raise InvalidAlarmEvent(f"field '<event>': must be an object, got {type(raw).__name__}")
    try:
        event = AlarmStateChangeEvent.parse(raw)
    except RecordError as exc:
        raise InvalidAlarmEvent(str(exc)) from exc
    if event.source != ALARM_EVENT_SOURCE:
        raise InvalidAlarmEvent(f"field 'source': expected '{ALARM_EVENT_SOURCE}', got '{event.source}'")
    if event.detail_type != ALARM_EVENT_DETAIL_TYPE:
        raise InvalidAlarmEvent(
            f"field 'detail-type': expected '{ALARM_EVENT_DETAIL_TYPE}', got '{event.detail_type}'"
        )
    if event.detail.state.value not in {"ALARM", "OK", "INSUFFICIENT_DATA"}:
        raise InvalidAlarmEvent(
            f"field 'detail.state.value': unknown alarm state '{event.detail.state.value}'"
        )
    return event
