"""Scenarios that start from a model registry: write it, let the real sync provision the alarms,
then let the scenario's events fire them.

The entries are validated and written as ``opspilot models add`` would. DynamoDB Streams are not
simulated: the records the registry table's stream would carry (``KEYS_ONLY``) are built from the
writes, matched against the ``FilterCriteria`` of the stream's event source mapping
(``SyncAlarmsFunctionRegistryChange`` in ``template.yaml``), and delivered in one Lambda invoke,
which the moto shim runs through the real handler (``opspilot.handlers.sync_alarms``). The alarms
it wrote are then read back from CloudWatch (DescribeAlarms, ListTagsForResource), and an event
for one of them carries exactly what CloudWatch holds: its metrics and its tags.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3

from opspilot.adapters.registry import ENTRY, REGISTRY_PK, RegistryStore
from opspilot.domain.model_alarms import propagates_tags
from opspilot_sim.eventpattern import matches
from opspilot_sim.scenario import entries_of, provisioned_names
from opspilot_sim.stack import ACCOUNT_ID, SimulatedStack
from opspilot_sim.template import PROJECT_ROOT, load_template, substitute_definition
from opspilot_sim.world import reason_data, state_change_event

SYNC_FUNCTION = "SyncAlarmsFunction"


@dataclass
class Provisioning:
    """What the sync did for the scenario's registry, and the alarms it left in CloudWatch."""

    models: list[str]
    report: dict[str, Any]
    calls: dict[str, int]
    alarms: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> event source

    def as_report(self) -> dict[str, Any]:
        return {
            "models": self.models,
            "sync": {k: v for k, v in self.report.items() if k not in {"changes"}},
            "api_calls": self.calls,
            "alarms": [
                {
                    "name": name,
                    "threshold": spec["described"].get("Threshold"),
                    "kind": spec["tags"].get("opspilot:alarm"),
                }
                for name, spec in sorted(self.alarms.items())
            ],
        }


def _filters() -> list[dict[str, Any]]:
    mapping = load_template()["Resources"][f"{SYNC_FUNCTION}RegistryChange"]  # the stream's mapping
    criteria = mapping["Properties"].get("FilterCriteria", {})
    return [json.loads(f["Pattern"]) for f in criteria.get("Filters", [])]


def stream_records(
    stack: SimulatedStack, model_ids: list[str], event_name: str = "INSERT"
) -> list[dict[str, Any]]:
    """The KEYS_ONLY records the registry table's stream carries for these entry writes, after the
    event source mapping's filter."""
    arn = f"arn:aws:dynamodb:{stack.region}:123456789012:table/{stack.registry_table_name}/stream/offline"
    records = [
        {
            "eventID": uuid.uuid4().hex,
            "eventName": event_name,
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": stack.region,
            "dynamodb": {
                "ApproximateCreationDateTime": int(datetime.now(UTC).timestamp()),
                "Keys": {"pk": {"S": REGISTRY_PK}, "sk": {"S": ENTRY + model_id}},
                "SequenceNumber": str(100000000000000000000 + i),
                "SizeBytes": 120,
                "StreamViewType": "KEYS_ONLY",
            },
            "eventSourceARN": arn,
        }
        for i, model_id in enumerate(model_ids)
    ]
    filters = _filters()
    return [r for r in records if not filters or any(matches(f, r) for f in filters)]


def provision(scenario: dict[str, Any], stack: SimulatedStack, world: Any) -> Provisioning:
    """Write the registry, deliver the stream batch to the real sync, read back its alarms."""
    entries = entries_of(scenario)
    store = RegistryStore(stack.registry_table_name)
    now = datetime.now(UTC)
    for entry in entries:
        store.put_entry(entry, expected_version=None, by="scenario", now=now)
    before = len(world.calls)
    lam = boto3.client("lambda", region_name=stack.region)
    payload = {"Records": stream_records(stack, [e.model_id for e in entries])}
    response = lam.invoke(
        FunctionName=stack.function_by_logical_id[SYNC_FUNCTION], Payload=json.dumps(payload)
    )
    result = json.loads(response["Payload"].read())
    if response.get("FunctionError"):
        raise RuntimeError(f"{SYNC_FUNCTION} failed: {result.get('errorType')}: {result.get('errorMessage')}")
    calls = Counter(
        f"{c.service}:{c.operation}"
        for c in world.calls[before:]
        if (c.service, c.operation) != ("lambda", "Invoke")
    )
    cw = boto3.client("cloudwatch", region_name=stack.region)
    names = sorted(provisioned_names(scenario))
    alarms: dict[str, dict[str, Any]] = {}
    for i in range(0, len(names), 100):
        for alarm in cw.describe_alarms(AlarmNames=names[i : i + 100], MaxRecords=100)["MetricAlarms"]:
            tags = cw.list_tags_for_resource(ResourceARN=alarm["AlarmArn"])["Tags"]
            alarms[alarm["AlarmName"]] = {
                "name": alarm["AlarmName"],
                "provisioned": True,
                "described": alarm,
                "tags": {t["Key"]: t["Value"] for t in tags},
            }
    for i, event in enumerate(scenario["events"]):
        if event.get("alarm") in set(names) - set(alarms):
            raise RuntimeError(
                f"events[{i}].alarm: the sync did not provision {event['alarm']!r} "
                f"(problems: {result.get('problems') or 'none'}; pending: {result.get('pending') or 'none'})"
            )
    return Provisioning([e.model_id for e in entries], result, dict(sorted(calls.items())), alarms)


