"""``opspilot events replay``: start the workflow for the alarm events the EventBridge rule could not
deliver, from the rule's dead-letter queue.

EventBridge puts each event it gave up on into the queue (stack output
``AlarmEventDeadLetterQueueUrl``) as one SQS message: the body is the original event, the message
attributes say why (``RULE_ARN``, ``TARGET_ARN``, ``ERROR_CODE``, ``ERROR_MESSAGE``, and
``EXHAUSTED_RETRY_CONDITION`` and ``RETRY_ATTEMPTS`` when the retry policy ran out).

For each message: the body must be a CloudWatch alarm state-change event
(:func:`opspilot.domain.events.parse_alarm_event`) that the rule's pattern in ``template.yaml``
matches (with the stack's ``AlarmNamePrefix``), else the message stays in the queue and the report
names the field. A replayable event starts the state machine with the body as its input, exactly
as the rule's ``InputPath: $`` delivers it, under a name derived from the event id
(:func:`execution_name`). The message is deleted only once that execution exists: started now,
or found already (DescribeExecution first, because StartExecution answers success, not
``ExecutionAlreadyExists``, for a still running execution with the same name and input). So a
replay run twice starts at most one execution per event. Messages that stay are made visible
again at the end of the run; ``--dry-run`` receives, reports and makes every message visible again.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from opspilot.domain.errors import InvalidAlarmEvent
from opspilot.domain.events import parse_alarm_event
from opspilot_sim.eventpattern import matches
from opspilot_sim.template import Resolver, alarm_rule_pattern, load_template, parameter_defaults

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageTypeDef
    from mypy_boto3_stepfunctions import SFNClient

QUEUE_OUTPUT = "AlarmEventDeadLetterQueueUrl"
STATE_MACHINE_OUTPUT = "IncidentStateMachineArn"
# The attributes EventBridge sets on every dead-lettered event (EventBridge User Guide, "Using
# dead-letter queues to process undelivered events"); the last two only when retries ran out.
DEAD_LETTER_ATTRIBUTES = (
    "RULE_ARN",
    "TARGET_ARN",
    "ERROR_CODE",
    "ERROR_MESSAGE",
    "EXHAUSTED_RETRY_CONDITION",
    "RETRY_ATTEMPTS",
)
BATCH = 10  # ReceiveMessage's maximum
VISIBILITY_TIMEOUT_SECONDS = 300  # a received message stays hidden this long if the run dies
RECEIVE_WAIT_SECONDS = 2  # long polling: an empty answer means the queue has nothing visible

# Results, in the report and the JSON document.
STARTED = "started"
ALREADY_REPLAYED = "already_replayed"
WOULD_START = "would_start"
LEFT = "left"

_PLAIN_ID = re.compile(r"[A-Za-z0-9-]{1,73}")


class CliError(Exception):
    """Printed as ``opspilot: events replay: <message>``; ``status`` is the exit status."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


def execution_name(event_id: str) -> str:
    """The replay's execution name for an event: ``replay-<event id>`` when the id is letters,
    digits and ``-`` (EventBridge's ids are UUIDs), else ``replay_<sha256 of the id>``. At most 80
    characters of ``[A-Za-z0-9_-]``; two different ids never share a name (only the second form
    has an ``_``)."""
    if _PLAIN_ID.fullmatch(event_id):
        return f"replay-{event_id}"
    return "replay_" + hashlib.sha256(event_id.encode()).hexdigest()


def execution_arn(state_machine_arn: str, name: str) -> str:
    """``arn:...:stateMachine:M`` -> ``arn:...:execution:M:<name>`` (a standard workflow's)."""
    head, sep, machine = state_machine_arn.partition(":stateMachine:")
    if not (head.startswith("arn:") and sep and machine) or ":" in machine:
        raise CliError(
            f"--state-machine-arn {state_machine_arn!r}: expected arn:<partition>:states:<region>:"
            "<account>:stateMachine:<name> (no version or alias)",
            2,
        )
    return f"{head}:execution:{machine}:{name}"


