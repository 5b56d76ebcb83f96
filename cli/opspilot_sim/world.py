"""Seed the offline AWS world from a scenario: metric history and alarms in moto's CloudWatch,
quotas, quota requests and support cases in the simulated Service Quotas and Support."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from opspilot.domain.quotas import metric_model_id
from opspilot_sim.catalog import load_catalog
from opspilot_sim.fake_aws import SimulatedAws

BEDROCK = "AWS/Bedrock"


def usage_points(usage: dict[str, Any], end: datetime) -> dict[str, list[tuple[datetime, float]]]:
    """Per-minute Sums, sampled every ``sample_every_minutes``: a daily curve from the steady rate
    up to the peak at 14:00 UTC, growing by ``growth_percent_per_day``."""
    days = int(usage.get("days", 14))
    every = int(usage.get("sample_every_minutes", 15))
    steady, peak = float(usage["rpm_steady"]), float(usage["rpm_peak"])
    growth = float(usage.get("growth_percent_per_day", 0)) / 100
    tin, tout = (
        float(usage.get("input_tokens_per_request", 800)),
        float(usage.get("output_tokens_per_request", 200)),
    )
    factor = usage.get("estimated_tpm_output_factor")
    latency = float(usage.get("latency_ms", 900))
    rates = {
        "InvocationServerErrors": float(usage.get("server_errors_per_minute", 0)),
        "InvocationClientErrors": float(usage.get("client_errors_per_minute", 0)),
        "InvocationThrottles": float(usage.get("throttles_per_minute", 0)),
    }
    start = (end - timedelta(days=days)).replace(second=0, microsecond=0)
    series: dict[str, list[tuple[datetime, float]]] = {}
    t = start + timedelta(minutes=every)
    while t < end - timedelta(minutes=1):
        day = (t - start).total_seconds() / 86400
        scale = (1 + growth) ** (day - days)
        hour = t.hour + t.minute / 60
        shape = max(0.0, math.cos(2 * math.pi * (hour - 14) / 24)) ** 8
        rpm = round((steady + (peak - steady) * shape) * scale)
        points = {
            "Invocations": rpm,
            "InputTokenCount": rpm * tin,
            "OutputTokenCount": rpm * tout,
            **{name: rate for name, rate in rates.items() if rate > 0},
        }
        if factor is not None:
            points["EstimatedTPMQuotaUsage"] = rpm * (tin + tout * float(factor))
        if rpm > 0:
            points["InvocationLatency"] = round(latency * (1 + 0.5 * shape), 1)
        for name, value in points.items():
            series.setdefault(name, []).append((t, float(value)))
        t += timedelta(minutes=every)
    return series


def seed(scenario: dict[str, Any], world: SimulatedAws, region: str, now: datetime | None = None) -> None:
    end = now or datetime.now(UTC)
    cw = boto3.client("cloudwatch", region_name=region)
    for model in scenario.get("models", []):
        if "usage" not in model:
            continue
        for name, points in usage_points(model["usage"], end).items():
            data: list[Any] = [
                {
                    "MetricName": name,
                    "Dimensions": [{"Name": "ModelId", "Value": metric_model_id(model["model_id"])}],
                    "Timestamp": ts,
                    "Value": value,
                    "Unit": "Count",
                }
                for ts, value in points
            ]
            for i in range(0, len(data), 1000):
                cw.put_metric_data(Namespace=BEDROCK, MetricData=data[i : i + 1000])
    for alarm in scenario.get("alarms", []):
        cw.put_metric_alarm(**alarm_definition(alarm))
        if alarm.get("state", "OK") != "OK":
            cw.set_alarm_state(
                AlarmName=alarm["name"],
                StateValue=alarm["state"],
                StateReason="in this state when the scenario starts",
            )
    for decision in scenario.get("quota_decisions", []):
        world.decide_after(decision["code"], decision["status"], decision.get("after_checks", 1))
    for profile in scenario.get("inference_profiles", []):
        world.inference_profiles.add(
            region, profile["id"], profile.get("name", profile["id"]), profile["models"]
        )
    seed_bedrock(scenario, world, region)
    for request in scenario.get("quota_requests", []):
        world.add_quota_request(region, request["code"], request["desired"], request.get("status", "PENDING"))
    support = scenario.get("support", {})
    world.support_plan = support.get("plan", "business")
    for case in support.get("cases", []):
        world.add_case(case["subject"], case.get("status", "opened"), case.get("severity", "normal"))


def seed_bedrock(scenario: dict[str, Any], world: SimulatedAws, region: str) -> None:
    """The account's Bedrock as the shared catalog describes it: every quota listed with its AWS
    name and code (value: the catalog's default for the Region, where known), every model's
    GetFoundationModel answer; then the scenario's own quota values on top."""
    overrides = {q["code"]: q for q in scenario.get("quotas", [])}
    if scenario.get("bedrock_catalog", True):
        catalog = load_catalog()
        for quota in catalog.quotas.values():
            if quota.code in overrides:
                continue
            adjustable = quota.adjustable if quota.adjustable is not None else True
            world.add_quota(
                region, quota.code, quota.name, catalog.default_value(quota.code, region), None, adjustable
            )
        for model in catalog.models.values():
            world.foundation_models.add(
                region, model.model_id, model.provider_name, model.model_name, list(model.inference_types)
            )
    else:
        catalog = None
    for code, quota in overrides.items():
        known = catalog.quota(code) if catalog else None
        name = quota.get("name") or (known.name if known else code)
        value = (
            quota["value"] if "value" in quota else (catalog.default_value(code, region) if catalog else None)
        )
        adjustable = quota.get(
            "adjustable", known.adjustable if known and known.adjustable is not None else True
        )
        world.add_quota(region, code, name, value, quota.get("default"), adjustable)
    for model in scenario.get("models", []):
        if model.get("model_name") or model.get("provider_name"):
            world.foundation_models.add(
                region, model["model_id"], model.get("provider_name"), model.get("model_name")
            )


def alarm_definition(alarm: dict[str, Any]) -> dict[str, Any]:
    """PutMetricAlarm parameters for a scenario alarm (static threshold or anomaly band)."""
    metric = {
        "Namespace": alarm.get("namespace", BEDROCK),
        "MetricName": alarm["metric"],
        "Dimensions": [{"Name": "ModelId", "Value": metric_model_id(alarm["model_id"])}],
    }
    common: dict[str, Any] = {
        "AlarmName": alarm["name"],
        "EvaluationPeriods": 3,
        "DatapointsToAlarm": 2,
        "TreatMissingData": "notBreaching",
        "Tags": [{"Key": k, "Value": v} for k, v in alarm.get("tags", {}).items()],
    }
    if alarm.get("tag_propagation"):
        common["ActionConfiguration"] = {"AlarmTagsPropagation": {"Enabled": True}}
    if alarm.get("sum_of"):
        series: list[dict[str, Any]] = [
            {
                "Id": f"m{i}",
                "MetricStat": {
                    "Metric": {
                        **metric,
                        "Dimensions": [{"Name": "ModelId", "Value": metric_model_id(model)}],
                    },
                    "Period": alarm.get("period", 60),
                    "Stat": alarm.get("stat", "Sum"),
                },
                "ReturnData": False,
            }
            for i, model in enumerate(alarm["sum_of"], start=1)
        ]
        total = " + ".join(s["Id"] for s in series)
        return {
            **common,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "Threshold": float(alarm.get("threshold", 1)),
            "Metrics": [*series, {"Id": "e1", "Expression": total, "Label": "sum", "ReturnData": True}],
        }
    if alarm.get("anomaly"):
        return {
            **common,
            "ComparisonOperator": "GreaterThanUpperThreshold",
            "ThresholdMetricId": "ad1",
            "Metrics": [
                {
                    "Id": "m1",
                    "MetricStat": {
                        "Metric": metric,
                        "Period": alarm.get("period", 60),
                        "Stat": alarm.get("stat", "Sum"),
                    },
                    "ReturnData": True,
                },
                {"Id": "ad1", "Expression": "ANOMALY_DETECTION_BAND(m1, 2)", "ReturnData": True},
            ],
        }
    return {
        **common,
        **metric,
        "Statistic": alarm.get("stat", "Sum"),
        "Period": alarm.get("period", 60),
        "Threshold": float(alarm.get("threshold", 1)),
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
    }


def alarm_event(
    alarm: dict[str, Any],
    state: str,
    previous: str,
    reason: str,
    event_id: str,
    region: str,
    account: str,
    at: datetime,
    datapoints: list[float] | None = None,
) -> dict[str, Any]:
    """The EventBridge event CloudWatch sends for this alarm's state change."""
    stat = {
        "metric": {
            "namespace": alarm.get("namespace", BEDROCK),
            "name": alarm["metric"],
            "dimensions": {"ModelId": metric_model_id(alarm["model_id"])},
        },
        "period": alarm.get("period", 60),
        "stat": alarm.get("stat", "Sum"),
    }
    metrics: list[dict[str, Any]] = [{"id": "m1", "metricStat": stat, "returnData": True}]
    if alarm.get("sum_of"):
        metrics = [
            {
                "id": f"m{i}",
                "metricStat": {
                    **stat,
                    "metric": {**stat["metric"], "dimensions": {"ModelId": metric_model_id(model)}},
                },
                "returnData": False,
            }
            for i, model in enumerate(alarm["sum_of"], start=1)
        ]
        total = " + ".join(m["id"] for m in metrics)
        metrics.append({"id": "e1", "expression": total, "label": "sum", "returnData": True})
    if alarm.get("anomaly"):
        metrics.append(
            {"id": "ad1", "expression": "ANOMALY_DETECTION_BAND(m1, 2)", "label": "band", "returnData": True}
        )
    data = reason_data(
        at, alarm.get("stat", "Sum"), alarm.get("period", 60), datapoints, alarm.get("threshold", 1)
    )
    configuration = {"description": f"{alarm['metric']} on {alarm['model_id']}", "metrics": metrics}
    arn = f"arn:aws:cloudwatch:{region}:{account}:alarm:{alarm['name']}"
    return state_change_event(
        alarm["name"],
        arn,
        state,
        previous,
        reason,
        data,
        configuration,
        dict(alarm.get("tags") or {}) if alarm.get("tag_propagation") else None,
        event_id,
        at,
    )


def event_stamp(at: datetime) -> str:
    """A time as CloudWatch writes it in alarm events (``2026-11-30T10:00:00.000+0000``)."""
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}+0000"


