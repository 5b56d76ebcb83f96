"""Run scenarios: the real state machine on moto's interpreter, the real handlers in-process.

For each scenario: a fresh moto account, the stack deployed from ``template.yaml``, the world
seeded, then every event offered to the template's EventBridge pattern. Matching events start an
execution; approvals are answered through the real approval API handler, as an approver
clicking the emailed link would; the report is read back from what AWS now holds (the incident
table, the notification topic, the execution history).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import botocore.handlers
from moto import mock_aws

from opspilot.adapters.items import from_item
from opspilot_sim import approver, chat_capture, fake_aws, moto_shim, registry_sim
from opspilot_sim.eventpattern import matches
from opspilot_sim.report import CHANGES, build_report
from opspilot_sim.scenario_run import CallLog, ScenarioRun
from opspilot_sim.stack import ACCOUNT_ID, SimulatedStack, apply_environment, deploy
from opspilot_sim.world import alarm_event, seed

MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
EXECUTION_DEADLINE_SECONDS = 120
FAST_APPROVAL_TIMEOUT = 2  # seconds, for scenarios that let an approval time out
APPROVAL_TIMEOUT = 120
INTERACTIVE_APPROVAL_TIMEOUT = 900  # a person at a browser: 15 minutes per round
POLL_FIRST, POLL_MAX = 0.02, 0.25  # seconds between looks at a running execution


def _cold_start() -> None:
    """Forget cached clients and settings, as a new Lambda execution environment would."""
    for name, module in list(sys.modules.items()):
        if not name.startswith("opspilot."):
            continue
        for value in list(vars(module).values()):
            if callable(value) and hasattr(value, "cache_clear") and getattr(value, "__module__", "") == name:
                value.cache_clear()


def _drain_inbox(run: ScenarioRun) -> None:
    if not moto_shim.queue_has_messages(run.stack.inbox_queue_url, run.stack.region):
        return
    sqs = run.client("sqs")
    while True:
        msgs = sqs.receive_message(QueueUrl=run.stack.inbox_queue_url, MaxNumberOfMessages=10).get(
            "Messages", []
        )
        if not msgs:
            return
        for m in msgs:
            envelope = json.loads(m["Body"])
            attrs = {k: v.get("Value") for k, v in (envelope.get("MessageAttributes") or {}).items()}
            run.notifications.append(
                {
                    "channel": "email",
                    "subject": envelope.get("Subject"),
                    "message": envelope.get("Message", ""),
                    "incident_id": attrs.get("incident_id"),
                    "approver": attrs.get("approver"),
                    "approval_round": attrs.get("approval_round"),
                }
            )
            sqs.delete_message(QueueUrl=run.stack.inbox_queue_url, ReceiptHandle=m["ReceiptHandle"])
            _deliver_to_chat_forwarder(run, envelope, attrs)


def _deliver_to_chat_forwarder(run: ScenarioRun, envelope: dict[str, Any], attrs: dict[str, Any]) -> None:
    """SNS -> Lambda delivery, which moto does not do for our in-process functions: the template's
    ChatForwarderFunction (deployed only when a chat webhook is configured) gets each message its
    subscription's filter policy admits, as an SNS event."""
    params = run.stack.parameters
    if not (params.get("SlackWebhookSecretArn") or params.get("TeamsWebhookSecretArn")):
        return
    if attrs.get("approver") is not None or attrs.get("kind") == "approval_request":
        return
    event = {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "Sns": {
                    "Type": "Notification",
                    "MessageId": envelope.get("MessageId"),
                    "TopicArn": run.stack.topic_arn,
                    "Subject": envelope.get("Subject"),
                    "Message": envelope.get("Message", ""),
                    "MessageAttributes": envelope.get("MessageAttributes") or {},
                },
            }
        ]
    }
    run.client("lambda").invoke(
        FunctionName=run.stack.function_by_logical_id["ChatForwarderFunction"], Payload=json.dumps(event)
    )


def _answer_approvals(run: ScenarioRun, event_spec: dict[str, Any]) -> None:
    """Each new approval link: clicked as the scenario says (approver.py), or shown to a person."""
    _drain_inbox(run)
    approver.answer(run, event_spec)


