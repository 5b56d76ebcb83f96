"""AWS's documented limits in the simulated world (opspilot_sim.limits), and the alarm sync inside
them. Nothing here is timed: time is the simulated clock, moved only by requests (50 ms each), by
botocore's retry waits and by the sync's own pacing and backoff."""

from __future__ import annotations

import io
import json
import random
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws

from opspilot_sim import fake_aws
from opspilot_sim.limits import (
    RATE_LIMITS,
    SFN_HISTORY_MAX_EVENTS,
    Limits,
    RateLimit,
    SimClock,
    simulated_time,
)
from opspilot_sim.sync_world import SyncWorld, limited_account

REGION = "us-east-1"
ONE_TRY = Config(retries={"mode": "standard", "total_max_attempts": 1})


@pytest.fixture
def limits() -> Iterator[Limits]:
    limits = Limits(SimClock())
    world = fake_aws.SimulatedAws(limits=limits, clock=limits.clock.now)
    world.add_quota(
        REGION, "L-F2717A44", "On-demand model inference requests per minute for Amazon Nova Pro", 1
    )
    with mock_aws(), fake_aws.installed(world), simulated_time(limits.clock):
        yield limits


def alarm(name: str, **more: Any) -> dict[str, Any]:
    return {
        "AlarmName": name,
        "MetricName": "Invocations",
        "Namespace": "AWS/Bedrock",
        "Statistic": "Sum",
        "Period": 60,
        "EvaluationPeriods": 1,
        "Threshold": 1,
        "ComparisonOperator": "GreaterThanThreshold",
    } | more


def band_alarm(name: str, model_id: str) -> dict[str, Any]:
    metric = {"Namespace": "AWS/Bedrock", "MetricName": "Invocations"}
    metric["Dimensions"] = [{"Name": "ModelId", "Value": model_id}]  # type: ignore[assignment]
    return {
        "AlarmName": name,
        "EvaluationPeriods": 1,
        "ComparisonOperator": "GreaterThanUpperThreshold",
        "ThresholdMetricId": "band",
        "Metrics": [
            {"Id": "m1", "MetricStat": {"Metric": metric, "Period": 60, "Stat": "Sum"}, "ReturnData": True},
            {"Id": "band", "Expression": "ANOMALY_DETECTION_BAND(m1, 2)", "ReturnData": True},
        ],
    }


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_every_rate_comes_from_the_reference_with_its_source() -> None:
    by_operation = {(r.service, r.operation): r for r in RATE_LIMITS}
    assert by_operation[("cloudwatch", "PutMetricAlarm")].per_second == 3
    assert by_operation[("cloudwatch", "DescribeAlarms")].per_second == 9
    assert by_operation[("service-quotas", "RequestServiceQuotaIncrease")].per_second == 3
    assert by_operation[("service-quotas", "ListServiceQuotas")].burst == 20  # 10/s + burst 10
    assert all(r.source for r in RATE_LIMITS)


def test_a_request_over_its_rate_is_throttled_with_the_code_aws_sends(limits: Limits) -> None:
    limits.latency = 0  # requests take no time: only the bucket decides
    cw = boto3.client("cloudwatch", region_name=REGION, config=ONE_TRY)
    for i in range(3):  # one second's worth: the bucket
        cw.put_metric_alarm(**alarm(f"a{i}"))
    with pytest.raises(ClientError) as refused:
        cw.put_metric_alarm(**alarm("a3"))
    assert (code(refused), refused.value.response["Error"]["Message"]) == ("Throttling", "Rate exceeded")
    limits.clock.advance(1)
    cw.put_metric_alarm(**alarm("a3"))  # a second later the bucket has refilled

    sq = boto3.client("service-quotas", region_name=REGION, config=ONE_TRY)
    for _ in range(20):  # 10 a second plus a burst of 10
        sq.list_service_quotas(ServiceCode="bedrock")
    with pytest.raises(ClientError) as refused:
        sq.list_service_quotas(ServiceCode="bedrock")
    assert code(refused) == "TooManyRequestsException"
    assert limits.throttled == {"cloudwatch:PutMetricAlarm": 1, "service-quotas:ListServiceQuotas": 1}


@pytest.fixture
def seeded_random() -> Iterator[None]:
    """botocore's backoff draws from the random module's shared generator (bound as a default
    argument, so it cannot be patched): seed it for one test and give the others back its state."""
    state = random.getstate()
    random.seed(20261206)
    yield
    random.setstate(state)


