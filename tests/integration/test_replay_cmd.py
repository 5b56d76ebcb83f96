"""``opspilot events replay`` against moto: the simulated stack's state machine (from the real ASL;
plain moto records the executions it is asked to start and runs none) and the template's
dead-letter queue, deployed by a CloudFormation stack that carries the template's own queue
resource and outputs."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from opspilot_cli import replay_cmd
from opspilot_cli.main import main
from opspilot_cli.replay_cmd import execution_name, replay, rule_pattern
from opspilot_sim.stack import ACCOUNT_ID, SimulatedStack
from opspilot_sim.template import load_template

REGION = "us-east-1"
EVENTS = Path(__file__).resolve().parents[2] / "events"
THROTTLES = (EVENTS / "alarm-throttles.json").read_text()
RECOVERED = (EVENTS / "alarm-ok.json").read_text()
MALFORMED = (EVENTS / "malformed-missing-timestamp.json").read_text()
THROTTLES_ID = json.loads(THROTTLES)["id"]
RECOVERED_ID = json.loads(RECOVERED)["id"]
MALFORMED_ID = json.loads(MALFORMED)["id"]
ALARM = "opspilot-claude-3-7-sonnet-invocation-throttles"


def variant(body: str, event_id: str, alarm_name: str | None = None) -> str:
    event = json.loads(body)
    event["id"] = event_id
    if alarm_name:
        event["detail"]["alarmName"] = alarm_name
    return json.dumps(event, indent=2)


OTHER_TEAM_ID = "5b7e2c90-1d4f-4a8e-b6c3-0f9a8d7e6c51"
OTHER_TEAM = variant(THROTTLES, OTHER_TEAM_ID, "acme-claude-3-7-sonnet-invocation-throttles")


@dataclass
class Env:
    stack: SimulatedStack
    stack_name: str
    queue_url: str
    sqs: Any
    sfn: Any

    def dead_letter(self, body: str, error_code: str = "SDK_CLIENT_ERROR") -> str:
        """Put a message into the queue as EventBridge does: the event as body, why as attributes."""
        rule = f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/opspilot-IncidentStateMachineAlarmStateChange"
        attributes = {
            "RULE_ARN": rule,
            "TARGET_ARN": self.stack.state_machine_arn,
            "ERROR_CODE": error_code,
            "ERROR_MESSAGE": "Rate exceeded",
            "EXHAUSTED_RETRY_CONDITION": "MaximumEventAgeInSeconds",
            "RETRY_ATTEMPTS": "185",
        }
        return str(
            self.sqs.send_message(
                QueueUrl=self.queue_url,
                MessageBody=body,
                MessageAttributes={
                    k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()
                },
            )["MessageId"]
        )

    def executions(self) -> dict[str, str]:
        """Every execution of the state machine: name -> input."""
        listed = self.sfn.list_executions(stateMachineArn=self.stack.state_machine_arn)["executions"]
        return {
            e["name"]: self.sfn.describe_execution(executionArn=e["executionArn"])["input"] for e in listed
        }

    def visible(self) -> list[str]:
        """The bodies a consumer receives now (and leaves visible)."""
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0
        ).get("Messages", [])
        return sorted(m["Body"] for m in messages)

    def in_queue(self) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )


def _deploy_queue_stack(name: str, state_machine_arn: str, prefix: str) -> str:
    """A CloudFormation stack with template.yaml's dead-letter queue, its AlarmNamePrefix
    parameter and the two outputs the command reads (moto cannot deploy the SAM template itself)."""
    template = load_template()
    body = {
        "Parameters": {"AlarmNamePrefix": template["Parameters"]["AlarmNamePrefix"]},
        "Resources": {"AlarmEventDeadLetterQueue": template["Resources"]["AlarmEventDeadLetterQueue"]},
        "Outputs": {
            "AlarmEventDeadLetterQueueUrl": template["Outputs"]["AlarmEventDeadLetterQueueUrl"],
            "IncidentStateMachineArn": {"Value": state_machine_arn},
        },
    }
    cfn = boto3.client("cloudformation", region_name=REGION)
    cfn.create_stack(
        StackName=name,
        TemplateBody=json.dumps(body),
        Parameters=[{"ParameterKey": "AlarmNamePrefix", "ParameterValue": prefix}],
    )
    outputs = cfn.describe_stacks(StackName=name)["Stacks"][0]["Outputs"]
    return str(next(o["OutputValue"] for o in outputs if o["OutputKey"] == "AlarmEventDeadLetterQueueUrl"))


@pytest.fixture(autouse=True)
def short_polling(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto answers a long poll of an empty queue after the whole wait; the tests need no wait."""
    monkeypatch.setattr(replay_cmd, "RECEIVE_WAIT_SECONDS", 0)


