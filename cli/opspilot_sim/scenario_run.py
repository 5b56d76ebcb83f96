"""One scenario's run as the simulator's parts share it: the stack, the simulated world, the calls
made, the notifications and chat messages received. The runner fills it; the approver and the
reports read it (they import this module, never the runner)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import boto3

from opspilot_sim import chat_capture, fake_aws, moto_shim
from opspilot_sim.stack import SimulatedStack


@dataclass
class CallLog:
    """Every AWS API call made inside a Lambda invocation, attributed to its execution."""

    shim: moto_shim.ShimState
    calls: list[tuple[str | None, str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, model: Any, **_: Any) -> None:
        execution = self.shim.current_execution()
        if execution is not None:
            with self.lock:
                self.calls.append((execution, model.service_model.service_name, model.name))


@dataclass
class ScenarioRun:
    scenario: dict[str, Any]
    stack: SimulatedStack
    world: fake_aws.SimulatedAws
    shim: moto_shim.ShimState
    call_log: CallLog
    notifications: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    answered: set[str] = field(default_factory=set)
    scanned: int = 0  # notifications the approver has looked at for links (approver.answer)
    clients: dict[str, Any] = field(default_factory=dict)
    chat: chat_capture.ChatCapture = field(default_factory=chat_capture.ChatCapture)
    interactive: Any = None  # interactive.InteractiveSession: a person answers approvals
    pending_seen: list[dict[str, Any]] = field(default_factory=list)  # pending approvals, as links arrived
    provisioning: Any = None  # registry_sim.Provisioning: alarms the sync provisioned from `registry`
    observe: Any = None  # called with (run, execution) after each execution (runner.run_scenario)

    def client(self, service: str) -> Any:
        """One client per service for the simulator's own calls (creating clients is slow)."""
        if service not in self.clients:
            self.clients[service] = boto3.client(service, region_name=self.stack.region)  # type: ignore[call-overload]
        return self.clients[service]
