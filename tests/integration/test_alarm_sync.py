"""The threshold sync end to end: the real handler against moto's CloudWatch and DynamoDB and the
simulated Service Quotas, asserting on the calls AWS received and the alarms it then holds."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from opspilot.adapters.registry import RegistryStore
from opspilot.domain.registry import validate_entry
from opspilot_sim import fake_aws
from opspilot_sim.moto_shim import LambdaContextStub
from opspilot_sim.moto_stack import deployed_stack
from opspilot_sim.registry_sim import stream_records
from opspilot_sim.stack import SimulatedStack

REGION = "us-east-1"
NOVA = "amazon.nova-pro-v1:0"
CLAUDE = "us.anthropic.claude-3-7-sonnet-20250219-v1:0"
PROFILE = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6"
NOVA_RPM, NOVA_TPM, CLAUDE_RPM, CLAUDE_TPM = "L-F2717A44", "L-CE33604C", "L-3D8CC480", "L-6E888CC2"
QUOTAS = [
    (NOVA_RPM, "On-demand model inference requests per minute for Amazon Nova Pro", 1000),
    (NOVA_TPM, "On-demand model inference tokens per minute for Amazon Nova Pro", 2_000_000),
    (CLAUDE_RPM, "Cross-region model inference requests per minute for Anthropic Claude 3.7 Sonnet V1", 500),
    (
        CLAUDE_TPM,
        "Cross-region model inference tokens per minute for Anthropic Claude 3.7 Sonnet V1",
        1_000_000,
    ),
]
NOVA_RPM_ALARM = "opspilot-amazon-nova-pro-v1-0-rpm-pressure"
STATE_CHANGES = ("PutMetricAlarm", "DeleteAlarms", "TagResource")


class Env:
    def __init__(self, world: fake_aws.SimulatedAws, stack: SimulatedStack) -> None:
        self.world, self.stack = world, stack
        self.store = RegistryStore(stack.registry_table_name)
        self.cw = boto3.client("cloudwatch", region_name=REGION)

    def register(self, model_id: str, **fields: Any) -> None:
        raw = {"model_id": model_id, "display_name": model_id, "environment": "production", "owner": "claims"}
        existing = self.store.get_entry(model_id)
        self.store.put_entry(
            validate_entry(raw | fields),
            expected_version=existing.version if existing else None,
            by="test",
            now=datetime.now(UTC),
        )

    def sync(self, event: dict[str, Any]) -> dict[str, Any]:
        from opspilot.handlers import sync_alarms

        return sync_alarms.handler(event, LambdaContextStub(function_name="SyncAlarmsFunction"))  # type: ignore[arg-type]

    def registry_changed(self, *model_ids: str, event_name: str = "INSERT") -> dict[str, Any]:
        return self.sync({"Records": stream_records(self.stack, list(model_ids), event_name)})

    def writes(self) -> Counter[str]:
        return Counter(c.operation for c in self.world.calls if c.operation in STATE_CHANGES)

    def alarms(self) -> dict[str, dict[str, Any]]:
        pages = self.cw.get_paginator("describe_alarms").paginate(AlarmNamePrefix="opspilot-")
        return {a["AlarmName"]: a for page in pages for a in page["MetricAlarms"]}

    def tags(self, name: str) -> dict[str, str]:
        arn = self.alarms()[name]["AlarmArn"]
        return {t["Key"]: t["Value"] for t in self.cw.list_tags_for_resource(ResourceARN=arn)["Tags"]}

    def notifications(self) -> list[dict[str, Any]]:
        sqs = boto3.client("sqs", region_name=REGION)
        messages = sqs.receive_message(QueueUrl=self.stack.inbox_queue_url, MaxNumberOfMessages=10)
        return [json.loads(m["Body"]) for m in messages.get("Messages", [])]


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The sync paces its writes to CloudWatch's rates; here the pauses are recorded, not slept
    (test_limits.py runs the same on a simulated clock with the rates enforced)."""
    from opspilot.handlers import sync_alarms

    waits: list[float] = []
    monkeypatch.setattr(sync_alarms, "sleep", waits.append)
    return waits