@pytest.mark.usefixtures("seeded_random")
def test_botocores_retries_wait_on_the_simulated_clock(limits: Limits) -> None:
    # botocore's standard mode waits a random fraction of 1 s, then of 2 s (full jitter), so its
    # default 3 attempts can all land inside one refill of the bucket: that made this test fail
    # about once in a few dozen runs. The seed fixes the waits; 10 attempts leave room for them.
    retries: Any = {"mode": "standard", "total_max_attempts": 10}
    cw = boto3.client("cloudwatch", region_name=REGION, config=Config(retries=retries))
    for i in range(12):
        cw.put_metric_alarm(**alarm(f"a{i}"))  # 4x the rate: botocore backs off and gets through
    assert limits.throttled["cloudwatch:PutMetricAlarm"] > 0
    assert limits.clock.elapsed >= (12 - 3) / 3, "the waits moved the clock"


@pytest.mark.parametrize(
    ("service", "call", "expected"),
    [
        ("cloudwatch", lambda c: c.describe_alarms(MaxRecords=101), "ValidationError"),
        (
            "cloudwatch",
            lambda c: c.delete_alarms(AlarmNames=[f"a{i}" for i in range(101)]),
            "ValidationError",
        ),
        (
            "service-quotas",
            lambda c: c.list_service_quotas(ServiceCode="bedrock", MaxResults=101),
            "IllegalArgumentException",
        ),
        (
            "stepfunctions",
            lambda c: c.start_execution(
                stateMachineArn=f"arn:aws:states:{REGION}:123456789012:stateMachine:x",
                name="big",
                input=json.dumps({"text": "é" * 131_072}),  # 131,072 characters, 262,158 bytes
            ),
            "ValidationException",
        ),
    ],
)
def test_page_batch_and_payload_sizes_hold(limits: Limits, service: str, call: Any, expected: str) -> None:
    with pytest.raises(ClientError) as refused:
        call(boto3.client(service, region_name=REGION, config=ONE_TRY))
    assert code(refused) == expected and "less than or equal to" in refused.value.response["Error"]["Message"]


def test_a_metric_math_alarm_references_at_most_10_metrics(limits: Limits) -> None:
    cw = boto3.client("cloudwatch", region_name=REGION, config=ONE_TRY)
    metrics: list[dict[str, Any]] = [
        {
            "Id": f"m{i}",
            "MetricStat": {
                "Metric": {"Namespace": "AWS/Bedrock", "MetricName": "Invocations"},
                "Period": 60,
                "Stat": "Sum",
            },
            "ReturnData": False,
        }
        for i in range(11)
    ]
    total = {"Id": "total", "Expression": "SUM(METRICS())", "ReturnData": True}
    params = {
        "AlarmName": "sum",
        "EvaluationPeriods": 1,
        "Threshold": 1,
        "ComparisonOperator": "GreaterThanThreshold",
    }
    with pytest.raises(ClientError) as refused:
        cw.put_metric_alarm(**params, Metrics=[*metrics, total])
    assert code(refused) == "ValidationError"
    cw.put_metric_alarm(**params, Metrics=[*metrics[:10], total])


def test_the_anomaly_detection_model_quota_holds(limits: Limits) -> None:
    limits.anomaly_models = 2
    cw = boto3.client("cloudwatch", region_name=REGION, config=ONE_TRY)
    cw.put_metric_alarm(**band_alarm("band-a", "model-a"))
    cw.put_metric_alarm(**band_alarm("band-b", "model-b"))
    cw.put_metric_alarm(**band_alarm("band-a", "model-a"))  # the same alarm again needs no new model
    limits.clock.advance(1)
    with pytest.raises(ClientError) as refused:
        cw.put_metric_alarm(**band_alarm("band-c", "model-c"))
    assert code(refused) == "LimitExceeded" and limits.anomaly_models_in_use(REGION) == 2
    cw.delete_alarms(AlarmNames=["band-b"])
    cw.put_metric_alarm(**band_alarm("band-c", "model-c"))


# ---- the alarm sync inside the limits -------------------------------------------------------------


def bench_quotas(sync: SyncWorld, models: int) -> None:
    # the bench models and their codes (L-B0000000 ...) are in no catalog, on purpose: named as AWS
    # names on-demand quotas, numbered so that a thousand models cannot meet a real code
    for i in range(models):
        name = f"Amazon Bench Model {i:04d}"
        sync.world.add_quota(
            REGION,
            f"L-{0xB0000000 + 2 * i:08X}",
            f"On-demand model inference requests per minute for {name}",
            1000,
        )
        sync.world.add_quota(
            REGION,
            f"L-{0xB0000001 + 2 * i:08X}",
            f"On-demand model inference tokens per minute for {name}",
            2_000_000,
        )


