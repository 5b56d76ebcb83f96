"""Threshold sync at scale: API calls by operation and wall time of one sync run of 10, 100 and
500 registered models, with nothing changed and with 10 % of the quotas changed.

Each size runs in a fresh simulated account (moto + the simulated Service Quotas): the stack is
deployed from ``template.yaml``, the registry written, every alarm provisioned once (reported too,
as the one-off cost), then the two measured runs call the real handler
(``opspilot.handlers.sync_alarms``) as the daily schedule does. The calls are counted at botocore's
boundary, so they are what AWS would receive; wall time is in-process against moto, without
network latency.

Target: sync cost follows what changes, not what exists. With nothing changed a run describes and
writes no alarm; with quotas changed it writes exactly the alarms whose threshold moves.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from moto import mock_aws

from opspilot_sim import fake_aws

SIZES = (10, 100, 500)
CHANGED_FRACTION = 0.10
ALARM_OPERATIONS = ("DescribeAlarms", "PutMetricAlarm", "DeleteAlarms", "TagResource")


@dataclass
class Measured:
    models: int
    run: str
    seconds: float
    calls: Counter[str]
    report: dict[str, Any]


def _model(i: int) -> str:
    return f"amazon.bench-model-{i:03d}-v1:0"


def _quota_name(i: int, kind: str) -> str:
    unit = "requests" if kind == "rpm" else "tokens"
    return f"On-demand model inference {unit} per minute for Amazon Bench Model {i:03d}"


@contextmanager
def _account(models: int) -> Iterator[tuple[fake_aws.SimulatedAws, Any]]:
    """A fresh simulated account with the stack deployed, ``models`` registered, and quotas."""
    from opspilot.adapters import aws as aws_clients
    from opspilot.adapters.registry import RegistryStore
    from opspilot.domain.registry import validate_entry
    from opspilot.handlers import _runtime, sync_alarms
    from opspilot.settings import core_settings, sync_settings
    from opspilot_sim.moto_stack import deployed_stack

    world = fake_aws.SimulatedAws()
    caches = [aws_clients.client, _runtime.store, core_settings, sync_settings, sync_alarms.registry]
    with mock_aws(), fake_aws.installed(world), deployed_stack("us-east-1", {}, caches) as stack:
        store = RegistryStore(stack.registry_table_name)
        now = datetime.now(UTC)
        for i in range(models):
            world.add_quota("us-east-1", f"L-{0xB0000000 + 2 * i:08X}", _quota_name(i, "rpm"), 1000 + i)
            world.add_quota("us-east-1", f"L-{0xB0000001 + 2 * i:08X}", _quota_name(i, "tpm"), 2_000_000 + i)
            raw = {
                "model_id": _model(i),
                "display_name": f"Bench {i}",
                "environment": "pilot",
                "owner": "bench",
            }
            store.put_entry(validate_entry(raw), expected_version=None, by="bench", now=now)
        yield world, stack


def _measure(world: fake_aws.SimulatedAws, models: int, run: str, event: dict[str, Any]) -> Measured:
    from opspilot.handlers import sync_alarms
    from opspilot_sim.moto_shim import LambdaContextStub

    world.clear_calls()
    context: Any = LambdaContextStub(function_name="SyncAlarmsFunction")
    started = time.perf_counter()
    report = sync_alarms.handler(event, context)
    seconds = time.perf_counter() - started
    calls = Counter(c.operation for c in world.calls)
    return Measured(models, run, seconds, calls, report)


def measure(sizes: tuple[int, ...] = SIZES) -> list[Measured]:
    from opspilot.handlers._runtime import logger

    level = logger.log_level
    logger.setLevel(logging.CRITICAL)
    results = []
    try:
        for models in sizes:
            with _account(models) as (world, _):
                results.append(_measure(world, models, "provision", {"reason": "reconcile", "full": True}))
                results.append(_measure(world, models, "no change", {"reason": "schedule"}))
                quotas = [q for q in world._quotas.values() if q.service_code == "bedrock"]
                step = round(1 / CHANGED_FRACTION)
                for quota in quotas[::step]:  # 10 % of the quotas: every tenth one is raised by half
                    world.add_quota(quota.region, quota.code, quota.name, quota.value * 1.5)
                results.append(_measure(world, models, "10% quotas changed", {"reason": "schedule"}))
    finally:
        logger.setLevel(level)
    return results


def bench_sync(sizes: tuple[int, ...] = SIZES) -> bool:
    print("\nalarm threshold sync: one run of SyncAlarmsFunction (10 alarms per model), simulated AWS")
    print(f"{'models':>6} {'run':<19} {'seconds':>7} {'api calls':>9}  by operation")
    ok = True
    for m in measure(sizes):
        alarm_calls = sum(m.calls[op] for op in ALARM_OPERATIONS)
        if m.run == "no change":
            within = alarm_calls == 0
        elif m.run.startswith("10%"):
            changed = m.report["threshold_updates"]
            within = m.calls["PutMetricAlarm"] == changed and m.calls["DescribeAlarms"] <= -(-changed // 100)
        else:
            within = True
        ok &= within
        by_operation = ", ".join(f"{op} {n}" for op, n in sorted(m.calls.items()))
        flag = "" if m.run == "provision" else ("  OK" if within else "  OVER TARGET")
        print(f"{m.models:>6} {m.run:<19} {m.seconds:>7.2f} {sum(m.calls.values()):>9}  {by_operation}{flag}")
    return ok


def main() -> int:
    verdict = {True: "met", False: "MISSED"}
    print(f"\ntargets: sync cost follows changes {verdict[bench_sync()]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
