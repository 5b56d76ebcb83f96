"""Threshold sync at scale, inside AWS's documented limits, on a simulated clock.

For 100 and 1,000 registered production models, each in a fresh simulated account
(:func:`opspilot_sim.sync_world.limited_account`: moto, the simulated Service Quotas, and
:mod:`opspilot_sim.limits` enforcing request rates, page sizes, the 500 anomaly detection models,
payload sizes and Lambda's 900 s), four runs of the real handler as its triggers call it:

- ``provision``: every alarm from an empty account (``{"reason": "reconcile", "full": true}``);
- ``no change``: the daily run with nothing changed;
- ``10% quotas``: the daily run after every tenth quota was raised by half;
- ``resync``: a full reconcile after every quota was raised by half (every pressure alarm moves).

A run that does not fit one invocation goes on in AlarmSyncStateMachine's rounds (the real ASL on
moto's interpreter). Printed per run: simulated minutes, invocations (rounds) and the longest one,
API calls AWS received, requests AWS throttled (retried by botocore and the sync), anomaly detection
models in use, and what CloudWatch bills for the alarms it then holds, per model and in total.

Targets: every run completes with no error left unhandled, no invocation past 900 s and no more
anomaly detection models than the account allows; a run with nothing changed makes no alarm call;
with quotas changed it writes exactly the alarms whose threshold moves.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from opspilot.domain.alarm_cost import PRICE_PER_ALARM_METRIC_USD
from opspilot_sim.limits import ANOMALY_MODELS_PER_REGION, LAMBDA_MAX_TIMEOUT_SECONDS
from opspilot_sim.sync_world import SyncRun, SyncWorld, limited_account

SIZES = (100, 1000)
REGION = "us-east-1"
ALARM_OPERATIONS = ("DescribeAlarms", "PutMetricAlarm", "DeleteAlarms", "TagResource")
WATCHING = ("DescribeExecution", "GetExecutionHistory")  # the bench waiting, not the sync


@dataclass
class Measured:
    models: int
    run: str
    sync: SyncRun
    anomaly_models: int
    alarm_metrics: int
    wall: float

    @property
    def calls(self) -> Counter[str]:
        return Counter({op: n for op, n in self.sync.calls.items() if op not in WATCHING})

    @property
    def usd_per_model(self) -> float:
        return self.alarm_metrics * PRICE_PER_ALARM_METRIC_USD / self.models


def _quota_name(i: int, kind: str) -> str:
    unit = "requests" if kind == "rpm" else "tokens"
    return f"On-demand model inference {unit} per minute for Amazon Bench Model {i:04d}"


def _setup(sync: SyncWorld, models: int) -> None:
    with sync.limits.observing():  # writing the registry is not part of any measured run
        for i in range(models):
            sync.world.add_quota(REGION, f"L-{0xB0000000 + 2 * i:08X}", _quota_name(i, "rpm"), 1000 + i)
            sync.world.add_quota(REGION, f"L-{0xB0000001 + 2 * i:08X}", _quota_name(i, "tpm"), 2_000_000 + i)
            sync.register(
                {
                    "model_id": f"amazon.bench-model-{i:04d}-v1:0",
                    "display_name": f"Bench {i}",
                    "environment": "production",
                    "owner": "bench",
                }
            )


def _raise_quotas(sync: SyncWorld, step: int) -> None:
    quotas = [q for q in sync.world._quotas.values() if q.service_code == "bedrock"]
    for quota in quotas[::step]:
        sync.world.add_quota(quota.region, quota.code, quota.name, (quota.value or 1.0) * 1.5)


def _measure(sync: SyncWorld, models: int, run: str, event: dict[str, object]) -> Measured:
    started = time.perf_counter()
    result = sync.run(dict(event))
    return Measured(
        models,
        run,
        result,
        sync.limits.anomaly_models_in_use(REGION),
        sync.alarm_metrics(),
        time.perf_counter() - started,
    )


def measure(sizes: tuple[int, ...] = SIZES) -> Iterator[Measured]:
    for models in sizes:
        with limited_account(REGION) as sync:
            _setup(sync, models)
            yield _measure(sync, models, "provision", {"reason": "reconcile", "full": True})
            yield _measure(sync, models, "no change", {"reason": "schedule"})
            _raise_quotas(sync, 10)
            yield _measure(sync, models, "10% quotas", {"reason": "schedule"})
            _raise_quotas(sync, 1)
            yield _measure(sync, models, "resync", {"reason": "reconcile", "full": True})


def _within(m: Measured) -> tuple[bool, str]:
    s = m.sync
    problems = []
    if s.errors or s.report.get("failures") or s.status not in ("NONE", "SUCCEEDED"):
        problems.append("unhandled error")
    if s.status == "NONE" and not s.report.get("complete"):
        problems.append("incomplete")
    if s.longest > LAMBDA_MAX_TIMEOUT_SECONDS:
        problems.append("invocation past 900 s")
    if m.anomaly_models > ANOMALY_MODELS_PER_REGION:
        problems.append("anomaly models over quota")
    alarm_calls = sum(m.calls[op] for op in ALARM_OPERATIONS)
    if m.run == "no change" and alarm_calls:
        problems.append("alarm calls without a change")
    if m.run == "10% quotas" and m.calls["PutMetricAlarm"] != s.report.get("threshold_updates"):
        problems.append("writes beyond the moved thresholds")
    return not problems, ", ".join(problems) or "OK"


def bench_sync(sizes: tuple[int, ...] = SIZES) -> bool:
    print("\nalarm sync inside AWS's limits (simulated clock; 3 PutMetricAlarm/s, 500 anomaly models, 900 s)")
    header = (
        f"{'models':>6} {'run':<10} {'sim min':>7} {'rounds':>6} {'longest s':>9} {'api calls':>9} "
        f"{'throttled':>9} {'anomaly':>7} {'USD/model':>9} {'USD/month':>9}  by operation"
    )
    print(header)
    ok = True
    for m in measure(sizes):
        within, verdict = _within(m)
        ok &= within
        by_operation = ", ".join(f"{op} {n}" for op, n in sorted(m.calls.items()))
        print(
            f"{m.models:>6} {m.run:<10} {m.sync.seconds / 60:>7.1f} {m.sync.rounds:>6} "
            f"{m.sync.longest:>9.0f} {sum(m.calls.values()):>9,} {sum(m.sync.throttled.values()):>9} "
            f"{m.anomaly_models:>7} {m.usd_per_model:>9.2f} {m.usd_per_model * m.models:>9,.2f}  "
            f"{by_operation}  {verdict}  ({m.wall:.0f} s wall)",
            flush=True,
        )
    return ok


def main() -> int:
    verdict = {True: "met", False: "MISSED"}
    print(f"\ntargets: alarm sync within AWS's limits {verdict[bench_sync()]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
