"""Request Approval against moto: one link per approver, escalation, retries, chat channels.

What approvers receive is read from the notification topic through the simulator's inbox queue
(an SQS subscription), and from the chat webhooks captured at the HTTP boundary.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from opspilot.adapters.approvals import ApprovalStore
from opspilot.adapters.incidents import IncidentStore
from opspilot.domain.approvals import link_key, request_ref
from opspilot.domain.format import iso
from opspilot.handlers import request_approval
from opspilot.settings import approval_settings
from opspilot_sim import chat_capture, fake_aws
from opspilot_sim.approver import approval_event, call
from opspilot_sim.moto_shim import LambdaContextStub
from opspilot_sim.stack import SimulatedStack

CTX: Any = LambdaContextStub(function_name="RequestApprovalFunction")
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:opspilot-sim-IncidentStateMachine:e1"
LINK = re.compile(r"/approvals/([A-Za-z0-9_-]{32})")
SLACK = "https://hooks.slack.com/services/T0000/B0000/secretsecretsecret"
TEAMS = "https://contoso.webhook.office.com/webhookb2/0000/IncomingWebhook/secret"
# RequestApproval's input as the state machine sends it (events/request-approval.json)
TASK_INPUT = json.loads(
    (Path(__file__).resolve().parents[2] / "events" / "request-approval.json").read_text()
)
INCIDENT, PLAN, CONTEXT = (TASK_INPUT["state"][k] for k in ("incident", "plan", "context"))


def invoke(round_: int = 1, token: str = "task-token-1", entered: datetime | None = None) -> dict[str, Any]:
    event = {
        "execution_id": EXECUTION,
        "task_token": token,
        "round": round_,
        "entered_at": iso(entered or datetime.now(UTC)),
        "state": {"incident": INCIDENT, "plan": PLAN, "context": CONTEXT},
    }
    return dict(request_approval.handler(event, CTX))


def inbox(stack: SimulatedStack) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs", region_name=stack.region)
    out: list[dict[str, Any]] = []
    while msgs := sqs.receive_message(QueueUrl=stack.inbox_queue_url, MaxNumberOfMessages=10).get("Messages"):
        for m in msgs:
            body = json.loads(m["Body"])
            attrs = {k: v["Value"] for k, v in (body.get("MessageAttributes") or {}).items()}
            out.append({"subject": body["Subject"], "message": body["Message"], "attributes": attrs})
            sqs.delete_message(QueueUrl=stack.inbox_queue_url, ReceiptHandle=m["ReceiptHandle"])
    return out


@pytest.fixture
def incident(stack: SimulatedStack) -> IncidentStore:
    store = IncidentStore(stack.table_name, 30)
    store.put_incident("inc-7", {"status": "planned", "incident": INCIDENT}, datetime.now(UTC))
    return store


@pytest.fixture
def escalation(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("ESCALATION_APPROVER_EMAILS", "head@example.com")
    approval_settings.cache_clear()
    yield
    approval_settings.cache_clear()


def test_each_approver_gets_a_link_of_their_own(stack: SimulatedStack, incident: IncidentStore) -> None:
    invoke()
    messages = inbox(stack)
    assert [m["attributes"].get("approver") for m in messages] == ["lead@example.com", "oncall@example.com"]
    links = [LINK.search(m["message"]).group(1) for m in messages]  # type: ignore[union-attr]
    assert len(set(links)) == 2
    first = messages[0]
    assert first["subject"] == "[OpsPilot] Approval needed: Quota pressure on amazon.nova-pro-v1:0"
    assert "L-F2717A44 Requests per minute: 1,000 -> 1,500" in first["message"]
    assert "decide as lead@example.com" in first["message"]
    for link, approver in zip(links, ("lead@example.com", "oncall@example.com"), strict=True):
        page = call(approval_event(link, "GET"))
        assert page["statusCode"] == 200 and f"<b class=approver>{approver}</b>" in page["body"]
    record = ApprovalStore(stack.table_name).get_request(request_ref(EXECUTION, 1)) or {}
    assert record["approvers"] == ["lead@example.com", "oncall@example.com"]
    assert record["channels"] == [{"channel": "email", "status": "sent", "messages": 2}]
    stored = json.dumps(record)
    assert all(link not in stored for link in links), "the table holds hashes, never link ids"
    approval = (incident.get_incident("inc-7") or {})["approval"]
    assert (approval["status"], approval["round"], approval["channels"]) == ("pending", 1, ["email"])
    (audit,) = incident.audit_trail("inc-7")
    assert audit["data"]["links"] == [link_key(link)[:12] for link in links]


def test_every_log_line_carries_the_execution_as_its_correlation_id(
    stack: SimulatedStack, incident: IncidentStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from opspilot.handlers._runtime import logger

    logs = io.StringIO()
    monkeypatch.setattr(logger.registered_handler, "stream", logs)
    invoke()
    invoke(token="retried")  # a second invocation of the same execution: the id is set again
    lines = [json.loads(line) for line in logs.getvalue().splitlines() if line.startswith("{")]
    assert len(lines) >= 2
    assert {line.get("correlation_id") for line in lines} == {EXECUTION}


def test_the_link_expires_when_the_workflow_stops_waiting(
    stack: SimulatedStack, incident: IncidentStore
) -> None:
    entered = datetime.now(UTC) - timedelta(minutes=10)
    invoke(entered=entered)
    record = ApprovalStore(stack.table_name).get_request(request_ref(EXECUTION, 1)) or {}
    assert record["expires_at"] == iso(entered + timedelta(seconds=3600))


def test_the_pending_gauge_failing_does_not_fail_the_request_once_the_links_are_sent(
    stack: SimulatedStack, incident: IncidentStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The PendingApprovals Query is throttled after the links went out: the step still succeeds
    (a failure here would fail the workflow while approvers hold working links)."""
    from opspilot.handlers import _approval_runtime

    world = fake_aws.SimulatedAws()
    ddb = boto3.client(
        "dynamodb",
        region_name=stack.region,
        config=Config(retries={"mode": "standard", "total_max_attempts": 3}),
    )
    fake_aws.attach(ddb, world)
    monkeypatch.setattr(_approval_runtime.approvals(), "_ddb", ddb)
    world.fail_next("dynamodb", "Query", "ProvisionedThroughputExceededException", times=3)
    assert invoke() == {"approval_requested": True, "round": 1, "approvers": 2}
    assert len(inbox(stack)) == 2
    assert world.calls_to("dynamodb", "Query"), "the gauge was tried"