@pytest.fixture
def env() -> Iterator[Env]:
    from opspilot.adapters import aws as aws_clients
    from opspilot.handlers import _runtime, sync_alarms
    from opspilot.settings import core_settings, sync_settings

    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    world = fake_aws.SimulatedAws()
    for code, name, value in QUOTAS:
        world.add_quota(REGION, code, name, value)
    caches = [aws_clients.client, _runtime.store, core_settings, sync_settings, sync_alarms.registry]
    with mock_aws(), fake_aws.installed(world), deployed_stack(REGION, {}, caches) as stack:
        yield Env(world, stack)


@pytest.fixture
def provisioned(env: Env) -> Env:
    env.register(NOVA)
    env.register(CLAUDE, environment="pilot", owner="genai-platform", rpm_threshold_percent=70)
    env.registry_changed(NOVA, CLAUDE)
    env.world.clear_calls()
    return env


def test_provisioning_from_an_empty_account(env: Env) -> None:
    env.register(NOVA)
    env.register(CLAUDE, environment="pilot", owner="genai-platform", rpm_threshold_percent=70)
    report = env.registry_changed(NOVA, CLAUDE)

    # Nova (production): 6 alarms and the invocations band; Claude (pilot): the 6 without a band
    assert (report["created"], report["complete"], report["quota_lookup"]) == (13, True, "ok")
    assert env.writes() == {"PutMetricAlarm": 13}
    assert len(env.world.calls_to("service-quotas", "ListServiceQuotas")) == 1
    alarms = env.alarms()
    assert len(alarms) == 13
    assert alarms[NOVA_RPM_ALARM]["Threshold"] == 800
    assert alarms["opspilot-amazon-nova-pro-v1-0-tpm-pressure"]["Threshold"] == 1_600_000
    assert alarms["opspilot-us-anthropic-claude-3-7-sonnet-20250219-v1-0-rpm-pressure"]["Threshold"] == 350
    assert alarms["opspilot-amazon-nova-pro-v1-0-latency"]["ExtendedStatistic"] == "p90"
    band = alarms["opspilot-amazon-nova-pro-v1-0-invocations-anomaly"]
    assert (band["ComparisonOperator"], band["ThresholdMetricId"]) == ("GreaterThanUpperThreshold", "band")
    assert (
        env.tags("opspilot-us-anthropic-claude-3-7-sonnet-20250219-v1-0-throttles").items()
        >= {
            "opspilot:model-id": CLAUDE,
            "opspilot:environment": "pilot",
            "opspilot:owner": "genai-platform",
            "opspilot:alarm": "throttles",
        }.items()
    )
    (change,) = [c for c in env.store.changes_for(NOVA, 20) if c["alarm_name"] == NOVA_RPM_ALARM]
    assert (change["action"], change["old_threshold"], change["new_threshold"]) == ("create", None, 800)
    assert (change["quota_code"], change["quota_value"], change["percent"], change["reason"]) == (
        NOVA_RPM,
        1000,
        80,
        "registry_change",
    )
    assert env.store.last_runs(1)[0]["created"] == 13


def test_a_rerun_writes_nothing(provisioned: Env) -> None:
    report = provisioned.sync({"reason": "schedule"})
    assert provisioned.writes() == {}
    assert provisioned.world.calls_to("cloudwatch", "DescribeAlarms") == [], (
        "nothing changed: nothing to look at"
    )
    assert (report["described"], report["changes_total"]) == (0, 0)

    provisioned.sync({"reason": "reconcile", "full": True})
    assert provisioned.writes() == {}, "every alarm compared, none differs"
    describes = provisioned.world.calls_to("cloudwatch", "DescribeAlarms")
    assert [len(c.params["AlarmNames"]) for c in describes] == [13]


