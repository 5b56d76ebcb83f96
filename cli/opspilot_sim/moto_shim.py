"""The only place that reaches into moto's internals (moto is pinned exactly for this reason).

1. Lambda: moto without Docker echoes the payload. We replace
   ``LambdaSimpleBackend.invoke`` so each function runs its real handler in-process, and an
   unhandled exception becomes ``x-amz-function-error: Unhandled`` with the payload Lambda
   sends (``errorType`` = exception class name), which is what Step Functions' Retry/Catch match.
2. Timers: Retry backoff and Wait states sleep on the wall clock in moto's interpreter, and the
   alarm sync paces its CloudWatch writes (``opspilot.handlers.sync_alarms.sleep``). We record the
   requested delays instead of sleeping, so scenarios run in seconds. (``opspilot_sim.limits``
   puts a simulated clock in their place instead.)
3. Parsing: moto parses a state machine's definition anew for every execution; the parse tree
   is kept per definition instead (:func:`installed`).
4. Memory and time that grow with the run (a 1,000-event storm, ``opspilot_dev.bench_storm``):
   moto keeps every model object it ever made (``BaseModel.instances_tracked``, for its server's
   dashboard), every finished execution with its history and worker threads, and backs up a
   TransactWriteItems by copying each whole table it touches. :func:`release_execution` lets the
   runner drop what it has read; while installed, a transaction backs up only the items it
   writes (all written, or none, as before).
"""

from __future__ import annotations

import copy
import enum
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
from moto.core.common_models import BaseModel
from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor
from moto.stepfunctions.parser.models import stepfunctions_parser_backends
from moto.stepfunctions.parser.utils import TMP_THREADS

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


def _forget_tracked_models() -> None:
    """Drop moto's references to every model object it made (``instances_tracked``, read only by
    moto server's dashboard and by ``mock_aws``'s reset, which empties them too): objects the
    world still holds stay, the rest (e.g. the table copies behind transactions) can be freed.
    S3's lists are kept: its reset closes the files of the keys it finds there."""
    pending: list[type] = [BaseModel]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        tracked = cls.__dict__.get("instances_tracked")
        if tracked and not cls.__module__.startswith("moto.s3."):
            tracked.clear()


def release_execution(execution_arn: str) -> None:
    """Forget a finished execution in moto, after what the report needs of it was read. moto
    keeps every execution (its copy of the state machine, its history) and scans them all on each
    DescribeExecution; every worker thread its interpreter started (``TMP_THREADS``, each named
    after the repr of the branch it ran); and every model object (:func:`_forget_tracked_models`).
    A running execution and a live thread are kept."""
    region, account = execution_arn.split(":")[3:5]
    backend = stepfunctions_parser_backends[account][region]
    machine = backend._get_state_machine_for_execution(execution_arn)
    machine.executions[:] = [
        e for e in machine.executions if e.execution_arn != execution_arn or e.status == "RUNNING"
    ]
    TMP_THREADS[:] = [t for t in TMP_THREADS if t.is_alive()]
    _forget_tracked_models()


def execution_history(execution_arn: str) -> tuple[str, list[dict[str, Any]]]:
    """An execution's status and its history events as GetExecutionHistory lists them, read from
    moto's interpreter directly: through the API, moto serialises and botocore parses every event
    with its full input and output (a storm's execution carries tens of kilobytes of state per
    event), which took a quarter of the storm's time."""
    region, account = execution_arn.split(":")[3:5]
    execution = stepfunctions_parser_backends[account][region].describe_execution(execution_arn)
    events = [_as_listed(event) for event in execution.to_history_output()["events"]]
    return str(execution.status), events


def execution_running(execution_arn: str) -> bool:
    """DescribeExecution's ``RUNNING``, without the round trip (the runner asks often)."""
    region, account = execution_arn.split(":")[3:5]
    execution = stepfunctions_parser_backends[account][region].describe_execution(execution_arn)
    return str(execution.status) == "RUNNING"


def queue_has_messages(queue_url: str, region: str) -> bool:
    """Whether a ReceiveMessage on the queue would find a visible message now (the runner looks
    at the notification inbox many times per execution; most looks find nothing)."""
    from moto.sqs.models import sqs_backends

    account, name = queue_url.rstrip("/").split("/")[-2:]
    return bool(sqs_backends[account][region].get_queue(name).messages)