def rule_pattern(parameters: dict[str, str]) -> dict[str, Any]:
    """The ``AlarmStateChange`` rule's event pattern from template.yaml, with these parameter
    values over the template's defaults (as the simulator's stack resolves it)."""
    template = load_template()
    resolver = Resolver()
    resolver.refs.update({**parameter_defaults(template), **parameters})
    return alarm_rule_pattern(template, resolver)


def unmatched_fields(pattern: dict[str, Any], event: dict[str, Any], path: str = "") -> Iterator[str]:
    """Why ``matches(pattern, event)`` is false: one line per pattern field the event fails."""
    for key, condition in pattern.items():
        where = f"{path}{key}"
        value = event.get(key)
        if isinstance(condition, dict) and isinstance(value, dict):
            yield from unmatched_fields(condition, value, f"{where}.")
        elif not matches({key: condition}, event):
            shown = "missing" if key not in event else json.dumps(value)
            yield f"field '{where}': {shown} does not match the rule's pattern {json.dumps(condition)}"


def problem_with(body: str, pattern: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """The body as an object (when it is one) and why it is not an event the rule delivers."""
    try:
        raw = json.loads(body)
    except json.JSONDecodeError as exc:
        return None, f"body: not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
    try:
        parse_alarm_event(raw)
    except InvalidAlarmEvent as exc:
        return (raw if isinstance(raw, dict) else None), str(exc)
    event: dict[str, Any] = raw  # an object: parse_alarm_event accepts nothing else
    mismatches = list(unmatched_fields(pattern, event))
    if mismatches or not matches(pattern, event):
        return event, "; ".join(mismatches) or "does not match the rule's event pattern"
    return event, None


@dataclass
class Outcome:
    """What happened to one message."""

    message_id: str
    result: str  # STARTED, ALREADY_REPLAYED, WOULD_START or LEFT
    event_id: str | None = None
    alarm_name: str | None = None
    state: str | None = None
    time: str | None = None
    execution_name: str | None = None
    execution_arn: str | None = None
    execution_status: str | None = None  # of the execution found (ALREADY_REPLAYED)
    reason: str | None = None  # LEFT: why
    dead_letter: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Report:
    queue_url: str
    state_machine_arn: str
    dry_run: bool
    max_messages: int | None
    outcomes: list[Outcome] = field(default_factory=list)
    stopped_at_max: bool = False
    error: str | None = None
    notes: list[str] = field(default_factory=list)

    def count(self, result: str) -> int:
        return sum(1 for o in self.outcomes if o.result == result)

    def to_json(self) -> dict[str, Any]:
        return {
            "queue_url": self.queue_url,
            "state_machine_arn": self.state_machine_arn,
            "dry_run": self.dry_run,
            "max": self.max_messages,
            "messages": [o.to_json() for o in self.outcomes],
            "summary": {
                "received": len(self.outcomes),
                STARTED: self.count(STARTED),
                ALREADY_REPLAYED: self.count(ALREADY_REPLAYED),
                WOULD_START: self.count(WOULD_START),
                LEFT: self.count(LEFT),
            },
            "stopped_at_max": self.stopped_at_max,
            "error": self.error,
            "notes": self.notes,
        }


def _text_at(event: dict[str, Any], *path: str) -> str | None:
    value: Any = event
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value if isinstance(value, str) else None


def _describe(message: MessageTypeDef, pattern: dict[str, Any]) -> tuple[Outcome, str | None]:
    """The message's outcome so far (LEFT with the reason, or WOULD_START) and its body."""
    attributes = message.get("MessageAttributes", {})
    outcome = Outcome(
        message_id=message["MessageId"],
        result=WOULD_START,
        dead_letter={
            name: str(attributes[name].get("StringValue", ""))
            for name in DEAD_LETTER_ATTRIBUTES
            if name in attributes
        },
    )
    body = message.get("Body", "")
    event, problem = problem_with(body, pattern)
    if event is not None:  # what can be read of it, also when it is malformed
        outcome.event_id = _text_at(event, "id")
        outcome.alarm_name = _text_at(event, "detail", "alarmName")
        outcome.state = _text_at(event, "detail", "state", "value")
        outcome.time = _text_at(event, "time")
    if problem is not None:
        outcome.result, outcome.reason = LEFT, problem
        return outcome, None
    return outcome, body


def _existing(sfn: SFNClient, arn: str) -> tuple[str, str] | None:
    """The execution's status and input, or None when it does not exist."""
    try:
        found = sfn.describe_execution(executionArn=arn)
    except ClientError as exc:
        if exc.response["Error"].get("Code") == "ExecutionDoesNotExist":
            return None
        raise
    return found["status"], found.get("input", "")


def _same_json(a: str, b: str) -> bool:
    try:
        return bool(json.loads(a) == json.loads(b))
    except json.JSONDecodeError:
        return a == b


def _replay_one(sfn: SFNClient, state_machine_arn: str, outcome: Outcome, body: str, dry_run: bool) -> None:
    """Set the outcome of a replayable event: found already, started, or (dry run) would start."""
    assert outcome.event_id is not None  # parse_alarm_event checked it
    name = execution_name(outcome.event_id)
    arn = execution_arn(state_machine_arn, name)
    outcome.execution_name, outcome.execution_arn = name, arn
    found = _existing(sfn, arn)
    if found is not None:
        status, existing_input = found
        outcome.execution_status = status
        if not _same_json(existing_input, body):
            outcome.result = LEFT
            outcome.reason = (
                f"execution {name} exists for this event id with a different input; "
                "compare the two before deleting the message by hand"
            )
        else:
            outcome.result = ALREADY_REPLAYED
        return
    if dry_run:
        outcome.result = WOULD_START
        return
    try:
        started = sfn.start_execution(stateMachineArn=state_machine_arn, name=name, input=body)
    except ClientError as exc:
        if exc.response["Error"].get("Code") != "ExecutionAlreadyExists":
            raise
        outcome.result = ALREADY_REPLAYED  # another replay started it between our two calls
        return
    outcome.result, outcome.execution_arn = STARTED, started["executionArn"]


def _make_visible(sqs: SQSClient, queue_url: str, handles: Sequence[str]) -> int:
    """ChangeMessageVisibility 0 for these receipt handles; returns how many failed."""
    failed = 0
    for start in range(0, len(handles), BATCH):
        chunk = handles[start : start + BATCH]
        answer = sqs.change_message_visibility_batch(
            QueueUrl=queue_url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                for i, handle in enumerate(chunk)
            ],
        )
        failed += len(answer.get("Failed", []))
    return failed