def test_a_raised_quota_raises_its_thresholds_and_nothing_else(provisioned: Env) -> None:
    alarm = provisioned.alarms()[NOVA_RPM_ALARM]
    hand_edit = {k: alarm[k] for k in ("AlarmName", "MetricName", "Namespace", "Statistic", "Dimensions")}
    hand_edit |= {k: alarm[k] for k in ("Period", "EvaluationPeriods", "Threshold", "ComparisonOperator")}
    topic = "arn:aws:sns:us-east-1:123456789012:pager"
    provisioned.cw.put_metric_alarm(**hand_edit, AlarmActions=[topic])  # someone adds a pager by hand
    request_id = provisioned.world.add_quota_request(REGION, NOVA_RPM, 1500, "PENDING")
    provisioned.world.set_request_status(request_id, "APPROVED")
    provisioned.world.clear_calls()

    report = provisioned.sync({"reason": "quota_increase", "quota_codes": [NOVA_RPM]})

    (put,) = provisioned.world.calls_to("cloudwatch", "PutMetricAlarm")
    assert put.params["AlarmName"] == NOVA_RPM_ALARM and put.params["Threshold"] == 1200
    assert put.params["AlarmActions"] == [topic], "read, then written back with only the threshold changed"
    assert provisioned.alarms()[NOVA_RPM_ALARM]["Threshold"] == 1200
    assert report["threshold_updates"] == 1
    change = provisioned.store.changes_for(NOVA, 1)[0]
    assert (change["old_threshold"], change["new_threshold"], change["quota_value"], change["reason"]) == (
        800,
        1200,
        1500,
        "quota_increase",
    )


def test_a_throttled_quota_lookup_loosens_nothing_and_is_reported(provisioned: Env) -> None:
    provisioned.world.add_quota(REGION, NOVA_RPM, QUOTAS[0][1], 5000)  # would loosen
    provisioned.world.add_quota(REGION, CLAUDE_RPM, QUOTAS[2][1], 100)  # would tighten
    provisioned.world.fail_next("service-quotas", "ListServiceQuotas", "ThrottlingException", times=3)
    provisioned.notifications()  # drop the subscription confirmation, if any

    report = provisioned.sync({"reason": "schedule"})

    assert provisioned.writes() == {}
    assert provisioned.alarms()[NOVA_RPM_ALARM]["Threshold"] == 800
    assert report["quota_lookup"].startswith("failed: ListServiceQuotas: ThrottlingException")
    assert len(report["kept"]) == 4 and NOVA_RPM_ALARM in report["kept"]
    (message,) = [n for n in provisioned.notifications() if "threshold sync" in n.get("Subject", "")]
    assert message["Subject"] == "[OpsPilot] alarm threshold sync: quota lookup failed"
    assert f"kept: {NOVA_RPM_ALARM}" in message["Message"]
    assert "(daily run) at " in message["Message"].splitlines()[0], message["Message"]
    assert provisioned.store.last_runs(1)[0]["quota_lookup"].startswith("failed")

    provisioned.sync({"reason": "schedule"})  # the next run, with Service Quotas back
    assert provisioned.alarms()[NOVA_RPM_ALARM]["Threshold"] == 4000


def test_a_model_added_while_quotas_are_throttled_gets_its_pressure_alarms_later(env: Env) -> None:
    env.register(NOVA)
    env.world.fail_next("service-quotas", "ListServiceQuotas", "ThrottlingException", times=3)
    report = env.registry_changed(NOVA)
    # the TPM alarm waits for its quota; whether an RPM or daily quota is listed is not known yet
    assert (report["created"], sorted(report["pending"])) == (
        5,
        ["opspilot-amazon-nova-pro-v1-0-tpm-pressure"],
    )
    report = env.sync({"reason": "schedule"})
    assert report["created"] == 2 and env.alarms()[NOVA_RPM_ALARM]["Threshold"] == 800