def reason_data(
    at: datetime, statistic: str | None, period: int, datapoints: list[float] | None, threshold: float | None
) -> str:
    """The state's ``reasonData`` JSON text, as CloudWatch writes it for a threshold alarm;
    ``threshold`` is None for an alarm whose threshold is a metric (an anomaly band)."""
    data: dict[str, Any] = {
        "version": "1.0",
        "queryDate": event_stamp(at),
        "statistic": statistic,
        "period": period,
        "recentDatapoints": list(datapoints or []),
    }
    if threshold is not None:
        data["threshold"] = float(threshold)
    return json.dumps(data)


def state_change_event(
    name: str,
    arn: str,
    state: str,
    previous: str,
    reason: str,
    reason_data: str,
    configuration: dict[str, Any],
    tags: dict[str, str] | None,
    event_id: str,
    at: datetime,
) -> dict[str, Any]:
    """The "CloudWatch Alarm State Change" EventBridge envelope, as CloudWatch sends it.
    ``tags``: the alarm's tags when it has tag propagation on (``alarmTags`` and
    ``alarmTagsStatus``); None when it has not, and the event carries no tags."""
    stamp = event_stamp(at)
    region, account = arn.split(":")[3], arn.split(":")[4]
    detail: dict[str, Any] = {
        "alarmName": name,
        "state": {"value": state, "reason": reason, "timestamp": stamp, "reasonData": reason_data},
        "previousState": {"value": previous, "reason": "", "timestamp": stamp},
        "configuration": configuration,
    }
    if tags is not None:
        detail["alarmTags"] = dict(tags)
        detail["alarmTagsStatus"] = "SUCCESS"  # the tags were retrieved (alarm-tags-in-notifications)
    return {
        "version": "0",
        "id": event_id,
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "account": account,
        "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [arn],
        "detail": detail,
    }