def replay(
    sqs: SQSClient,
    sfn: SFNClient,
    queue_url: str,
    state_machine_arn: str,
    pattern: dict[str, Any],
    *,
    dry_run: bool = False,
    max_messages: int | None = None,
) -> Report:
    """Receive the queue's messages (at most ``max_messages``) and replay them; see the module doc.

    An AWS error stops the run: it is the report's ``error``, the outcomes so far are kept, and the
    messages not deleted are made visible again.
    """
    execution_arn(state_machine_arn, "check")  # a usage error before anything is received
    report = Report(queue_url, state_machine_arn, dry_run, max_messages)
    held: dict[str, str] = {}  # message id -> latest receipt handle, of the messages that stay
    done: dict[str, Outcome] = {}
    try:
        while max_messages is None or len(report.outcomes) < max_messages:
            wanted = BATCH if max_messages is None else min(BATCH, max_messages - len(report.outcomes))
            messages = sqs.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=wanted,
                VisibilityTimeout=VISIBILITY_TIMEOUT_SECONDS,
                WaitTimeSeconds=RECEIVE_WAIT_SECONDS,
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not messages:
                break
            fresh = 0
            for message in messages:
                message_id, handle = message["MessageId"], message["ReceiptHandle"]
                seen = done.get(message_id)
                if seen is not None:  # a copy again (SQS delivers at least once) or back from hiding
                    if seen.result in (STARTED, ALREADY_REPLAYED) and not dry_run:
                        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=handle)
                    else:
                        held[message_id] = handle
                    continue
                fresh += 1
                outcome, body = _describe(message, pattern)
                done[message_id] = outcome
                report.outcomes.append(outcome)
                held[message_id] = handle  # until the execution is known to exist
                if body is not None:
                    _replay_one(sfn, state_machine_arn, outcome, body, dry_run)
                if outcome.result in (STARTED, ALREADY_REPLAYED) and not dry_run:
                    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=handle)
                    del held[message_id]
            if not fresh:
                report.notes.append(
                    f"stopped: messages came back after {VISIBILITY_TIMEOUT_SECONDS} s, before the run ended"
                )
                break
        else:
            report.stopped_at_max = True
    except (BotoCoreError, ClientError) as exc:
        report.error = str(exc)
    finally:
        if held:
            try:
                failed = _make_visible(sqs, queue_url, list(held.values()))
            except (BotoCoreError, ClientError) as exc:
                failed = len(held)
                report.error = report.error or str(exc)
            if failed:
                report.notes.append(
                    f"{failed} message(s) could not be made visible again: they reappear in the queue "
                    f"{VISIBILITY_TIMEOUT_SECONDS} s after they were received"
                )
    return report