def test_a_retried_invocation_sends_nothing_twice(stack: SimulatedStack, incident: IncidentStore) -> None:
    invoke(token="first-attempt")
    assert len(inbox(stack)) == 2
    assert invoke(token="second-attempt")["retried"] is True
    assert inbox(stack) == []
    record = ApprovalStore(stack.table_name).get_request(request_ref(EXECUTION, 1)) or {}
    assert record["task_token"] == "second-attempt"


def test_escalation_supersedes_the_first_links_and_asks_the_second_group(
    stack: SimulatedStack, incident: IncidentStore, escalation: None
) -> None:
    invoke()
    first_links = [LINK.search(m["message"]).group(1) for m in inbox(stack)]  # type: ignore[union-attr]
    invoke(round_=2, token="task-token-2")
    notice, escalated = inbox(stack)
    assert notice["subject"] == "[OpsPilot] approval escalated: amazon.nova-pro-v1:0"
    assert "approver" not in notice["attributes"], "the notice goes to the general subscription"
    assert escalated["attributes"]["approver"] == "head@example.com"
    assert escalated["subject"].startswith("[OpsPilot] Escalated approval needed")
    assert "last round (2 of 2)" in escalated["message"]
    for link in first_links:
        page = call(approval_event(link, "GET"))
        assert page["statusCode"] == 410 and "This link no longer works" in page["body"]
    new_link = LINK.search(escalated["message"]).group(1)  # type: ignore[union-attr]
    page = call(approval_event(new_link, "GET"))
    assert page["statusCode"] == 200 and "round 2 of 2" in page["body"]
    store = ApprovalStore(stack.table_name)
    assert (store.get_request(request_ref(EXECUTION, 1)) or {})["status"] == "SUPERSEDED"
    assert [p["round"] for p in store.pending(datetime.now(UTC))] == [2]
    kinds = [a["kind"] for a in incident.audit_trail("inc-7")]
    assert kinds.count("approval_escalated") == 1


@pytest.fixture
def webhooks(stack: SimulatedStack, monkeypatch: pytest.MonkeyPatch) -> Iterator[chat_capture.ChatCapture]:
    secrets = boto3.client("secretsmanager", region_name=stack.region)
    slack = secrets.create_secret(Name="slack", SecretString=SLACK)["ARN"]
    teams = secrets.create_secret(Name="teams", SecretString=json.dumps({"url": TEAMS}))["ARN"]
    monkeypatch.setenv("SLACK_WEBHOOK_SECRET_ARN", slack)
    monkeypatch.setenv("TEAMS_WEBHOOK_SECRET_ARN", teams)
    approval_settings.cache_clear()
    with chat_capture.installed(chat_capture.ChatCapture()) as capture:
        yield capture
    approval_settings.cache_clear()


