"""The only place that reaches into moto's internals (moto is pinned exactly for this reason).

1. Lambda: moto without Docker echoes the payload. We replace
   ``LambdaSimpleBackend.invoke`` so each function runs its real handler in-process, and an
   unhandled exception becomes ``x-amz-function-error: Unhandled`` with the payload Lambda
   sends (``errorType`` = exception class name), which is what Step Functions' Retry/Catch match.
2. Timers: Retry backoff and Wait states sleep on the wall clock in moto's interpreter, and the
   alarm sync paces its CloudWatch writes (``opspilot.handlers.sync_alarms.sleep``). We record the
   requested delays instead of sleeping, so scenarios run in seconds. (``opspilot_sim.limits``
   puts a simulated clock in their place instead.)
"""

from __future__ import annotations

import importlib
import json
import threading
import traceback
import types
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass
class LambdaContextStub:
    """What a handler may read from the Lambda context object."""

    function_name: str
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = ""
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


@dataclass
class Invocation:
    function_name: str
    execution_id: str | None
    error_type: str | None


@dataclass
class ShimState:
    handlers: dict[str, str] = field(default_factory=dict)  # function name -> dotted handler path
    invocations: list[Invocation] = field(default_factory=list)
    slept: list[float] = field(default_factory=list)
    # function name -> error types to report once each after the handler ran successfully: the
    # side effects happened but Step Functions sees a failure and retries (a lost response).
    lost_responses: dict[str, list[str | None]] = field(default_factory=dict)  # None: answered
    lock: threading.Lock = field(default_factory=threading.Lock)
    local: threading.local = field(default_factory=threading.local)
    # the context each invocation gets (e.g. opspilot_sim.limits' clock-driven one); its finish(),
    # if it has one, is called when the handler returns
    context: Callable[[str], Any] = field(default=lambda name: LambdaContextStub(function_name=name))

    def current_execution(self) -> str | None:
        return getattr(self.local, "execution_id", None)


def _load(dotted: str) -> Handler:
    module, _, attr = dotted.rpartition(".")
    return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]


def _function_name(name_or_arn: str) -> str:
    return name_or_arn.split(":function:")[-1].split(":")[0]


@contextmanager
def installed(state: ShimState) -> Iterator[ShimState]:
    """Patch moto for the duration of the block."""
    original_invoke = LambdaSimpleBackend.invoke
    original_wait = WaitFunction._wait_interval
    original_time = retrier_decl.time
    from opspilot.handlers import sync_alarms  # the sim imports handlers; the handlers never import it

    original_pacing: Any = sync_alarms.sleep

    def invoke(
        self: LambdaSimpleBackend,
        function_name: str,
        qualifier: str | None,
        body: Any,
        headers: Any,
        response_headers: Any,
    ) -> bytes:
        name = _function_name(function_name)
        dotted = state.handlers.get(name)
        if dotted is None:
            raise KeyError(f"simulator: no handler registered for function {name}")
        event = json.loads(body) if body else {}
        execution_id = event.get("execution_id") if isinstance(event, dict) else None
        state.local.execution_id = execution_id
        error_type = None
        context = state.context(name)
        try:
            result = _load(dotted)(event, context)
            payload = json.dumps(result)
            with state.lock:
                lost = state.lost_responses.get(name)
                error_type = lost.pop(0) if lost else None
            if error_type is not None:
                response_headers["x-amz-function-error"] = "Unhandled"
                payload = json.dumps({"errorType": error_type, "errorMessage": "simulated: response lost"})
        except Exception as exc:  # the Lambda runtime turns any unhandled exception into this payload
            error_type = type(exc).__name__
            response_headers["x-amz-function-error"] = "Unhandled"
            payload = json.dumps(
                {
                    "errorType": error_type,
                    "errorMessage": str(exc),
                    "stackTrace": traceback.format_exception(exc)[-6:],
                }
            )
        finally:
            state.local.execution_id = None
            if finish := getattr(context, "finish", None):
                finish()
        with state.lock:
            state.invocations.append(Invocation(name, execution_id, error_type))
        return payload.encode()

    def wait_interval(self: WaitFunction, env: Any, wait_seconds: int) -> None:
        with state.lock:
            state.slept.append(float(wait_seconds))

    def sleep(seconds: float) -> None:
        with state.lock:
            state.slept.append(float(seconds))

    LambdaSimpleBackend.invoke = invoke
    WaitFunction._wait_interval = wait_interval
    retrier_decl.time = types.SimpleNamespace(sleep=sleep)
    sync_alarms.sleep = sleep  # type: ignore[assignment]
    try:
        yield state
    finally:
        sync_alarms.sleep = original_pacing
        LambdaSimpleBackend.invoke = original_invoke
        WaitFunction._wait_interval = original_wait
        retrier_decl.time = original_time
