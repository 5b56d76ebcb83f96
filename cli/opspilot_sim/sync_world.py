"""The alarm sync in a simulated account that enforces AWS's limits (:mod:`opspilot_sim.limits`):
what the integration tests and ``make bench`` run it in.

The stack is deployed from ``template.yaml`` into moto, with the AlarmSyncStateMachine from its
real ASL file on moto's interpreter. :meth:`SyncWorld.run` invokes the real handler
(``opspilot.handlers.sync_alarms``) as a trigger would, with a Lambda context whose remaining time
is counted on the simulated clock; when the run hands the rest to the state machine, the rounds run
through moto's Lambda (the moto shim, with the same clock-driven contexts) and :meth:`run` waits for
the execution. Everything is measured on the simulated clock: seconds, invocations and how long each
ran, requests AWS received, requests it throttled.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from unittest.mock import patch

import boto3
from moto import mock_aws

from opspilot.adapters.registry import RegistryStore
from opspilot.domain.alarm_cost import alarm_metrics
from opspilot.domain.registry import validate_entry
from opspilot_sim import fake_aws, moto_shim
from opspilot_sim.limits import Invocation, Limits, SimClock, simulated_time
from opspilot_sim.moto_stack import deployed_stack
from opspilot_sim.registry_sim import SYNC_FUNCTION, deploy_sync_rounds, wait_for_execution
from opspilot_sim.stack import SimulatedStack

MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}


@dataclass
class SyncRun:
    """One sync, from its trigger to its last round, measured on the simulated clock."""

    seconds: float
    calls: Counter[str]  # operation -> API calls (botocore's retries of a call count once)
    throttled: Counter[str]  # "service:Operation" -> requests AWS refused for their rate
    invocations: list[Invocation]
    report: dict[str, Any]  # the first invocation's summary
    execution: dict[str, Any] | None = None  # the rounds' execution: described, events
    errors: list[str] = field(default_factory=list)  # invocations that ended in an error

    @property
    def rounds(self) -> int:
        return len(self.invocations)

    @property
    def longest(self) -> float:
        return max((i.seconds for i in self.invocations), default=0.0)

    @property
    def status(self) -> str:
        return str(self.execution["described"]["status"]) if self.execution else "NONE"


@dataclass
class SyncWorld:
    world: fake_aws.SimulatedAws
    limits: Limits
    clock: SimClock
    stack: SimulatedStack
    shim: moto_shim.ShimState
    store: RegistryStore

    @property
    def region(self) -> str:
        return self.stack.region

    def register(self, raw: Mapping[str, Any], at: datetime | None = None) -> None:
        existing = self.store.get_entry(str(raw["model_id"]))
        self.store.put_entry(
            validate_entry(dict(raw)),
            expected_version=existing.version if existing else None,
            by="sim",
            now=at or self.clock.now(),
        )

    def run(self, event: dict[str, Any]) -> SyncRun:
        """Invoke the sync as a trigger would, then wait for its rounds, if it handed any on."""
        from opspilot.handlers import sync_alarms

        started, calls = self.clock.elapsed, len(self.world.calls)
        throttled, invocations = Counter(self.limits.throttled), len(self.limits.invocations)
        shim_invocations = len(self.shim.invocations)
        context = self.limits.lambda_context(SYNC_FUNCTION)
        try:
            report = sync_alarms.handler(event, context)  # type: ignore[arg-type]
        finally:
            context.finish()
        execution = None
        if arn := report.get("rounds_execution"):
            with self.limits.observing():
                execution = wait_for_execution(self.region, arn)
        return SyncRun(
            seconds=self.clock.elapsed - started,
            calls=Counter(c.operation for c in self.world.calls[calls:]),
            throttled=Counter(self.limits.throttled) - throttled,
            invocations=self.limits.invocations[invocations:],
            report=report,
            execution=execution,
            errors=[
                f"{i.function_name}: {i.error_type}"
                for i in self.shim.invocations[shim_invocations:]
                if i.error_type
            ],
        )

    def alarms(self) -> dict[str, dict[str, Any]]:
        """Every metric alarm CloudWatch holds (read without simulated time)."""
        with self.limits.observing():
            cw = boto3.client("cloudwatch", region_name=self.region)
            pages = cw.get_paginator("describe_alarms").paginate(AlarmTypes=["MetricAlarm"])
            return {a["AlarmName"]: dict(a) for page in pages for a in page["MetricAlarms"]}

    def alarm_metrics(self) -> int:
        """What CloudWatch bills: alarm metrics of every alarm it holds (domain.alarm_cost)."""
        return sum(alarm_metrics(a) for a in self.alarms().values())


@contextmanager
def limited_account(
    region: str = "us-east-1", overrides: dict[str, Any] | None = None, limits: Limits | None = None
) -> Iterator[SyncWorld]:
    """A fresh account: moto, the simulated Service Quotas and AWS's limits on one simulated clock,
    the stack deployed, the rounds' state machine created, handlers' logs and metrics quiet (the
    sync writes each model's quotas as EMF lines to stdout: thousands in a bench run)."""
    from opspilot.adapters import aws as aws_clients
    from opspilot.handlers import _runtime, sync_alarms
    from opspilot.settings import core_settings, sync_settings

    limits = limits or Limits(SimClock())
    clock = limits.clock
    world = fake_aws.SimulatedAws(limits=limits, clock=clock.now)
    shim = moto_shim.ShimState(context=limits.lambda_context)
    caches = [aws_clients.client, _runtime.store, core_settings, sync_settings, sync_alarms.registry]
    level = _runtime.logger.log_level
    with ExitStack() as stack:
        _runtime.logger.setLevel(logging.CRITICAL)
        stack.callback(_runtime.logger.setLevel, level)
        stack.enter_context(patch.dict(os.environ, {"POWERTOOLS_METRICS_DISABLED": "true"}))
        stack.enter_context(mock_aws(config=MOTO_CONFIG))
        stack.enter_context(fake_aws.installed(world))
        deployed = stack.enter_context(deployed_stack(region, overrides or {}, caches))
        stack.enter_context(moto_shim.installed(shim))
        stack.enter_context(simulated_time(clock, sync_alarms))
        shim.handlers.update(deployed.handlers)
        deploy_sync_rounds(deployed)
        yield SyncWorld(world, limits, clock, deployed, shim, RegistryStore(deployed.registry_table_name))