def _execution_facts(arn: str) -> dict[str, Any]:
    status, events = moto_shim.execution_history(arn)
    transitions = sum(1 for e in events if e["type"].endswith("StateEntered"))
    lambdas = sum(
        1
        for e in events
        if e["type"] == "LambdaFunctionScheduled"
        or (
            e["type"] == "TaskScheduled"
            and e.get("taskScheduledEventDetails", {}).get("resourceType") == "lambda"
        )
    )
    integrations = Counter(
        e["taskScheduledEventDetails"]["resourceType"] + ":" + e["taskScheduledEventDetails"]["resource"]
        for e in events
        if e["type"] == "TaskScheduled"
    )
    last_state: dict[str, Any] = {}
    for e in events:
        for key in ("stateEnteredEventDetails", "stateExitedEventDetails"):
            if key in e and e[key].get("input" if key.startswith("stateEntered") else "output"):
                raw = e[key].get("input") if key.startswith("stateEntered") else e[key].get("output")
                with suppress(TypeError, json.JSONDecodeError):
                    last_state = json.loads(raw)
    failed = next((e for e in events if e["type"] == "ExecutionFailed"), None)
    return {
        "status": status,
        "state_transitions": transitions,
        "lambda_invocations": lambdas,
        "service_integrations": dict(integrations),
        "states": [
            e["stateEnteredEventDetails"]["name"] for e in events if e["type"].endswith("StateEntered")
        ],
        "error": (failed or {}).get("executionFailedEventDetails"),
        "final_state": last_state,
    }


def _attached_incident(run: ScenarioRun, final: dict[str, Any]) -> str | None:
    """The incident a repeat counted on when the state machine attached it by itself
    (RecordRepeatedState: TransactWriteItems returns no item, so its output names only the alarm
    and the event). Read from the alarm's pointer ``ALARM#<name>`` / ``OPEN`` right after the
    execution, before the next one can move it: its ``incident_id``, if its ``last_event_id`` is
    this event; None otherwise (no id is made up)."""
    attached = final.get("attached_to")
    if not isinstance(attached, dict) or not isinstance(attached.get("alarm_name"), str):
        return None
    key = {"pk": f"ALARM#{attached['alarm_name']}", "sk": "OPEN"}
    item = moto_shim.dynamodb_item(ACCOUNT_ID, run.stack.region, run.stack.table_name, key)
    pointer = from_item(item) if item else {}
    if pointer.get("last_event_id") != attached.get("event_id") or not pointer.get("incident_id"):
        return None
    return str(pointer["incident_id"])


def _wait(run: ScenarioRun, sfn: Any, arn: str, event_spec: dict[str, Any]) -> None:
    seconds = EXECUTION_DEADLINE_SECONDS
    if run.interactive is not None:  # two approval rounds at a person's pace
        seconds = 2 * int(run.stack.parameters["ApprovalTimeoutSeconds"]) + EXECUTION_DEADLINE_SECONDS
    deadline = time.monotonic() + seconds
    pause = POLL_FIRST
    try:
        while time.monotonic() < deadline:
            if not moto_shim.execution_running(arn):
                return
            answered = len(run.answered)
            _answer_approvals(run, event_spec)
            # each look competes with the execution's thread for the interpreter: look often
            # at first and after a link, less the longer it runs
            pause = POLL_FIRST if len(run.answered) > answered else min(pause * 1.5, POLL_MAX)
            time.sleep(pause)
    except KeyboardInterrupt:
        sfn.stop_execution(executionArn=arn, error="Simulator.Interrupted", cause="stopped by Ctrl-C")
        raise
    sfn.stop_execution(executionArn=arn, error="Simulator.Deadline", cause="execution did not finish in time")