def test_a_removed_model_loses_its_alarms(provisioned: Env) -> None:
    provisioned.store.delete_entry(NOVA)
    report = provisioned.registry_changed(NOVA, event_name="REMOVE")

    (delete,) = provisioned.world.calls_to("cloudwatch", "DeleteAlarms")
    assert len(delete.params["AlarmNames"]) == 7 and report["deleted"] == 7
    assert not [name for name in provisioned.alarms() if "nova" in name]
    assert len(provisioned.alarms()) == 6, "the other model keeps its alarms"
    assert provisioned.store.get_state(NOVA) is None
    assert {c["action"] for c in provisioned.store.changes_for(NOVA, 7)} == {"delete"}


def test_an_owner_change_retags_the_models_alarms(provisioned: Env) -> None:
    provisioned.register(NOVA, owner="fraud-detection")
    provisioned.registry_changed(NOVA)
    assert provisioned.writes() == {"TagResource": 7, "PutMetricAlarm": 7}, "tags and descriptions"
    assert provisioned.tags(NOVA_RPM_ALARM)["opspilot:owner"] == "fraud-detection"
    assert provisioned.alarms()[NOVA_RPM_ALARM]["Threshold"] == 800


def test_application_profiles_share_the_quota_of_their_source_model(env: Env) -> None:
    env.register(CLAUDE)
    env.register(PROFILE, display_name="claims app", source_model_id=CLAUDE)
    env.registry_changed(CLAUDE, PROFILE)
    alarm = env.alarms()["opspilot-aip-a1b2c3d4e5f6-rpm-pressure"]
    expression = next(m for m in alarm["Metrics"] if "Expression" in m)
    series = [
        m["MetricStat"]["Metric"]["Dimensions"][0]["Value"] for m in alarm["Metrics"] if "MetricStat" in m
    ]
    assert (expression["Expression"], sorted(series), alarm["Threshold"]) == (
        "SUM([m0,m1])",
        sorted([CLAUDE, "a1b2c3d4e5f6"]),  # CloudWatch names the profile by its id, not its ARN
        400,
    )
    assert env.tags("opspilot-aip-a1b2c3d4e5f6-rpm-pressure")["opspilot:quota-model-id"] == CLAUDE


def test_describe_alarms_is_batched_by_100_names(env: Env) -> None:
    for i in range(12):
        env.register(f"amazon.bench-model-{i}-v1:0", quota_codes={"rpm": NOVA_RPM, "tpm": NOVA_TPM})
    env.sync({"reason": "reconcile", "full": True})
    sizes = [len(c.params["AlarmNames"]) for c in env.world.calls_to("cloudwatch", "DescribeAlarms")]
    assert sizes == [84], "12 production models: 7 alarms each"
    for i in range(12, 15):
        env.register(f"amazon.bench-model-{i}-v1:0", quota_codes={"rpm": NOVA_RPM, "tpm": NOVA_TPM})
    env.world.clear_calls()
    env.sync({"reason": "reconcile", "full": True})
    sizes = [len(c.params["AlarmNames"]) for c in env.world.calls_to("cloudwatch", "DescribeAlarms")]
    assert sizes == [100, 5]


def test_describe_follows_every_page_of_a_batch_each_page_paced() -> None:
    """DescribeAlarms answers a batch in pages when it has to: every page is read (names once),
    each request waiting its turn at 9 a second; a batch throttled beyond every retry is read
    again from its first page after the first backoff."""
    from opspilot.adapters.cloudwatch_alarms import BACKOFF_SECONDS, CloudWatchAlarms, Pacer

    cw = boto3.client("cloudwatch", region_name="us-east-1")
    request = {"AlarmNames": ["a", "b"], "AlarmTypes": ["MetricAlarm"], "MaxRecords": 100}
    first = ("describe_alarms", {"MetricAlarms": [{"AlarmName": "a"}], "NextToken": "t"}, request)
    waits: list[float] = []

    def sleep(seconds: float) -> None:  # the only thing that moves this clock
        waits.append(seconds)

    alarms = CloudWatchAlarms(cloudwatch=cw, pacer=Pacer(now=lambda: sum(waits), sleep=sleep))
    with Stubber(cw) as stub:
        stub.add_response(*first)
        stub.add_client_error("describe_alarms", "Throttling", "Rate exceeded", 400)
        stub.add_response(*first)
        stub.add_response(
            "describe_alarms", {"MetricAlarms": [{"AlarmName": "b"}]}, {**request, "NextToken": "t"}
        )
        assert sorted(alarms.describe(["a", "b", "a"])) == ["a", "b"]
        stub.assert_no_pending_responses()
    # page 2 waits 1/9 s after page 1; the backoff (1 s) leaves page 1's second read ready at once;
    # page 2 again waits 1/9 s after it
    assert waits == [pytest.approx(1 / 9), BACKOFF_SECONDS[0], pytest.approx(1 / 9)]
    assert alarms.throttled == 1


