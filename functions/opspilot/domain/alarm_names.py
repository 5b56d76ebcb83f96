"""The alarm kinds OpsPilot provisions per model, their documented defaults, and the alarm names.

Read by the registry's validation (a name must fit CloudWatch's limit) and by
:mod:`opspilot.domain.model_alarms` (the definitions); it imports neither. Pure: no boto3.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from opspilot.domain.quotas import APPLICATION_PROFILE_ARN

MAX_ALARM_NAME = 255


@dataclass(frozen=True)
class AlarmDefaults:
    """One alarm kind's documented defaults (docs/models.md shows this table)."""

    metric: str
    statistic: str
    threshold: float | None  # None: computed from a quota (pressure) or a band (anomaly)
    evaluation_periods: int
    datapoints_to_alarm: int
    summary: str
    quota_kind: str | None = None  # "rpm", "tpm" or "tpd" for the pressure alarms
    band_width: float | None = None  # anomaly alarms: standard deviations of the band
    treat_missing_data: str = "notBreaching"  # Bedrock publishes nothing in a minute without calls
    # The environments whose models get this alarm unless their entry says otherwise (None: all).
    # Anomaly bands are the only ones limited: each needs an anomaly detection model, 500 per
    # account and Region, and costs three alarm metrics (docs/models.md#alarm-designs-cost-and-limits).
    default_environments: tuple[str, ...] | None = None
    period: int = 60  # seconds; the daily-token alarm sums a day (Period x EvaluationPeriods <= 7 days)


DEFAULTS: dict[str, AlarmDefaults] = {
    "server-errors": AlarmDefaults("InvocationServerErrors", "Sum", 5, 5, 3, "server errors per minute"),
    "client-errors": AlarmDefaults("InvocationClientErrors", "Sum", 20, 5, 3, "client errors per minute"),
    "throttles": AlarmDefaults("InvocationThrottles", "Sum", 1, 3, 2, "throttled requests per minute"),
    "rpm-pressure": AlarmDefaults(
        "Invocations", "Sum", None, 5, 3, "requests per minute against the RPM quota", quota_kind="rpm"
    ),
    "tpm-pressure": AlarmDefaults(
        "EstimatedTPMQuotaUsage",
        "Sum",
        None,
        5,
        3,
        "quota tokens per minute against the TPM quota",
        quota_kind="tpm",
    ),
    "tpd-pressure": AlarmDefaults(
        "EstimatedTPMQuotaUsage",
        "Sum",
        None,
        1,
        1,
        "quota tokens per day against the daily token quota",
        quota_kind="tpd",
        period=86_400,
    ),
    "latency": AlarmDefaults("InvocationLatency", "p90", 10_000, 10, 5, "p90 latency (ms)"),
    "invocations-anomaly": AlarmDefaults(
        "Invocations",
        "Sum",
        None,
        15,
        10,
        "requests per minute above the expected band",
        band_width=2,
        default_environments=("production",),
    ),
    "input-tokens-anomaly": AlarmDefaults(
        "InputTokenCount",
        "Sum",
        None,
        15,
        10,
        "input tokens per minute above the expected band",
        band_width=2,
        default_environments=(),
    ),
    "output-tokens-anomaly": AlarmDefaults(
        "OutputTokenCount",
        "Sum",
        None,
        15,
        10,
        "output tokens per minute above the expected band",
        band_width=2,
        default_environments=(),
    ),
    "latency-anomaly": AlarmDefaults(
        "InvocationLatency",
        "Average",
        None,
        15,
        10,
        "average latency above the expected band",
        band_width=2,
        default_environments=(),
    ),
}
KINDS = tuple(DEFAULTS)
PRESSURE = {"rpm-pressure": "rpm", "tpm-pressure": "tpm", "tpd-pressure": "tpd"}
ANOMALY = frozenset(k for k, d in DEFAULTS.items() if d.band_width is not None)
# A model's per-minute token quota must be found; RPM and daily quotas are watched only where
# Service Quotas lists one for the model (AWS no longer lists RPM for every model).
OPTIONAL_QUOTA_KINDS = frozenset({"rpm", "tpd"})


def model_slug(model_id: str) -> str:
    """The model's part of its alarm names: ``us.anthropic.claude-3-7-sonnet-20250219-v1:0`` ->
    ``us-anthropic-claude-3-7-sonnet-20250219-v1-0``; an application profile ARN -> ``aip-<id>``."""
    match = APPLICATION_PROFILE_ARN.match(model_id)
    if match:
        return f"aip-{match.group(3)}"
    return re.sub(r"[^a-z0-9]+", "-", model_id.lower()).strip("-")


def alarm_name(prefix: str, model_id: str, kind: str) -> str:
    return f"{prefix}{model_slug(model_id)}-{kind}"


def name_problem(prefix: str, model_id: str) -> str | None:
    longest = max((alarm_name(prefix, model_id, kind) for kind in KINDS), key=len)
    if len(longest) > MAX_ALARM_NAME:
        return f"alarm names would be {len(longest)} characters; CloudWatch allows {MAX_ALARM_NAME}"
    return None
