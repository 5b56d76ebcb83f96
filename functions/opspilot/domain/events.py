"""The CloudWatch alarm events EventBridge delivers, as AWS documents them.

Two detail-types reach the workflow (``template.yaml``'s rule): "CloudWatch Alarm State Change"
(every kind of alarm: one metric, metric math, anomaly band, composite, Metrics Insights) and
"CloudWatch Alarm Contributor State Change" (one time series of a Metrics Insights alarm, named
by ``alarmContributor``). The fields are those of AWS's examples
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-and-eventbridge.html,
copied in ``../shared/aws-reference/cloudwatch-alarm-events.json``):

- ``state.actionsSuppressedBy`` / ``actionsSuppressedReason``: a composite alarm whose actions its
  suppressor alarm holds back (``WaitPeriod``, ``ExtensionPeriod`` or ``Alarm``);
  ``configuration.actionsSuppressor`` names that alarm.
- ``muteDetail``: the alarm is muted by an alarm mute rule (``mutedByArn``) for a window.
- ``alarmTags`` / ``alarmTagsStatus``: present only when the alarm has tag propagation on
  (PutMetricAlarm ``ActionConfiguration.AlarmTagsPropagation``). ``alarm_tags`` is None when the
  event carries none: then the alarm's tags must be read (ListTagsForResource).
- Metrics Insights: ``configuration.metrics[]`` holds one query (``expression`` ``SELECT ...``,
  ``period``), no ``metricStat``; a contributor event has no ``previousState`` and no
  ``reasonData``.

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
CONTRIBUTOR_EVENT_DETAIL_TYPE = "CloudWatch Alarm Contributor State Change"
# Not a state change: the rule does not match it, and Classify refuses it.
CONFIGURATION_EVENT_DETAIL_TYPE = "CloudWatch Alarm Configuration Change"
STATE_CHANGE_DETAIL_TYPES = (ALARM_EVENT_DETAIL_TYPE, CONTRIBUTOR_EVENT_DETAIL_TYPE)


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
    period: int | None = None  # a Metrics Insights query's period (it has no metricStat)


class AlarmConfiguration(Record, extra="ignore"):
    description: str | None = None
    metrics: list[AlarmMetric] = Field(default_factory=list)
    threshold_metric_id: str | None = Field(None, alias="thresholdMetricId")
    alarm_rule: str | None = Field(None, alias="alarmRule")  # set for composite alarms
    actions_suppressor: str | None = Field(None, alias="actionsSuppressor")  # composite alarms


class AlarmState(Record, extra="ignore"):
    value: str
    reason: str = ""
    reason_data: str | None = Field(None, alias="reasonData")  # JSON text, when present
    timestamp: str
    actions_suppressed_by: str | None = Field(None, alias="actionsSuppressedBy")
    actions_suppressed_reason: str | None = Field(None, alias="actionsSuppressedReason")


class MuteDetail(Record, extra="ignore"):
    muted_by_arn: str = Field(alias="mutedByArn")
    mute_window_start: str | None = Field(None, alias="muteWindowStart")
    mute_window_end: str | None = Field(None, alias="muteWindowEnd")

    @property
    def rule_name(self) -> str:
        """The mute rule's name: the last part of ``arn:...:alarm-mute-rule:<name>``."""
        return self.muted_by_arn.rsplit(":", 1)[-1]


class AlarmContributor(Record, extra="ignore"):
    id: str
    attributes: dict[str, str] = Field(default_factory=dict)


class AlarmDetail(Record, extra="ignore"):
    alarm_name: str = Field(alias="alarmName")
    state: AlarmState
    previous_state: AlarmState | None = Field(None, alias="previousState")
    configuration: AlarmConfiguration = Field(default_factory=AlarmConfiguration)
    alarm_tags: dict[str, str] | None = Field(None, alias="alarmTags")
    alarm_tags_status: str | None = Field(None, alias="alarmTagsStatus")
    mute_detail: MuteDetail | None = Field(None, alias="muteDetail")
    alarm_contributor: AlarmContributor | None = Field(None, alias="alarmContributor")


class AlarmStateChangeEvent(Record, extra="ignore"):
    id: str
    detail_type: str = Field(alias="detail-type")
    source: str
    account: str
    time: str
    region: str
    resources: list[str] = Field(default_factory=list)
    detail: AlarmDetail

    @property
    def is_composite(self) -> bool:
        return self.detail.configuration.alarm_rule is not None

    @property
    def is_contributor(self) -> bool:
        """One time series (contributor) of a Metrics Insights alarm changed state."""
        return self.detail_type == CONTRIBUTOR_EVENT_DETAIL_TYPE

    @property
    def alarm_arn(self) -> str:
        """The alarm's ARN: the event's only resource (built from the envelope if absent)."""
        if self.resources:
            return self.resources[0]
        return f"arn:aws:cloudwatch:{self.region}:{self.account}:alarm:{self.detail.alarm_name}"

    @property
    def tags(self) -> dict[str, str]:
        """The tags the event carries (none without tag propagation)."""
        return dict(self.detail.alarm_tags or {})


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
    if event.detail_type not in STATE_CHANGE_DETAIL_TYPES:
        expected = "' or '".join(STATE_CHANGE_DETAIL_TYPES)
        raise InvalidAlarmEvent(f"field 'detail-type': expected '{expected}', got '{event.detail_type}'")
    if event.is_contributor and event.detail.alarm_contributor is None:
        raise InvalidAlarmEvent("field 'detail.alarmContributor': is required in a contributor state change")
    if event.detail.state.value not in {"ALARM", "OK", "INSUFFICIENT_DATA"}:
        raise InvalidAlarmEvent(
            f"field 'detail.state.value': unknown alarm state '{event.detail.state.value}'"
        )
    return event