def dynamodb_item(account: str, region: str, table_name: str, key: dict[str, str]) -> dict[str, Any] | None:
    """One item of a moto table (string keys), as GetItem answers its ``Item``, read from moto
    directly: no API call, so the simulated world's fault plan and call counts never see the
    simulator's own look (a scenario's GetItem fault is meant for the handlers)."""
    from moto.dynamodb.models import dynamodb_backends

    table = dynamodb_backends[account][region].get_table(table_name)
    hash_key = DynamoType({"S": key[table.hash_key_attr]})
    range_key = DynamoType({"S": key[table.range_key_attr]}) if table.range_key_attr else None
    item = table.get_item(hash_key, range_key)
    return item.to_json()["Attributes"] if item is not None else None


def _as_listed(value: Any) -> Any:
    """What the API would list: enum values as their strings, and no member that is None."""
    if isinstance(value, dict):
        return {k: _as_listed(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_as_listed(v) for v in value]
    return getattr(value, "value", value) if isinstance(value, enum.Enum) else value


def _written_items(backend: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> list[Any]:
    """(table, hash key, range key, a copy of the item now or None) of each item a
    TransactWriteItems may write."""
    saved = []
    for element in transact_items:
        op_type, op = next(iter(element.items()))
        table = backend.tables.get(op.get("TableName")) if isinstance(op, dict) else None
        if table is None or op_type == "ConditionCheck":
            continue
        key = op.get("Item") if op_type == "Put" else op.get("Key")
        if not isinstance(key, dict) or table.hash_key_attr not in key:
            continue  # moto refuses it before writing anything
        hash_key = DynamoType(key[table.hash_key_attr])
        range_key = None
        if table.range_key_attr is not None:
            if table.range_key_attr not in key:
                continue
            range_key = DynamoType(key[table.range_key_attr])
        current = table.get_item(hash_key, range_key)
        saved.append((table, hash_key, range_key, copy.deepcopy(current)))
    return saved


def _copy_but_tables(value: Any, memo: dict[int, Any] | None = None) -> Any:
    """``copy.deepcopy`` for moto's DynamoDB backend module, except that a table is not copied."""
    return value if isinstance(value, Table) else copy.deepcopy(value, memo)


def _restore(saved: list[Any]) -> None:
    for table, hash_key, range_key, before in reversed(saved):
        if range_key is None:
            if before is None:
                table.items.pop(hash_key, None)
            else:
                table.items[hash_key] = before
        elif before is None:
            table.items[hash_key].pop(range_key, None)
        else:
            table.items[hash_key][range_key] = before


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
    original_transact = DynamoDBBackend.transact_write_items
    original_copy = dynamodb_models.copy
    original_parse = AmazonStateLanguageParser.parse
    trees: dict[str, Any] = {}  # definition -> its ANTLR parse tree

    def parse(definition: str) -> tuple[Any, Any]:
        # moto lexes and parses the definition with ANTLR for every execution (about half a
        # second for the incident state machine, most of an execution's time in the storm). The
        # parse tree is kept per definition; the evaluation components are built afresh from it
        # each time, so no execution shares a component with another.
        with state.lock:
            tree = trees.get(definition)
        if tree is None:
            program, tree = original_parse(definition)
            with state.lock:
                trees[definition] = tree
            return program, tree
        return Preprocessor().visit(tree), tree

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

    def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        # moto backs up every table a transaction touches by deep-copying it (a copy per table,
        # per transaction, of every item: slower as the table grows) and puts the copies back on
        # failure. Here the items it may write are backed up instead, and restored on failure;
        # its table "copies" are the tables themselves (_copy_but_tables), so its own restore
        # changes nothing.
        saved = _written_items(self, transact_items)
        try:
            original_transact(self, transact_items)
        except Exception:
            _restore(saved)
            raise

    LambdaSimpleBackend.invoke = invoke
    DynamoDBBackend.transact_write_items = transact_write_items
    dynamodb_models.copy = types.SimpleNamespace(deepcopy=_copy_but_tables)
    AmazonStateLanguageParser.parse = staticmethod(parse)
    WaitFunction._wait_interval = wait_interval
    retrier_decl.time = types.SimpleNamespace(sleep=sleep)
    sync_alarms.sleep = sleep  # type: ignore[assignment]
    try:
        yield state
    finally:
        sync_alarms.sleep = original_pacing
        DynamoDBBackend.transact_write_items = original_transact
        dynamodb_models.copy = original_copy
        AmazonStateLanguageParser.parse = staticmethod(original_parse)
        LambdaSimpleBackend.invoke = original_invoke
        WaitFunction._wait_interval = original_wait
        retrier_decl.time = original_time