# ---------------------------------------------------------------------------- output


def _result_text(outcome: Outcome, dry_run: bool) -> str:
    if outcome.result == STARTED:
        return f"started {outcome.execution_name}"
    if outcome.result == WOULD_START:
        return f"would start {outcome.execution_name}"
    if outcome.result == ALREADY_REPLAYED:
        then = "would delete the message" if dry_run else "message deleted"
        return f"already replayed: {outcome.execution_name} is {outcome.execution_status or 'there'}; {then}"
    stays = "stays" if dry_run else "left"
    return f"{stays} in the queue (message {outcome.message_id}): {outcome.reason}"


def render_text(report: Report) -> str:
    lines: list[str] = []
    if report.outcomes:
        table = [("EVENT", "ALARM", "STATE", "TIME", "ERROR_CODE", "RESULT")]
        table += [
            (
                o.event_id or "-",
                o.alarm_name or "-",
                o.state or "-",
                o.time or "-",
                o.dead_letter.get("ERROR_CODE", "-"),
                _result_text(o, report.dry_run),
            )
            for o in report.outcomes
        ]
        widths = [max(len(row[i]) for row in table) for i in range(len(table[0]) - 1)]
        for row in table:
            cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
            lines.append("  ".join([*cells, row[-1]]))
        lines.append("")
    received = len(report.outcomes)
    already, left = report.count(ALREADY_REPLAYED), report.count(LEFT)
    if not received:
        if report.error is None:
            lines.append(f"no messages in {report.queue_url}")
        return "\n".join([*lines, *report.notes])  # an error: stderr says it
    elif report.dry_run:
        lines.append(
            f"dry run, nothing changed: {received} message(s): {report.count(WOULD_START)} would start, "
            f"{already} already replayed, {left} would stay in the queue"
        )
    else:
        lines.append(
            f"{received} message(s): {report.count(STARTED)} started, {already} already replayed "
            f"(deleted), {left} left in the queue"
        )
    if report.stopped_at_max:
        lines.append(f"stopped at --max {report.max_messages}: more messages may be waiting")
    lines.extend(report.notes)
    if report.error is not None:
        lines.append("stopped by an AWS error; the messages not replayed are in the queue again")
    return "\n".join(lines)


# ---------------------------------------------------------------------------- wiring


def _from_stack(args: argparse.Namespace) -> tuple[str, str, dict[str, str]]:
    """The queue URL, state machine ARN and parameters of the stack ``--stack``."""
    cfn: Any = boto3.client("cloudformation", region_name=args.region)
    try:
        stack = cfn.describe_stacks(StackName=args.stack)["Stacks"][0]
    except ClientError as exc:
        raise CliError(f"stack {args.stack!r}: {exc.response['Error'].get('Message', exc)}") from exc
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    missing = [name for name in (QUEUE_OUTPUT, STATE_MACHINE_OUTPUT) if not outputs.get(name)]
    if missing:
        raise CliError(
            f"stack {args.stack!r} has no output {' or '.join(missing)}; "
            "pass --queue-url and --state-machine-arn"
        )
    parameters = {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])}
    return outputs[QUEUE_OUTPUT], outputs[STATE_MACHINE_OUTPUT], parameters