@pytest.fixture
def env(stack: SimulatedStack) -> Iterator[Env]:
    queue_url = _deploy_queue_stack("opspilot", stack.state_machine_arn, "opspilot-")
    yield Env(
        stack,
        "opspilot",
        queue_url,
        boto3.client("sqs", region_name=REGION),
        boto3.client("stepfunctions", region_name=REGION),
    )


def cli(capsys: pytest.CaptureFixture[str], env: Env, *args: str) -> tuple[int, str, str]:
    where = ["--queue-url", env.queue_url, "--state-machine-arn", env.stack.state_machine_arn]
    status = main(["events", "replay", *where, "--region", REGION, *args])
    out, err = capsys.readouterr()
    return status, out, err


def rows(out: str) -> dict[str, list[str]]:
    """The report's lines by their first column (the event id), split into columns."""
    table = out.split("\n\n")[0].splitlines()
    assert re.split(r"\s{2,}", table[0]) == ["EVENT", "ALARM", "STATE", "TIME", "ERROR_CODE", "RESULT"]
    return {cells[0]: cells[1:] for cells in (re.split(r"\s{2,}", line, maxsplit=5) for line in table[1:])}


def test_dead_lettered_events_are_started_with_their_body_under_the_event_id(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    env.dead_letter(THROTTLES)
    env.dead_letter(RECOVERED, "NO_PERMISSIONS")

    status, out, err = cli(capsys, env)

    assert (status, err) == (0, "")
    assert env.executions() == {f"replay-{THROTTLES_ID}": THROTTLES, f"replay-{RECOVERED_ID}": RECOVERED}
    assert rows(out) == {
        THROTTLES_ID: [
            ALARM,
            "ALARM",
            "2026-11-30T10:00:21Z",
            "SDK_CLIENT_ERROR",
            f"started replay-{THROTTLES_ID}",
        ],
        RECOVERED_ID: [
            ALARM,
            "OK",
            "2026-11-30T10:41:07Z",
            "NO_PERMISSIONS",
            f"started replay-{RECOVERED_ID}",
        ],
    }
    assert out.rstrip().endswith("2 message(s): 2 started, 0 already replayed (deleted), 0 left in the queue")
    assert env.in_queue() == 0


def test_replaying_again_starts_nothing_new(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    env.dead_letter(THROTTLES)
    env.dead_letter(RECOVERED)
    assert cli(capsys, env)[0] == 0
    env.dead_letter(THROTTLES)  # dead-lettered twice (delivery is at least once), or not deleted
    env.dead_letter(RECOVERED)

    status, out, _ = cli(capsys, env)

    assert status == 0
    assert sorted(env.executions()) == sorted([f"replay-{THROTTLES_ID}", f"replay-{RECOVERED_ID}"])
    assert rows(out)[THROTTLES_ID][-1] == (
        f"already replayed: replay-{THROTTLES_ID} is RUNNING; message deleted"
    )
    assert "2 message(s): 0 started, 2 already replayed (deleted), 0 left in the queue" in out
    assert env.in_queue() == 0
    assert cli(capsys, env)[:2] == (0, f"no messages in {env.queue_url}\n")


def test_messages_that_are_not_events_of_the_rule_stay_and_the_field_is_named(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    malformed = env.dead_letter(MALFORMED)
    not_json = env.dead_letter("{not json")
    other_team = env.dead_letter(OTHER_TEAM)

    status, out, err = cli(capsys, env)

    assert (status, err) == (3, "")
    assert env.executions() == {}
    assert env.visible() == sorted([MALFORMED, "{not json", OTHER_TEAM])  # all there, visible now
    lines = out.splitlines()
    assert any(
        line.startswith(MALFORMED_ID)
        and line.endswith(
            f"left in the queue (message {malformed}): field 'detail.state.timestamp': is required"
        )
        for line in lines
    )
    assert any(
        line.startswith("-")
        and line.endswith(
            f"left in the queue (message {not_json}): body: not JSON "
            "(Expecting property name enclosed in double quotes at line 1 column 2)"
        )
        for line in lines
    )
    assert rows(out)[OTHER_TEAM_ID][-1] == (
        f"left in the queue (message {other_team}): field 'detail.alarmName': "
        '"acme-claude-3-7-sonnet-invocation-throttles" does not match the rule\'s pattern '
        '[{"prefix": "opspilot-"}]'
    )
    assert "3 message(s): 0 started, 0 already replayed (deleted), 3 left in the queue" in out


def test_dry_run_starts_nothing_and_leaves_every_message(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    env.dead_letter(THROTTLES)
    env.dead_letter(MALFORMED)

    status, out, _ = cli(capsys, env, "--dry-run")

    assert status == 3
    assert env.executions() == {}
    assert env.visible() == sorted([THROTTLES, MALFORMED])
    assert rows(out)[THROTTLES_ID][-1] == f"would start replay-{THROTTLES_ID}"
    assert rows(out)[MALFORMED_ID][-1].startswith("stays in the queue")
    assert (
        "dry run, nothing changed: 2 message(s): 1 would start, 0 already replayed, 1 would stay in the queue"
        in out
    )


def test_max_limits_how_many_messages_are_handled(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    ids = [f"00000000-0000-4000-8000-00000000000{i}" for i in range(3)]
    for event_id in ids:
        env.dead_letter(variant(THROTTLES, event_id))

    status, out, _ = cli(capsys, env, "--max", "2")

    assert status == 0
    started = env.executions()
    assert len(started) == 2 and set(started) < {f"replay-{i}" for i in ids}
    assert env.in_queue() == 1
    (remaining,) = env.visible()
    assert f"replay-{json.loads(remaining)['id']}" not in started
    assert "stopped at --max 2: more messages may be waiting" in out


def test_json_report(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    env.dead_letter(THROTTLES)
    malformed = env.dead_letter(MALFORMED)

    status, out, _ = cli(capsys, env, "--json")

    doc = json.loads(out)
    assert status == 3
    assert doc["summary"] == {"received": 2, "started": 1, "already_replayed": 0, "would_start": 0, "left": 1}
    by_event = {m["event_id"]: m for m in doc["messages"]}
    assert by_event[THROTTLES_ID]["result"] == "started"
    assert by_event[THROTTLES_ID]["execution_arn"] == (
        env.stack.state_machine_arn.replace(":stateMachine:", ":execution:") + f":replay-{THROTTLES_ID}"
    )
    assert by_event[THROTTLES_ID]["dead_letter"]["EXHAUSTED_RETRY_CONDITION"] == "MaximumEventAgeInSeconds"
    assert by_event[MALFORMED_ID] | {"dead_letter": {}} == {
        "message_id": malformed,
        "result": "left",
        "event_id": MALFORMED_ID,
        "alarm_name": ALARM,
        "state": "ALARM",
        "time": "2026-11-30T10:00:21Z",
        "execution_name": None,
        "execution_arn": None,
        "execution_status": None,
        "reason": "field 'detail.state.timestamp': is required",
        "dead_letter": {},
    }


def test_the_stack_gives_the_queue_the_state_machine_and_the_alarm_name_prefix(
    stack: SimulatedStack, capsys: pytest.CaptureFixture[str]
) -> None:
    queue_url = _deploy_queue_stack("team-acme", stack.state_machine_arn, "acme-")
    sqs = boto3.client("sqs", region_name=REGION)
    for body in (THROTTLES, OTHER_TEAM):
        sqs.send_message(QueueUrl=queue_url, MessageBody=body)

    status = main(["events", "replay", "--stack", "team-acme", "--region", REGION])
    out, err = capsys.readouterr()

    assert (status, err) == (3, "")
    sfn = boto3.client("stepfunctions", region_name=REGION)
    started = sfn.list_executions(stateMachineArn=stack.state_machine_arn)["executions"]
    assert [e["name"] for e in started] == [f"replay-{OTHER_TEAM_ID}"]
    assert "field 'detail.alarmName': " in rows(out)[THROTTLES_ID][-1]
    assert '[{"prefix": "acme-"}]' in rows(out)[THROTTLES_ID][-1]


def test_an_execution_started_between_the_check_and_the_start_counts_as_replayed(env: Env) -> None:
    env.dead_letter(THROTTLES)
    sfn = boto3.client("stepfunctions", region_name=REGION)
    name = f"replay-{THROTTLES_ID}"
    with Stubber(sfn) as stubbed:
        stubbed.add_client_error("describe_execution", "ExecutionDoesNotExist", http_status_code=400)
        stubbed.add_client_error(
            "start_execution",
            "ExecutionAlreadyExists",
            http_status_code=400,
            expected_params={
                "stateMachineArn": env.stack.state_machine_arn,
                "name": name,
                "input": THROTTLES,
            },
        )
        report = replay(env.sqs, sfn, env.queue_url, env.stack.state_machine_arn, rule_pattern({}))
        stubbed.assert_no_pending_responses()

    assert [(o.event_id, o.result) for o in report.outcomes] == [(THROTTLES_ID, "already_replayed")]
    assert env.in_queue() == 0


def test_an_execution_of_that_name_with_another_input_keeps_the_message(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    name = f"replay-{THROTTLES_ID}"
    env.sfn.start_execution(stateMachineArn=env.stack.state_machine_arn, name=name, input=RECOVERED)
    env.dead_letter(THROTTLES)

    status, out, _ = cli(capsys, env)

    assert status == 3
    assert env.executions() == {name: RECOVERED}
    assert env.visible() == [THROTTLES]
    assert f"execution {name} exists for this event id with a different input" in rows(out)[THROTTLES_ID][-1]


def test_an_aws_error_is_reported_without_a_traceback_and_the_message_stays(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    env.dead_letter(THROTTLES)
    gone = f"arn:aws:states:{REGION}:{ACCOUNT_ID}:stateMachine:deleted-machine"

    status = main(["events", "replay", "--queue-url", env.queue_url, "--state-machine-arn", gone])
    out, err = capsys.readouterr()

    assert status == 1
    assert err.startswith("opspilot: events replay: An error occurred (StateMachineDoesNotExist)")
    assert "Traceback" not in err + out
    assert "stopped by an AWS error" in out
    assert env.visible() == [THROTTLES]
    assert env.executions() == {}


def test_a_missing_queue_or_stack_is_a_clear_error(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    missing = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT_ID}/no-such-queue"
    where = ["--queue-url", missing, "--state-machine-arn", env.stack.state_machine_arn]
    assert main(["events", "replay", *where, "--region", REGION]) == 1
    assert capsys.readouterr() == (
        "",
        "opspilot: events replay: An error occurred (AWS.SimpleQueueService.NonExistentQueue) when "
        "calling the ReceiveMessage operation: The specified queue does not exist.\n",
    )

    assert main(["events", "replay", "--stack", "no-such-stack", "--region", REGION]) == 1
    assert capsys.readouterr().err.startswith("opspilot: events replay: stack 'no-such-stack': ")

    assert main(["events", "replay", "--queue-url", missing]) == 2
    assert "--stack NAME, or --queue-url URL and --state-machine-arn ARN" in capsys.readouterr().err


@pytest.mark.parametrize(
    "event_id", ["6f0c1c5e-3b9a-4e0f-9d3b-2a1f4c8e7b11", "x" * 74, "id with spaces/and:colons", ""]
)
def test_execution_names_are_deterministic_valid_and_distinct(event_id: str) -> None:
    name = execution_name(event_id)
    assert name == execution_name(event_id)
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,80}", name)
    assert name != execution_name(event_id + "x")
    if re.fullmatch(r"[A-Za-z0-9-]{1,73}", event_id):
        assert name == f"replay-{event_id}"