def _metrics(described: dict[str, Any]) -> list[dict[str, Any]]:
    """The event's ``configuration.metrics``, from the alarm's definition."""
    if described.get("Metrics"):
        out = []
        for query in described["Metrics"]:
            item: dict[str, Any] = {"id": query["Id"], "returnData": bool(query.get("ReturnData", True))}
            if "MetricStat" in query:
                stat = query["MetricStat"]
                item["metricStat"] = {
                    "metric": {
                        "namespace": stat["Metric"]["Namespace"],
                        "name": stat["Metric"]["MetricName"],
                        "dimensions": {d["Name"]: d["Value"] for d in stat["Metric"].get("Dimensions", [])},
                    },
                    "period": stat["Period"],
                    "stat": stat["Stat"],
                }
            if "Expression" in query:
                item["expression"] = query["Expression"]
                item["label"] = query.get("Label", query["Id"])
            out.append(item)
        return out
    return [
        {
            "id": "m1",
            "metricStat": {
                "metric": {
                    "namespace": described["Namespace"],
                    "name": described["MetricName"],
                    "dimensions": {d["Name"]: d["Value"] for d in described.get("Dimensions", [])},
                },
                "period": described["Period"],
                "stat": described.get("Statistic") or described.get("ExtendedStatistic"),
            },
            "returnData": True,
        }
    ]


def provisioned_alarm_event(
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
    """The EventBridge event CloudWatch sends when a provisioned alarm changes state."""
    described = alarm["described"]
    metrics = _metrics(described)
    first: dict[str, Any] = next((m["metricStat"] for m in metrics if "metricStat" in m), {})
    threshold = None if described.get("ThresholdMetricId") else described.get("Threshold")
    data = reason_data(at, first.get("stat"), first.get("period", 60), datapoints, threshold)
    configuration: dict[str, Any] = {"description": described.get("AlarmDescription", ""), "metrics": metrics}
    if described.get("ThresholdMetricId"):
        configuration["thresholdMetricId"] = described["ThresholdMetricId"]
    return state_change_event(
        alarm["name"],
        described["AlarmArn"],
        state,
        previous,
        reason,
        data,
        configuration,
        alarm["tags"] if propagates_tags(described) else None,
        event_id,
        at,
    )


def render(provisioning: dict[str, Any]) -> list[str]:
    """Text report lines for a registry-provisioned scenario."""
    sync = provisioning["sync"]
    calls = ", ".join(f"{k.split(':', 1)[1]} {v}" for k, v in provisioning["api_calls"].items())
    models = len(provisioning["models"])
    lines = [f"-- registry: {models} models; SyncAlarmsFunction created {sync['created']} alarms ({calls})"]
    for alarm in provisioning["alarms"]:
        if alarm["kind"] in {"rpm-pressure", "tpm-pressure"}:
            lines.append(f"   {alarm['name']}  threshold {alarm['threshold']:,.0f}/min")
    lines += [f"   problem: {p}" for p in sync.get("problems", [])]
    return lines


def deploy_sync_rounds(stack: SimulatedStack) -> str:
    """AlarmSyncStateMachine in moto, from the real ASL file with its DefinitionSubstitutions and
    the name ``template.yaml`` gives it (SyncAlarmsFunction's ``SYNC_STATE_MACHINE_ARN``)."""
    machine = load_template()["Resources"]["AlarmSyncStateMachine"]["Properties"]
    function = stack.function_by_logical_id[SYNC_FUNCTION]
    function_arn = f"arn:aws:lambda:{stack.region}:{ACCOUNT_ID}:function:{function}"
    definition = substitute_definition(
        (PROJECT_ROOT / machine["DefinitionUri"]).read_text(), {"SyncAlarmsFunctionArn": function_arn}
    )
    name = stack.environment["SYNC_STATE_MACHINE_ARN"].rsplit(":", 1)[1]
    sfn = boto3.client("stepfunctions", region_name=stack.region)
    created = sfn.create_state_machine(
        name=name,
        definition=definition,
        roleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/alarm-sync",
        type="STANDARD",
    )
    return str(created["stateMachineArn"])


def wait_for_execution(region: str, arn: str, seconds: float = 600.0) -> dict[str, Any]:
    """Wait (wall clock) until the execution ends; its DescribeExecution and its history events."""
    sfn = boto3.client("stepfunctions", region_name=region)
    deadline = time.monotonic() + seconds
    while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        if time.monotonic() > deadline:
            raise TimeoutError(f"{arn} still running after {seconds:g} s")
        time.sleep(0.05)
    events = [
        e
        for page in sfn.get_paginator("get_execution_history").paginate(executionArn=arn)
        for e in page["events"]
    ]
    return {"described": described, "events": events}