def test_classifications_describe_reads_every_page_of_a_batch() -> None:
    """Classify and Recover read alarms by name (adapters.alarm_state): a batch answered in two
    pages yields both pages' alarms."""
    from opspilot.adapters import alarm_state

    cw = boto3.client("cloudwatch", region_name="us-east-1")
    request = {"AlarmNames": ["a", "b"], "AlarmTypes": ["MetricAlarm"], "MaxRecords": 100}
    alarm = {"StateValue": "ALARM", "Namespace": "AWS/Bedrock", "MetricName": "Invocations"}
    with Stubber(cw) as stub:
        stub.add_response(
            "describe_alarms", {"MetricAlarms": [{"AlarmName": "a", **alarm}], "NextToken": "t"}, request
        )
        stub.add_response(
            "describe_alarms", {"MetricAlarms": [{"AlarmName": "b", **alarm}]}, {**request, "NextToken": "t"}
        )
        found = alarm_state.describe(["a", "b"], cloudwatch=cw)
        stub.assert_no_pending_responses()
    assert [d.name for d in found] == ["a", "b"]


def test_deleting_the_stack_deletes_every_alarm_it_owns(
    provisioned: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    from opspilot.handlers import sync_alarms

    answers: list[tuple[str, str]] = []
    monkeypatch.setattr(
        sync_alarms, "respond", lambda event, status, physical, *_: answers.append((status, physical))
    )
    provisioned.sync(
        {
            "RequestType": "Delete",
            "ResponseURL": "https://cloudformation-custom-resource-response.s3.amazonaws.com/x",
            "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/opspilot-sim/1",
            "RequestId": "r",
            "LogicalResourceId": "ModelAlarms",
            "PhysicalResourceId": "opspilot-sim-model-alarms",
        }
    )
    assert provisioned.alarms() == {}
    assert answers == [("SUCCESS", "opspilot-sim-model-alarms")]


def test_an_unreadable_stack_request_is_answered_failed_naming_the_field_and_fails(
    provisioned: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CloudFormation hears at once which field is wrong (it would otherwise wait an hour); the
    invocation fails too, so Lambda's retries and then SyncFailureQueue keep the request; no alarm
    is touched."""
    from opspilot.domain.errors import InvalidInput
    from opspilot.handlers import sync_alarms

    answers: list[tuple[str, str, str, str]] = []
    monkeypatch.setattr(
        sync_alarms,
        "respond",
        lambda event, status, physical, why="", *_: answers.append((event.request_id, status, physical, why)),
    )
    before = provisioned.alarms()
    request = {
        "RequestType": "Remove",
        "ResponseURL": "https://cloudformation-custom-resource-response.s3.amazonaws.com/x",
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/opspilot-sim/1",
        "RequestId": "r",
        "LogicalResourceId": "ModelAlarms",
        "PhysicalResourceId": "opspilot-sim-model-alarms",
    }
    with pytest.raises(InvalidInput, match=r"^field 'RequestType': must be one of"):
        provisioned.sync(request)
    ((request_id, status, physical, why),) = answers
    assert (request_id, status, physical) == ("r", "FAILED", "opspilot-sim-model-alarms")
    assert why.startswith("field 'RequestType': must be one of 'Create', 'Update' or 'Delete', got 'Remove'")
    answers.clear()
    with pytest.raises(InvalidInput, match=r"^field 'RequestId': is required"):
        provisioned.sync({k: v for k, v in request.items() if k != "RequestId"} | {"RequestType": "Update"})
    assert answers == []  # nothing to answer with: the queue keeps it
    assert provisioned.alarms() == before


def test_a_run_out_of_time_saves_what_it_did_and_fails_for_a_retry(env: Env) -> None:
    from opspilot.domain.threshold_sync import SyncIncomplete
    from opspilot.handlers import sync_alarms

    class Late(LambdaContextStub):
        def get_remaining_time_in_millis(self) -> int:
            return 5_000  # under the 20 s the sync keeps for saving its progress

    env.register(NOVA)
    with pytest.raises(SyncIncomplete, match="stopped early"):
        sync_alarms.handler({"reason": "schedule"}, Late(function_name="SyncAlarmsFunction"))  # type: ignore[arg-type]
    assert env.writes() == {} and env.store.last_runs(1)[0]["complete"] is False
    assert env.sync({"reason": "schedule"})["created"] == 7


def test_a_refused_alarm_write_is_reported_and_retried_by_the_next_run(env: Env) -> None:
    env.register(NOVA)
    env.world.fail_next("cloudwatch", "PutMetricAlarm", "LimitExceededFault")
    report = env.registry_changed(NOVA)
    assert report["created"] == 6 and report["failures"] == [
        "opspilot-amazon-nova-pro-v1-0-server-errors: PutMetricAlarm: LimitExceededFault: Injected fault"
    ]
    (message,) = [n for n in env.notifications() if "threshold sync" in n.get("Subject", "")]
    assert message["Subject"] == "[OpsPilot] alarm threshold sync: alarm writes failed"
    assert env.sync({"reason": "schedule"})["created"] == 1 and len(env.alarms()) == 7


def test_every_provisioned_alarm_sends_its_tags_in_its_events(env: Env) -> None:
    """ActionConfiguration.AlarmTagsPropagation on: the state-change events carry alarmTags."""
    env.register(NOVA)
    env.registry_changed(NOVA)

    puts = env.world.calls_to("cloudwatch", "PutMetricAlarm")
    assert len(puts) == 7
    assert {json.dumps(c.params.get("ActionConfiguration")) for c in puts} == {
        '{"AlarmTagsPropagation": {"Enabled": true}}'
    }
    assert {json.dumps(a.get("ActionConfiguration")) for a in env.alarms().values()} == {
        '{"AlarmTagsPropagation": {"Enabled": true}}'
    }


def test_an_alarm_written_before_tag_propagation_is_rewritten_once(provisioned: Env) -> None:
    """An upgraded stack: alarms the sync wrote without propagation get it at the next full run."""
    alarm = provisioned.alarms()[NOVA_RPM_ALARM]
    keep = ("AlarmName", "AlarmDescription", "ActionsEnabled", "MetricName", "Namespace", "Statistic")
    old = {k: alarm[k] for k in (*keep, "Dimensions", "Period", "EvaluationPeriods", "DatapointsToAlarm")}
    old |= {k: alarm[k] for k in ("Threshold", "ComparisonOperator", "TreatMissingData")}
    provisioned.cw.put_metric_alarm(**old)  # as the previous version wrote it
    assert "ActionConfiguration" not in provisioned.alarms()[NOVA_RPM_ALARM]
    provisioned.world.clear_calls()

    provisioned.sync({"reason": "reconcile", "full": True})

    (put,) = provisioned.world.calls_to("cloudwatch", "PutMetricAlarm")
    assert (put.params["AlarmName"], put.params["ActionConfiguration"]) == (
        NOVA_RPM_ALARM,
        {"AlarmTagsPropagation": {"Enabled": True}},
    )
    assert put.params["Threshold"] == 800
    provisioned.world.clear_calls()
    provisioned.sync({"reason": "reconcile", "full": True})
    assert provisioned.writes() == {}