def test_slack_and_teams_get_a_link_of_their_own_never_an_approvers(
    stack: SimulatedStack, incident: IncidentStore, webhooks: chat_capture.ChatCapture
) -> None:
    invoke()
    emailed = {m["attributes"]["approver"]: LINK.search(m["message"]).group(0) for m in inbox(stack)}  # type: ignore[union-attr]
    slack, teams = webhooks.posts
    assert (slack.channel, teams.channel) == ("slack", "teams")
    personal = {url.split("/approvals/")[1] for url in emailed.values()}
    chat_ids = []
    for post in (slack, teams):
        (button,) = post.buttons()
        assert button["title"] == f"Review as {post.channel} channel"
        chat_ids.append(button["url"].split("/approvals/")[1])
    assert not personal & set(chat_ids), "a shared channel never carries an approver's personal link"
    assert len(set(chat_ids)) == 2
    assert slack.payload["text"].startswith(
        "OpsPilot: Approval needed: Quota pressure on amazon.nova-pro-v1:0"
    )
    assert teams.payload["attachments"][0]["contentType"] == "application/vnd.microsoft.card.adaptive"
    # what people read there: labels and times in words, never the workflow's values
    fields = [f["text"] for f in slack.payload["blocks"][2]["fields"]]
    facts = {f["title"]: f["value"] for f in teams.payload["attachments"][0]["content"]["body"][2]["facts"]}
    assert any(f.startswith("*Incident*\n") and f.endswith("(critical, quota pressure)") for f in fields)
    assert facts["Incident"].endswith("(critical, quota pressure)")
    assert re.fullmatch(r"\d\d:\d\d UTC on \d{1,2} [A-Z][a-z]+( \d{4})?", facts["Valid until"])
    assert f"*Valid until*\n{facts['Valid until']}" in fields
    for post in (slack, teams):
        shown = json.dumps(post.payload)
        for raw in ("quota_pressure", "high_usage", "low_usage", "new_model", "non_quota"):
            assert raw not in shown, (post.channel, raw)
        assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d", shown), post.channel
    record = ApprovalStore(stack.table_name).get_request(request_ref(EXECUTION, 1)) or {}
    assert [c["channel"] for c in record["channels"]] == ["email", "slack", "teams"]


def test_a_failing_webhook_is_recorded_and_email_still_goes_out(
    stack: SimulatedStack,
    incident: IncidentStore,
    webhooks: chat_capture.ChatCapture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    webhooks.status["slack"] = 500
    invoke()
    assert len(inbox(stack)) == 2
    record = ApprovalStore(stack.table_name).get_request(request_ref(EXECUTION, 1)) or {}
    slack = next(c for c in record["channels"] if c["channel"] == "slack")
    assert slack == {"channel": "slack", "status": "failed", "error": "HTTP 500"}
    assert "secretsecret" not in json.dumps(record) + capsys.readouterr().out


def test_the_schedule_refreshes_the_pending_gauges_and_sends_nothing(
    stack: SimulatedStack,
    incident: IncidentStore,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The template's PendingApprovalGauges schedule sends GAUGES_EVENT: with one approval asked 20
    minutes ago and nobody answering, its age on the dashboard is 20 minutes, not the 0 written
    when it was asked."""
    from opspilot.handlers._metrics import flush

    invoke(entered=datetime.now(UTC) - timedelta(minutes=20))
    approvals = ApprovalStore(stack.table_name)
    (pending,) = approvals.pending(datetime.now(UTC))
    asked = datetime.now(UTC) - timedelta(minutes=20)
    approvals.ddb.update_item(  # the request as it was stored 20 minutes ago
        TableName=stack.table_name,
        Key={"pk": {"S": pending["pk"]}, "sk": {"S": pending["sk"]}},
        UpdateExpression="SET created_at = :at",
        ExpressionAttributeValues={":at": {"S": iso(asked)}},
    )
    inbox(stack)
    flush()
    capsys.readouterr()
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    template = (Path(__file__).resolve().parents[2] / "template.yaml").read_text()
    assert "Input: '" + json.dumps(request_approval.GAUGES_EVENT) + "'" in template

    out = request_approval.handler(dict(request_approval.GAUGES_EVENT), CTX)

    assert out == {"pending_approvals": 1}
    (emf,) = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert emf["PendingApprovals"] == [1.0]
    assert 1195 <= emf["OldestPendingApprovalAge"][0] <= 1260
    assert inbox(stack) == [], "no approver is asked again"
