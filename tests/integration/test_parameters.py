"""Switches and secrets through Powertools Parameters, against moto: read at most once per max age,
and fresh enough that an operator's change takes effect in time."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import boto3
import pytest

from opspilot.adapters import messaging, webhooks
from opspilot.adapters.aws import client
from opspilot.domain.errors import AwsPermissionError, InvalidInput
from opspilot.handlers import chat_forwarder
from opspilot.settings import chat_settings
from opspilot_sim import chat_capture
from opspilot_sim.moto_shim import LambdaContextStub
from opspilot_sim.stack import SimulatedStack

SLACK = "https://hooks.slack.com/services/T0000/B0000/secretsecretsecret"
TEAMS = "https://contoso.webhook.office.com/webhookb2/0000/IncomingWebhook/secret"


@pytest.fixture(autouse=True)
def fresh_providers() -> Iterator[None]:
    """A new execution environment: nothing cached from another test's account."""
    for cached in (messaging._parameters, webhooks._secrets, chat_settings):
        cached.cache_clear()
    yield
    for cached in (messaging._parameters, webhooks._secrets, chat_settings):
        cached.cache_clear()


def calls_to(service: str, operation: str) -> list[dict[str, Any]]:
    """Every call the functions' shared client makes to ``operation`` from now on."""
    seen: list[dict[str, Any]] = []
    client(service).meta.events.register(
        f"before-call.*.{operation}", lambda params, **_: seen.append(params["body"] if params else {})
    )
    return seen


def later(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Move the clock Powertools' cache reads forward."""
    from aws_lambda_powertools.utilities.parameters import base

    class Later(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Any:
            return datetime.now(tz) + timedelta(seconds=seconds)

    monkeypatch.setattr(base, "datetime", Later)


def test_flipping_the_dry_run_switch_takes_effect_within_a_minute(
    stack: SimulatedStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = stack.environment["DRY_RUN_PARAMETER_NAME"]
    ssm = boto3.client("ssm", region_name=stack.region)
    reads = calls_to("ssm", "GetParameter")
    ssm.put_parameter(Name=name, Value="false", Type="String", Overwrite=True)
    assert messaging.read_flag(name) is False
    ssm.put_parameter(Name=name, Value="true", Type="String", Overwrite=True)
    assert messaging.read_flag(name) is False, "a warm function reuses the value for a while"
    assert len(reads) == 1
    assert messaging.SWITCH_MAX_AGE_SECONDS < 60
    later(monkeypatch, 60)
    assert messaging.read_flag(name) is True, "a minute after the flip every function sees it"
    assert len(reads) == 2


def test_a_switch_aws_refuses_is_the_domain_error_with_its_code(
    stack: SimulatedStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.stub import Stubber

    ssm = boto3.client("ssm", region_name=stack.region)
    with Stubber(ssm) as stub:
        stub.add_client_error("get_parameter", "AccessDeniedException", "not allowed")
        monkeypatch.setattr(messaging, "client", lambda service: ssm)
        with pytest.raises(AwsPermissionError, match=r"SSM GetParameter .*: AccessDeniedException"):
            messaging.read_flag("/opspilot/dry-run")


def sns_event(count: int) -> dict[str, Any]:
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "Sns": {"Type": "Notification", "Subject": f"[OpsPilot] opened {i}", "Message": f"m{i}"},
            }
            for i in range(count)
        ]
    }


def test_the_chat_forwarder_reads_each_webhook_secret_once_not_once_per_record(
    stack: SimulatedStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = boto3.client("secretsmanager", region_name=stack.region)
    monkeypatch.setenv("SLACK_WEBHOOK_SECRET_ARN", secrets.create_secret(Name="s", SecretString=SLACK)["ARN"])
    teams = secrets.create_secret(Name="t", SecretString=json.dumps({"url": TEAMS}))["ARN"]
    monkeypatch.setenv("TEAMS_WEBHOOK_SECRET_ARN", teams)
    reads = calls_to("secretsmanager", "GetSecretValue")
    ctx: Any = LambdaContextStub(function_name="ChatForwarderFunction")
    with chat_capture.installed(chat_capture.ChatCapture()) as capture:
        first = chat_forwarder.handler(sns_event(3), ctx)
        second = chat_forwarder.handler(sns_event(2), ctx)
    assert [s["status"] for s in first["sent"] + second["sent"]] == [200] * 10
    assert [p.channel for p in capture.posts] == ["slack", "teams"] * 5
    assert len(reads) == 2, "one read per channel, kept for the next invocations"


def test_a_webhook_secret_that_cannot_be_read_is_tried_once_per_invocation(
    stack: SimulatedStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    arn = f"arn:aws:secretsmanager:{stack.region}:123456789012:secret:missing-AbCdEf"
    monkeypatch.setenv("SLACK_WEBHOOK_SECRET_ARN", arn)
    monkeypatch.setenv("TEAMS_WEBHOOK_SECRET_ARN", "")
    reads = calls_to("secretsmanager", "GetSecretValue")
    ctx: Any = LambdaContextStub(function_name="ChatForwarderFunction")
    with chat_capture.installed(chat_capture.ChatCapture()) as capture:
        result = chat_forwarder.handler(sns_event(3), ctx)
    assert result["sent"] == [{"channel": "slack", "status": "failed"}] * 3
    assert capture.posts == [] and len(reads) == 1


@pytest.mark.parametrize(
    ("record", "field"),
    [
        (
            {"EventSource": "aws:sns", "Sns": {"Type": "Notification", "Subject": "s"}},
            "Records.1.Sns.Message",
        ),
        ({"EventSource": "aws:sns"}, "Records.1.Sns"),
        ({"Sns": {"Subject": 7, "Message": "m"}}, "Records.1.Sns.Subject"),
    ],
)
def test_an_unreadable_sns_record_fails_the_invocation_naming_the_field(
    stack: SimulatedStack, monkeypatch: pytest.MonkeyPatch, record: dict[str, Any], field: str
) -> None:
    """Nothing is half-forwarded: the whole event fails before any post, so Lambda's retries and
    then the NotificationDeadLetterQueue keep every record of it."""
    secrets = boto3.client("secretsmanager", region_name=stack.region)
    monkeypatch.setenv("SLACK_WEBHOOK_SECRET_ARN", secrets.create_secret(Name="s", SecretString=SLACK)["ARN"])
    monkeypatch.setenv("TEAMS_WEBHOOK_SECRET_ARN", "")
    event = sns_event(2)
    event["Records"][1] = record
    ctx: Any = LambdaContextStub(function_name="ChatForwarderFunction")
    with (
        chat_capture.installed(chat_capture.ChatCapture()) as capture,
        pytest.raises(InvalidInput, match=f"^field '{re.escape(field)}': "),
    ):
        chat_forwarder.handler(event, ctx)
    assert capture.posts == []
    with chat_capture.installed(chat_capture.ChatCapture()) as capture:  # a null Subject is SNS's own
        event["Records"][1] = {"Sns": {"Type": "Notification", "Subject": None, "Message": "m"}}
        assert [s["status"] for s in chat_forwarder.handler(event, ctx)["sent"]] == [200, 200]
    assert [p.channel for p in capture.posts] == ["slack", "slack"]