def run_scenario(
    scenario: dict[str, Any],
    quiet_logs: bool = True,
    interactive: Any = None,
    then: Callable[[str], None] | None = None,
    observe: Callable[[ScenarioRun, dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run one validated scenario and return its report document. With ``interactive`` (an
    ``interactive.InteractiveSession`` whose server is running) a person answers the approvals.
    ``then`` is called with the incident table's name while the simulated world still exists
    (``opspilot incidents --scenario`` reads it). ``observe`` is called after each execution ended
    and was read, with the run and what the report will hold of the execution (the storm
    benchmark samples the incidents open per model over time)."""
    region = scenario.get("region", "us-east-1")
    overrides = dict(scenario.get("parameters", {}))
    wants_timeout = any(e.get("approval") == "timeout" for e in scenario["events"])
    overrides.setdefault(
        "ApprovalTimeoutSeconds",
        INTERACTIVE_APPROVAL_TIMEOUT
        if interactive is not None
        else FAST_APPROVAL_TIMEOUT
        if wants_timeout
        else APPROVAL_TIMEOUT,
    )
    shim = moto_shim.ShimState()
    call_log = CallLog(shim)
    with ExitStack() as stack:
        stack.enter_context(mock_aws(config=MOTO_CONFIG))
        world = stack.enter_context(fake_aws.installed(fake_aws.SimulatedAws(account_id=ACCOUNT_ID)))
        botocore.handlers.BUILTIN_HANDLERS.append(("before-call", call_log))
        stack.callback(botocore.handlers.BUILTIN_HANDLERS.remove, ("before-call", call_log))
        boto3.DEFAULT_SESSION = None
        stack.enter_context(moto_shim.installed(shim))
        chat = stack.enter_context(chat_capture.installed(chat_capture.ChatCapture()))
        overrides.update(approver.webhook_secrets(scenario, region))
        deployed = deploy(region, overrides, interactive.base_url if interactive is not None else None)
        shim.handlers.update(deployed.handlers)
        previous_env = apply_environment(deployed)
        stack.callback(_restore_env, previous_env)
        if quiet_logs:
            previous_env.setdefault("POWERTOOLS_LOG_LEVEL", os.environ.get("POWERTOOLS_LOG_LEVEL"))
            os.environ["POWERTOOLS_LOG_LEVEL"] = "CRITICAL"
            metrics_off = "POWERTOOLS_METRICS_DISABLED"  # EMF lines would go to stdout
            previous_env.setdefault(metrics_off, os.environ.get(metrics_off))
            os.environ[metrics_off] = "true"
            moto_logger = logging.getLogger("moto")
            stack.callback(moto_logger.setLevel, moto_logger.level)
            moto_logger.setLevel(logging.CRITICAL + 1)
            # the handlers' Logger read POWERTOOLS_LOG_LEVEL when moto_shim imported them, before
            # it was set here: without this every step printed its INFO lines
            from opspilot.handlers import _runtime

            stack.callback(_runtime.logger.setLevel, _runtime.logger.log_level)
            _runtime.logger.setLevel(logging.CRITICAL)
        _cold_start()
        seed(scenario, world, region)
        provisioning = registry_sim.provision(scenario, deployed, world) if scenario.get("registry") else None
        _inject_faults(scenario, world, shim, deployed)
        world.clear_calls()
        # the report reads the parameters of the changes OpsPilot sent (report.CHANGES); the
        # world itself those of CloudWatch's alarm calls (SimulatedAws.after_call)
        world.params_of = frozenset(service for service, _ in CHANGES) | {"cloudwatch"}
        run = ScenarioRun(scenario, deployed, world, shim, call_log, chat=chat, interactive=interactive)
        run.observe = observe
        run.provisioning = provisioning
        report = _run_events(run)
        if then is not None:
            then(deployed.table_name)
        return report
    raise AssertionError("unreachable")


def _inject_faults(
    scenario: dict[str, Any], world: fake_aws.SimulatedAws, shim: moto_shim.ShimState, stack: SimulatedStack
) -> None:
    for fault in scenario.get("faults", []):
        world.faults.add(
            fault["service"],
            fault["operation"],
            error=fault.get("error"),
            lost=fault.get("lost", False),
            times=fault.get("times", 1),
            on_call=fault.get("on_call"),
            status=fault.get("status"),
        )
    for lost in scenario.get("lost_lambda_responses", []):
        if lost["function"] not in stack.function_by_logical_id:
            raise ValueError(f"lost_lambda_responses: no function {lost['function']!r} in template.yaml")
        name = stack.function_by_logical_id[lost["function"]]
        error = lost.get("error", "Lambda.ServiceException")
        schedule = shim.lost_responses.setdefault(name, [])  # None: that invocation answers
        first = lost.get("on_call", len(schedule) + 1) - 1
        schedule.extend([None] * max(0, first + lost.get("times", 1) - len(schedule)))
        schedule[first : first + lost.get("times", 1)] = [error] * lost.get("times", 1)


def _restore_env(previous: dict[str, str | None]) -> None:
    for key, value in previous.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@dataclass(frozen=True)
class Delivery:
    """One delivery of an event to the rule: EventBridge delivers at least once, in no set order."""

    index: int
    label: str
    event: Any
    spec: dict[str, Any]
    copy: int  # 0: the first delivery; n: the n-th duplicate (same event, same id)

    @property
    def late(self) -> bool:
        return bool(self.spec.get("delivered_after"))

    @property
    def note(self) -> str:
        parts = [f"duplicate {self.copy}"] if self.copy else []
        return ", ".join(parts + (["delivered late"] if self.late else []))


def _deliver(
    run: ScenarioRun,
    sfn: Any,
    delivery: Delivery,
    handled: list[dict[str, Any]],
    ignored: list[dict[str, Any]],
) -> None:
    """Offer one delivery to the rule's pattern; start its execution and wait for it to end."""
    index, event, spec = delivery.index, delivery.event, delivery.spec
    label = f"{delivery.label} ({delivery.note})" if delivery.note else delivery.label
    if not isinstance(event, dict) or not matches(run.stack.event_pattern, event):
        ignored.append({"index": index, "event": label, "reason": "does not match the rule's event pattern"})
        return
    # EventBridge names the executions it starts itself; one name per delivery keeps them apart
    suffix = f"-dup{delivery.copy}" if delivery.copy else ""
    name = f"event-{index}{suffix}-{event.get('id', '')}"[:80]
    first_note = len(run.notifications)
    arn = sfn.start_execution(
        stateMachineArn=run.stack.state_machine_arn, name=name, input=json.dumps(event)
    )["executionArn"]
    _wait(run, sfn, arn, spec)
    _drain_inbox(run)
    for note in run.notifications[first_note:]:  # executions run one at a time
        note.setdefault("execution", arn)
    facts = _execution_facts(arn)
    facts["attached_incident_id"] = _attached_incident(run, facts["final_state"])
    # what the report needs of the execution is read: moto need not keep it, nor the objects it
    # made on the way (long runs such as the 1,000-event storm grew by megabytes per event)
    moto_shim.release_execution(arn)
    handled.append({"index": index, "event": label, "execution_arn": arn, "facts": facts, "spec": spec})
    if run.observe is not None:
        run.observe(run, handled[-1])


def _run_events(run: ScenarioRun) -> dict[str, Any]:
    scenario, stack = run.scenario, run.stack
    sfn = run.client("stepfunctions")
    cw = run.client("cloudwatch")
    alarms = {a["name"]: a for a in scenario.get("alarms", [])}
    alarms |= run.provisioning.alarms if run.provisioning else {}
    alarm_states: dict[str, str] = {name: a.get("state", "OK") for name, a in alarms.items()}
    ignored: list[dict[str, Any]] = []
    handled: list[dict[str, Any]] = []
    held: list[tuple[int, Delivery]] = []  # (deliver after this many more events, delivery)
    for index, spec in enumerate(scenario["events"]):
        event_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"opspilot:{scenario['name']}:{index}"))
        if "raw" in spec:
            event = spec["raw"]
            label = f"raw event #{index}"
            detail = event.get("detail") if isinstance(event, dict) else None
            detail = detail if isinstance(detail, dict) else {}
            name = detail.get("alarmName")
            state = detail["state"].get("value") if isinstance(detail.get("state"), dict) else None
            if isinstance(name, str) and name in alarms and state in {"ALARM", "OK"}:
                # the scenario's own alarm sent it: CloudWatch has the alarm in that state now
                alarm_states[name] = state
                cw.set_alarm_state(AlarmName=name, StateValue=state, StateReason="raw event")
        else:
            alarm = alarms[spec["alarm"]]
            previous = alarm_states[alarm["name"]]
            stamped = spec.get("stamped")  # forged or from a broken clock: the alarm did not change
            if stamped is None:
                alarm_states[alarm["name"]] = spec["state"]
                cw.set_alarm_state(
                    AlarmName=alarm["name"],
                    StateValue=spec["state"],
                    StateReason=spec.get("reason", "scenario"),
                )
            build = registry_sim.provisioned_alarm_event if alarm.get("provisioned") else alarm_event
            event = build(
                alarm,
                spec["state"],
                previous,
                spec.get("reason", "scenario"),
                event_id,
                stack.region,
                ACCOUNT_ID,
                datetime.fromisoformat(stamped.replace("Z", "+00:00")) if stamped else datetime.now(UTC),
                spec.get("datapoints"),
            )
            label = f"{alarm['name']} -> {spec['state']}" + (f" (stamped {stamped})" if stamped else "")
        copies = [Delivery(index, label, event, spec, copy) for copy in range(1 + spec.get("duplicates", 0))]
        due = [d for d in held if d[0] == 0]
        held = [(n - 1, d) for n, d in held if n > 0]
        if spec.get("delivered_after"):
            held += [(spec["delivered_after"] - 1, d) for d in copies]
            copies = []
        for delivery in copies + [d for _, d in due]:
            _deliver(run, sfn, delivery, handled, ignored)
    for _, delivery in held:  # held past the last event: delivered at the end
        _deliver(run, sfn, delivery, handled, ignored)
    return build_report(run, handled, ignored)