def run(args: argparse.Namespace) -> int:
    try:
        if args.stack and (args.queue_url or args.state_machine_arn):
            raise CliError("give --stack, or --queue-url and --state-machine-arn, not both", 2)
        if args.stack:
            queue_url, state_machine_arn, parameters = _from_stack(args)
        elif args.queue_url and args.state_machine_arn:
            queue_url, state_machine_arn, parameters = args.queue_url, args.state_machine_arn, {}
        else:
            raise CliError("say where: --stack NAME, or --queue-url URL and --state-machine-arn ARN", 2)
        if args.alarm_name_prefix:
            parameters["AlarmNamePrefix"] = args.alarm_name_prefix
        execution_arn(state_machine_arn, "check")
        pattern = rule_pattern(parameters)
        sqs: SQSClient = boto3.client("sqs", region_name=args.region)
        sfn: SFNClient = boto3.client("stepfunctions", region_name=args.region)
    except CliError as exc:
        print(f"opspilot: events replay: {exc}", file=sys.stderr)
        return exc.status
    except (BotoCoreError, ClientError) as exc:
        print(f"opspilot: events replay: {exc}", file=sys.stderr)
        return 1
    report = replay(
        sqs, sfn, queue_url, state_machine_arn, pattern, dry_run=args.dry_run, max_messages=args.max
    )
    text = json.dumps(report.to_json(), indent=2) if args.json else render_text(report)
    if text:
        print(text)
    if report.error is not None:
        print(f"opspilot: events replay: {report.error}", file=sys.stderr)
        return 1
    return 3 if report.count(LEFT) else 0


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value


USAGE = (
    "opspilot events replay (--stack NAME | --queue-url URL --state-machine-arn ARN)\n"
    "       [--alarm-name-prefix PREFIX] [--region R] [--dry-run] [--max N] [--json]"
)
DESCRIPTION = """\
Replay the alarm events in the EventBridge rule's dead-letter queue: start the incident state
machine with each event as its input, under a name derived from the event id (replay-<event id>),
then delete the message. A message that is not an event the rule delivers stays in the queue and
the report says which field is wrong. Running it again starts nothing twice.
"""
EPILOG = """\
exit status:
  0  every message received was replayed (with --dry-run: would be), or had been already
  3  some messages are not replayable events; they stay in the queue (the report says why)
  1  an AWS error stopped the run; the messages not replayed are visible in the queue again
  2  usage
"""


def register(sub: Any) -> None:
    events = sub.add_parser("events", help="the alarm events the EventBridge rule could not deliver")
    verbs = events.add_subparsers(dest="verb", required=True)
    parser = verbs.add_parser(
        "replay",
        help="start the workflow once for each event in the rule's dead-letter queue",
        usage=USAGE,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--stack",
        metavar="NAME",
        help=f"read {QUEUE_OUTPUT}, {STATE_MACHINE_OUTPUT} and AlarmNamePrefix from this stack",
    )
    parser.add_argument("--queue-url", metavar="URL", help="the dead-letter queue's URL (with ARN)")
    parser.add_argument(
        "--state-machine-arn", metavar="ARN", help="the incident state machine's ARN (with URL)"
    )
    parser.add_argument(
        "--alarm-name-prefix",
        metavar="PREFIX",
        help="the rule's AlarmNamePrefix (default: the stack's parameter, else the template's default)",
    )
    parser.add_argument("--region", metavar="R", help="AWS Region (default: your AWS configuration)")
    parser.add_argument(
        "--dry-run", action="store_true", help="report what would be replayed; start and delete nothing"
    )
    parser.add_argument("--max", type=_positive, metavar="N", help="handle at most N messages")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(func=run)