def register(sync: SyncWorld, models: int, environment: str = "production") -> None:
    bench_quotas(sync, models)
    for i in range(models):
        sync.register(
            {
                "model_id": f"amazon.bench-model-{i:04d}-v1:0",
                "display_name": f"Bench {i}",
                "environment": environment,
                "owner": "bench",
            }
        )


def test_the_sync_paces_itself_under_cloudwatchs_rate() -> None:
    with limited_account() as sync:
        register(sync, 30)
        run = sync.run({"reason": "reconcile", "full": True})
        assert run.report["complete"] and run.calls["PutMetricAlarm"] == 30 * 7
        assert run.throttled == {}, "paced to 3 PutMetricAlarm a second: never throttled"
        assert run.seconds >= 30 * 7 / 3
        assert len(sync.alarms()) == 210 and run.errors == []


def test_throttling_by_another_writer_is_retried_and_backed_off_until_done() -> None:
    """Someone else spends most of the account's PutMetricAlarm rate: the sync, pacing itself to
    3 a second, is throttled, and botocore's retries and its own backoff still get every alarm in."""
    shared = tuple(
        RateLimit(r.service, r.operation, 1, 1, "test: 2 of the 3 a second taken by another writer")
        if r.operation == "PutMetricAlarm"
        else r
        for r in RATE_LIMITS
    )
    with limited_account(limits=Limits(SimClock(), rates=shared)) as sync:
        register(sync, 10)
        run = sync.run({"reason": "reconcile", "full": True})
        assert run.throttled["cloudwatch:PutMetricAlarm"] > 0
        assert run.report["complete"] and run.report["failures"] == [] and run.errors == []
        assert len(sync.alarms()) == 70


def test_a_run_longer_than_one_invocation_goes_on_in_rounds_through_the_state_machine(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With a 120 s Lambda timeout, 60 models' 420 alarms (140 s of PutMetricAlarm alone) take
    more than one invocation: the first hands on to AlarmSyncStateMachine, whose rounds (the real
    ASL on moto's interpreter) finish the job. Each round's log lines carry the rounds'
    execution ARN as their correlation id."""
    with limited_account(limits=Limits(SimClock(), lambda_timeout=120)) as sync:
        register(sync, 60)
        from opspilot.handlers._runtime import logger

        logs = io.StringIO()
        monkeypatch.setattr(logger.registered_handler, "stream", logs)
        logger.setLevel("INFO")  # limited_account quiets the handlers and restores them after
        run = sync.run({"reason": "reconcile", "full": True})
        logged = [json.loads(line) for line in logs.getvalue().splitlines() if line.startswith("{")]
        arn = run.report["rounds_execution"]
        round_calls = [i for i in sync.shim.invocations if i.execution_id is not None]
        assert round_calls and {i.execution_id for i in round_calls} == {arn}
        summaries = [line for line in logged if line.get("message") == "alarm sync"]
        assert len(summaries) == len(round_calls) + 1  # the first invocation, then every round
        assert "correlation_id" not in summaries[0]  # invoked directly: no execution
        assert {line.get("correlation_id") for line in summaries[1:]} == {arn}

        assert run.report["complete"] is False and run.report["resume_after"]
        assert run.status == "SUCCEEDED" and run.rounds >= 2 and run.errors == []
        assert all(i.seconds <= 120 for i in run.invocations), "no invocation past its timeout"
        assert sync.limits.unhandled() == []
        assert run.execution and len(run.execution["events"]) <= SFN_HISTORY_MAX_EVENTS
        assert run.calls["PutMetricAlarm"] == 420 and len(sync.alarms()) == 420
        again = sync.run({"reason": "reconcile", "full": True})
        assert again.calls["PutMetricAlarm"] == 0 and again.report["complete"]


def test_the_anomaly_budget_keeps_the_account_within_its_models() -> None:
    with limited_account(overrides={"AnomalyModelBudget": 5}) as sync:
        register(sync, 8)
        run = sync.run({"reason": "reconcile", "full": True})
        bands = [name for name in sync.alarms() if name.endswith("-anomaly")]
        assert len(bands) == 5 and sync.limits.anomaly_models_in_use(REGION) == 5
        assert run.report["over_budget_total"] == 3
        # every production model beyond the budget keeps its six other alarms
        assert len(sync.alarms()) == 8 * 6 + 5
