"""The approval request service with in-memory stores, a fixed clock and counted "random" ids.

What is asserted is what people and the workflow see: the messages published (who gets which
link), the chat posts, the request, link, incident and audit records written, and the result.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.parameters import SecretsProvider
from botocore.stub import Stubber

from opspilot.adapters import webhooks
from opspilot.domain import approval_page as pages
from opspilot.domain.approvals import (
    FORM_KEY_BYTES,
    LINK_ID_BYTES,
    encode_key,
    link_key,
    request_ref,
)
from opspilot.domain.errors import InvalidInput, TransientAwsError
from opspilot.domain.format import iso
from opspilot.handlers.request_approval import _post_chat
from opspilot.services.approval_request import (
    ApprovalDependencies,
    ApprovalRequest,
    ChatNotSent,
    request_approval,
)
from opspilot.settings import ApprovalSettings

EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:opspilot-IncidentStateMachine:e1"
TOPIC = "arn:aws:sns:us-east-1:123456789012:opspilot-notifications"
SLACK_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:slack-AbCdEf"
TEAMS_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:teams-AbCdEf"
BASE_URL = "https://approvals.example.com/"
LINK = re.compile(r"https://approvals\.example\.com/approvals/([A-Za-z0-9_-]{32})")
NOW = datetime(2026, 3, 2, 9, 30, 15, 250_000, tzinfo=UTC)
LEAD, ONCALL, HEAD = "lead@example.com", "oncall@example.com", "head@example.com"
# RequestApproval's input as the state machine sends it (events/request-approval.json)
TASK_INPUT = json.loads(
    (Path(__file__).resolve().parents[2] / "events" / "request-approval.json").read_text()
)
INCIDENT, PLAN, CONTEXT = (TASK_INPUT["state"][k] for k in ("incident", "plan", "context"))


# ------------------------------------------------------------------------------------ fakes


class FakeApprovals:
    """The approval items, with the conditions of the DynamoDB store."""

    def __init__(self) -> None:
        self.requests: dict[str, dict[str, Any]] = {}
        self.links: dict[str, dict[str, Any]] = {}

    def create_request(self, ref: str, record: dict[str, Any], expires: datetime) -> bool:
        if ref in self.requests:
            return False
        self.requests[ref] = {**record, "ref": ref, "status": "PENDING", "expires_at": iso(expires)}
        return True

    def get_request(self, ref: str) -> dict[str, Any] | None:
        found = self.requests.get(ref)
        return json.loads(json.dumps(found)) if found else None

    def replace_task_token(self, ref: str, task_token: str) -> bool:
        if self.requests[ref]["status"] != "PENDING":
            return False
        self.requests[ref]["task_token"] = task_token
        return True

    def supersede(self, ref: str, now: datetime, by_ref: str) -> bool:
        request = self.requests.get(ref)
        if request is None or request["status"] != "PENDING":
            return False
        request.update(status="SUPERSEDED", superseded_at=iso(now), superseded_by=by_ref)
        return True

    def put_link(self, link_hash: str, record: dict[str, Any], expires: datetime) -> None:
        assert link_hash not in self.links, "links are written once"
        self.links[link_hash] = {**record, "expires": expires}

    def mark_notified(self, ref: str, channels: list[dict[str, Any]], now: datetime) -> None:
        self.requests[ref].update(channels=channels, notified_at=iso(now))

    def mark_delivered(self, ref: str, delivery: str = "delivered") -> bool:
        request = self.requests[ref]
        if request["status"] != "DECIDED" or request.get("delivery") != "pending":
            return False
        request["delivery"] = delivery
        return True


class FakeIncidents:
    def __init__(self) -> None:
        self.updates: list[dict[str, Any]] = []
        self.audit: list[tuple[str, str, dict[str, Any], datetime]] = []

    def update_incident(
        self, incident_id: str, now: datetime, *, status: str | None = None, **fields: Any
    ) -> bool:
        self.updates.append({"incident_id": incident_id, "at": now, "status": status, **fields})
        return True

    def append_audit(self, incident_id: str, kind: str, data: dict[str, Any], now: datetime) -> None:
        self.audit.append((incident_id, kind, data, now))


class FakeLog:
    def __init__(self) -> None:
        self.lines: list[tuple[str, object, dict[str, object]]] = []

    def info(self, msg: object, *, extra: Any = None) -> None:
        self.lines.append(("info", msg, dict(extra or {})))

    def warning(self, msg: object, *, extra: Any = None) -> None:
        self.lines.append(("warning", msg, dict(extra or {})))


class World:
    """Everything the service touches, recorded."""

    def __init__(self) -> None:
        self.approvals = FakeApprovals()
        self.incidents = FakeIncidents()
        self.log = FakeLog()
        self.published: list[dict[str, Any]] = []
        self.chat_posts: list[tuple[str, dict[str, Any]]] = []
        self.chat_fails: dict[str, Exception] = {}
        self.metrics: list[str] = []
        self.pending_counted: list[datetime] = []
        self.clock = [NOW]
        self.ids = 0
        self.delivered: list[tuple[str, str, dict[str, Any]]] = []

    def publish(self, topic: str, subject: str, message: str, attributes: dict[str, str]) -> str:
        self.published.append(
            {"topic": topic, "subject": subject, "message": message, "attributes": attributes}
        )
        return f"msg-{len(self.published)}"

    def post_chat(self, secret_arn: str, message: Callable[[], dict[str, Any]]) -> int:
        payload = message()  # as the real adapter: the channel's link is stored before the post
        if secret_arn in self.chat_fails:
            raise self.chat_fails[secret_arn]
        self.chat_posts.append((secret_arn, payload))
        return 200

    def token_urlsafe(self, nbytes: int) -> str:
        assert nbytes == LINK_ID_BYTES
        self.ids += 1
        return f"link-{self.ids:027d}"

    def token_bytes(self, nbytes: int) -> bytes:
        assert nbytes == FORM_KEY_BYTES
        return bytes(range(nbytes))

    def now(self) -> datetime:
        return self.clock[-1]

    def record_pending(self, at: datetime) -> int:
        self.pending_counted.append(at)
        return sum(r["status"] == "PENDING" for r in self.approvals.requests.values())

    def deps(self) -> ApprovalDependencies:
        return ApprovalDependencies(
            approvals=self.approvals,
            incidents=self.incidents,
            publish=self.publish,
            post_chat=self.post_chat,
            count=self.metrics.append,
            record_pending=self.record_pending,
            now=self.now,
            token_bytes=self.token_bytes,
            token_urlsafe=self.token_urlsafe,
            log=self.log,
            deliver=lambda token, decision, output: self.delivered.append((token, decision, output)),
        )

    def link(self, link_id: str) -> dict[str, Any]:
        return self.approvals.links[link_key(link_id)]


def settings(**env: str) -> ApprovalSettings:
    base = {
        "INCIDENT_TABLE_NAME": "opspilot-incidents",
        "NOTIFICATION_TOPIC_ARN": TOPIC,
        "OPSPILOT_ENVIRONMENT": "pilot",
        "ALARM_NAME_PREFIX": "opspilot-",
        "INCIDENT_RETENTION_DAYS": "30",
        "SUPPORT_CASE_LOOKBACK_DAYS": "14",
        "MODEL_REGISTRY_TABLE_NAME": "opspilot-models",
        "APPROVAL_BASE_URL": BASE_URL,
        "APPROVER_EMAILS": f"{LEAD}, {ONCALL}",
        "APPROVAL_TIMEOUT_SECONDS": "7200",
    }
    return ApprovalSettings.parse(base | env)


def request(round_: int = 1, token: str = "task-token-1", entered: datetime = NOW) -> ApprovalRequest:
    return ApprovalRequest(
        execution_id=EXECUTION,
        task_token=token,
        round_=round_,
        incident=INCIDENT,
        plan=PLAN,
        context=CONTEXT,
        entered_at=iso(entered),
    )


@pytest.fixture
def world() -> World:
    return World()


def link_ids(messages: list[dict[str, Any]]) -> list[str]:
    return [match.group(1) for m in messages for match in LINK.finditer(m["message"])]


# ------------------------------------------------------------------------------------ round 1


def test_round_one_sends_each_approver_only_their_own_link(world: World) -> None:
    entered = NOW - timedelta(minutes=10)
    result = request_approval(request(entered=entered), settings(), world.deps())

    assert result == {"approval_requested": True, "round": 1, "approvers": 2}
    lead_mail, oncall_mail = world.published
    assert [m["topic"] for m in world.published] == [TOPIC, TOPIC]
    assert lead_mail["subject"] == "[OpsPilot] Approval needed: Quota pressure on amazon.nova-pro-v1:0"
    assert lead_mail["attributes"] == {
        "incident_id": "inc-7",
        "severity": "critical",
        "approval_round": "1",
        "kind": "approval_request",
        "approver": LEAD,
    }
    assert oncall_mail["attributes"]["approver"] == ONCALL
    (lead_id,) = link_ids([lead_mail])
    (oncall_id,) = link_ids([oncall_mail])
    assert lead_id != oncall_id, "one message per approver, each with only that approver's link"
    assert "decide as lead@example.com" in lead_mail["message"]
    expires_at = iso(entered + timedelta(seconds=3600))  # the plan's timeout, from entering the state
    assert f"link valid until {pages.clock(expires_at)}" in lead_mail["message"]

    ref = request_ref(EXECUTION, 1)
    assert world.link(lead_id) == {
        "ref": ref,
        "approver": LEAD,
        "round": 1,
        "incident_id": "inc-7",
        "expires": entered + timedelta(seconds=3600),
    }
    assert world.link(oncall_id)["approver"] == ONCALL
    assert set(world.approvals.links) == {link_key(lead_id), link_key(oncall_id)}
    stored = json.dumps(world.approvals.requests) + json.dumps(list(world.approvals.links))
    assert lead_id not in stored and oncall_id not in stored, "the store holds hashes, never link ids"

    record = world.approvals.requests[ref]
    assert record["task_token"] == "task-token-1"
    assert record["form_key"] == encode_key(bytes(range(FORM_KEY_BYTES)))
    assert (record["status"], record["expires_at"], record["created_at"]) == ("PENDING", expires_at, iso(NOW))
    assert record["approvers"] == [LEAD, ONCALL]
    assert record["channels"] == [{"channel": "email", "status": "sent", "messages": 2}]
    assert record["view"]["quota_changes"][0]["quota_code"] == "L-F2717A44"

    (update,) = world.incidents.updates
    assert update == {
        "incident_id": "inc-7",
        "at": NOW,
        "status": "awaiting_approval",
        "approval": {
            "required": True,
            "status": "pending",
            "round": 1,
            "approvers": [LEAD, ONCALL],
            "expires_at": expires_at,
            "channels": ["email"],
        },
    }
    (audit,) = world.incidents.audit
    assert audit == (
        "inc-7",
        "approval_requested",
        {
            "round": 1,
            "approvers": [LEAD, ONCALL],
            "expires_at": expires_at,
            "channels": [{"channel": "email", "status": "sent", "messages": 2}],
            "links": [link_key(lead_id)[:12], link_key(oncall_id)[:12]],
        },
        NOW,
    )
    assert world.metrics == ["ApprovalsRequested"]
    assert world.pending_counted == [NOW]
    assert world.log.lines[-1] == ("info", "approval requested", {"round": 1, "approvers": 2, "pending": 1})


def test_without_approvers_one_link_goes_to_the_topic(world: World) -> None:
    result = request_approval(request(), settings(APPROVER_EMAILS=" , "), world.deps())

    assert result == {"approval_requested": True, "round": 1, "approvers": 1}
    (mail,) = world.published
    assert "approver" not in mail["attributes"], "the general subscription gets it, unfiltered"
    assert "decide as approver " in mail["message"]
    (link_id,) = link_ids([mail])
    assert world.link(link_id)["approver"] == "approver"
    assert world.approvals.requests[request_ref(EXECUTION, 1)]["approvers"] == ["approver"]


def test_the_settings_timeout_applies_when_the_plan_has_none(world: World) -> None:
    plan = {k: v for k, v in PLAN.items() if k != "approval_timeout_seconds"}
    request_approval(request().replace(plan=plan), settings(), world.deps())
    record = world.approvals.requests[request_ref(EXECUTION, 1)]
    assert record["expires_at"] == iso(NOW + timedelta(seconds=7200))


# ------------------------------------------------------------------------------------ chat


def test_chat_channels_get_a_link_of_their_own_recorded_as_the_channel(world: World) -> None:
    chat = settings(SLACK_WEBHOOK_SECRET_ARN=SLACK_ARN, TEAMS_WEBHOOK_SECRET_ARN=TEAMS_ARN)
    request_approval(request(), chat, world.deps())

    personal = set(link_ids(world.published))
    assert len(personal) == 2
    (slack_arn, slack), (teams_arn, teams) = world.chat_posts
    assert (slack_arn, teams_arn) == (SLACK_ARN, TEAMS_ARN)
    (slack_id,) = set(LINK.findall(json.dumps(slack)))
    (teams_id,) = set(LINK.findall(json.dumps(teams)))
    assert not personal & {slack_id, teams_id}, "a shared channel never carries an approver's link"
    assert world.link(slack_id)["approver"] == "slack channel"
    assert world.link(teams_id)["approver"] == "teams channel"
    (button,) = slack["blocks"][-1]["elements"]
    assert button["text"]["text"] == "Review as slack channel"
    assert teams["attachments"][0]["content"]["actions"][0]["title"] == "Review as teams channel"

    channels = world.approvals.requests[request_ref(EXECUTION, 1)]["channels"]
    assert channels == [
        {"channel": "email", "status": "sent", "messages": 2},
        {"channel": "slack", "status": "sent", "http_status": 200},
        {"channel": "teams", "status": "sent", "http_status": 200},
    ]
    assert world.incidents.updates[0]["approval"]["channels"] == ["email", "slack", "teams"]
    (audit,) = world.incidents.audit
    assert len(audit[2]["links"]) == 2, "the audit lists the approvers' links"


def test_a_failing_chat_webhook_is_recorded_and_email_still_goes_out(world: World) -> None:
    world.chat_fails[SLACK_ARN] = ChatNotSent("HTTP 500")
    world.chat_fails[TEAMS_ARN] = TransientAwsError("Secrets Manager GetSecretValue: ThrottlingException")
    chat = settings(SLACK_WEBHOOK_SECRET_ARN=SLACK_ARN, TEAMS_WEBHOOK_SECRET_ARN=TEAMS_ARN)

    result = request_approval(request(), chat, world.deps())

    assert result == {"approval_requested": True, "round": 1, "approvers": 2}
    assert [m["attributes"]["approver"] for m in world.published] == [LEAD, ONCALL]
    assert world.chat_posts == []
    channels = world.approvals.requests[request_ref(EXECUTION, 1)]["channels"]
    assert channels[1:] == [
        {"channel": "slack", "status": "failed", "error": "HTTP 500"},
        {
            "channel": "teams",
            "status": "failed",
            "error": "Secrets Manager GetSecretValue: ThrottlingException",
        },
    ]
    assert world.incidents.updates[0]["approval"]["channels"] == ["email"]
    assert world.incidents.audit[0][2]["channels"] == channels
    warnings = [(msg, extra["channel"]) for level, msg, extra in world.log.lines if level == "warning"]
    assert warnings == [("chat message not sent", "slack"), ("chat message not sent", "teams")]


def test_an_unexpected_chat_error_is_not_swallowed(world: World) -> None:
    world.chat_fails[SLACK_ARN] = KeyError("bug")
    with pytest.raises(KeyError):
        request_approval(request(), settings(SLACK_WEBHOOK_SECRET_ARN=SLACK_ARN), world.deps())
    assert "channels" not in world.approvals.requests[request_ref(EXECUTION, 1)]


# ------------------------------------------------------------------------------------ round 2


def test_round_two_supersedes_round_one_and_asks_the_escalation_group(world: World) -> None:
    escalation = settings(ESCALATION_APPROVER_EMAILS=HEAD)
    request_approval(request(), escalation, world.deps())
    first_ids = link_ids(world.published)
    world.published.clear()
    later = NOW + timedelta(hours=1, seconds=2)
    world.clock.append(later)

    result = request_approval(
        request(round_=2, token="task-token-2", entered=later), escalation, world.deps()
    )

    assert result == {"approval_requested": True, "round": 2, "approvers": 1}
    first, second = request_ref(EXECUTION, 1), request_ref(EXECUTION, 2)
    assert world.approvals.requests[first]["status"] == "SUPERSEDED"
    assert world.approvals.requests[first]["superseded_by"] == second
    notice, mail = world.published
    assert notice["subject"] == "[OpsPilot] approval escalated: amazon.nova-pro-v1:0"
    assert notice["attributes"] == {"incident_id": "inc-7"}, "the notice goes to the general subscription"
    assert "Nobody of lead@example.com, oncall@example.com decided within 1 hour." in notice["message"]
    assert mail["attributes"]["approver"] == HEAD and mail["attributes"]["approval_round"] == "2"
    assert mail["subject"] == "[OpsPilot] Escalated approval needed: Quota pressure on amazon.nova-pro-v1:0"
    assert "last round (2 of 2)" in mail["message"]
    (head_id,) = link_ids([mail])
    assert head_id not in first_ids
    assert world.link(head_id) | {"expires": None} == {
        "ref": second,
        "approver": HEAD,
        "round": 2,
        "incident_id": "inc-7",
        "expires": None,
    }
    assert all(world.link(i)["ref"] == first for i in first_ids), "round 1's links name round 1's request"
    assert world.approvals.requests[second]["approvers"] == [HEAD]

    kinds = [(kind, data.get("from"), data.get("to"), at) for _, kind, data, at in world.incidents.audit]
    assert kinds[1:] == [
        ("approval_escalated", [LEAD, ONCALL], [HEAD], later),
        ("approval_requested", None, None, later),
    ]
    assert world.metrics == ["ApprovalsRequested", "ApprovalsEscalated", "ApprovalsRequested"]
    assert world.incidents.updates[-1]["approval"]["round"] == 2


def test_round_two_without_an_escalation_group_asks_the_approvers_again(world: World) -> None:
    request_approval(request(), settings(), world.deps())
    first_ids = set(link_ids(world.published))
    world.published.clear()

    request_approval(request(round_=2, token="task-token-2"), settings(), world.deps())

    notice, *mails = world.published
    assert "The approval now waits for lead@example.com, oncall@example.com" in notice["message"]
    assert [m["attributes"]["approver"] for m in mails] == [LEAD, ONCALL]
    assert not first_ids & set(link_ids(mails)), "new links: round 1's stop working"


def test_round_two_after_round_one_was_decided_sends_no_escalation_notice(world: World) -> None:
    escalation = settings(ESCALATION_APPROVER_EMAILS=HEAD)
    request_approval(request(), escalation, world.deps())
    world.approvals.requests[request_ref(EXECUTION, 1)]["status"] = "DECIDED"
    world.published.clear()

    request_approval(request(round_=2, token="task-token-2"), escalation, world.deps())

    assert [m["attributes"].get("approver") for m in world.published] == [HEAD]
    assert world.approvals.requests[request_ref(EXECUTION, 1)]["status"] == "DECIDED"
    assert "approval_escalated" not in [kind for _, kind, _, _ in world.incidents.audit]
    assert "ApprovalsEscalated" not in world.metrics


def test_round_two_delivers_a_round_one_decision_that_never_reached_the_workflow(world: World) -> None:
    """Round 1 was decided in time, but neither its delivery nor its undo could be written: the
    decision waits in the request (its outbox). When the workflow asks round 2, it gets that
    decision on round 2's task, and nobody is asked again."""
    escalation = settings(ESCALATION_APPROVER_EMAILS=HEAD)
    request_approval(request(), escalation, world.deps())
    output = {"status": "approved", "by": LEAD, "values": {}}
    world.approvals.requests[request_ref(EXECUTION, 1)].update(
        status="DECIDED",
        delivery="pending",
        decision={"decision": "approve", "status": "approved", "by": LEAD, "at": iso(NOW)},
        output=output,
    )
    world.published.clear()

    result = request_approval(request(round_=2, token="task-token-2"), escalation, world.deps())

    assert world.delivered == [("task-token-2", "approve", output)]
    assert result == {"approval_requested": False, "round": 2, "delivered_from_round": 1}
    assert world.published == [] and request_ref(EXECUTION, 2) not in world.approvals.requests
    assert world.approvals.requests[request_ref(EXECUTION, 1)]["delivery"] == "delivered"
    assert "approval_delivered_late" in [kind for _, kind, _, _ in world.incidents.audit]


# ------------------------------------------------------------------------------------ retries, input


def test_a_retried_invocation_sends_nothing_twice(world: World) -> None:
    request_approval(request(token="first-attempt"), settings(), world.deps())
    sent, links = len(world.published), dict(world.approvals.links)

    result = request_approval(request(token="second-attempt"), settings(), world.deps())

    assert result == {"approval_requested": True, "round": 1, "retried": True}
    assert len(world.published) == sent and world.approvals.links == links
    assert world.approvals.requests[request_ref(EXECUTION, 1)]["task_token"] == "second-attempt"
    assert len(world.incidents.audit) == 1
    assert world.log.lines[-1] == ("info", "approval already requested; task token replaced", {"round": 1})


def test_a_retry_after_a_failure_before_the_messages_sends_them_with_the_stored_expiry(world: World) -> None:
    ref = request_ref(EXECUTION, 1)
    world.approvals.create_request(ref, {"task_token": "first-attempt"}, NOW + timedelta(minutes=5))
    result = request_approval(request(token="second-attempt"), settings(), world.deps())

    assert result == {"approval_requested": True, "round": 1, "approvers": 2}
    assert len(world.published) == 2
    assert "link valid until 09:35 UTC on 2 March 2026" in world.published[0]["message"]
    assert world.approvals.requests[ref]["task_token"] == "second-attempt"


@pytest.mark.parametrize("round_", [0, 3])
def test_a_round_outside_the_two_is_refused_before_anything_is_written(world: World, round_: int) -> None:
    with pytest.raises(InvalidInput, match=f"field 'round': {round_} is not between 1 and 2"):
        request_approval(request(round_=round_), settings(), world.deps())
    assert world.approvals.requests == {} and world.published == []


# ------------------------------------------------------------------------ the handler's chat adapter


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (  # not a code raise_translated knows: the ClientError itself, as the handler always caught it
            "ResourceNotFoundException",
            "An error occurred (ResourceNotFoundException) when calling the GetSecretValue operation: "
            "no such secret",
        ),
        ("AccessDeniedException", "Secrets Manager GetSecretValue: AccessDeniedException: no such secret"),
    ],
)
def test_a_webhook_secret_aws_refuses_is_a_failed_channel_through_the_handlers_adapter(
    world: World, monkeypatch: pytest.MonkeyPatch, code: str, error: str
) -> None:
    secrets = boto3.client("secretsmanager", region_name="us-east-1")
    stubber = Stubber(secrets)
    stubber.add_client_error(
        "get_secret_value",
        service_error_code=code,
        service_message="no such secret",
        expected_params={"SecretId": SLACK_ARN},
    )
    monkeypatch.setattr(webhooks, "_secrets", lambda: SecretsProvider(boto3_client=secrets))
    deps = dataclasses.replace(world.deps(), post_chat=_post_chat)

    with stubber:
        result = request_approval(request(), settings(SLACK_WEBHOOK_SECRET_ARN=SLACK_ARN), deps)

    stubber.assert_no_pending_responses()
    assert result == {"approval_requested": True, "round": 1, "approvers": 2}
    assert [m["attributes"]["approver"] for m in world.published] == [LEAD, ONCALL]
    channels = world.approvals.requests[request_ref(EXECUTION, 1)]["channels"]
    assert channels[1] == {"channel": "slack", "status": "failed", "error": error}
    assert [link["approver"] for link in world.approvals.links.values()] == [LEAD, ONCALL, "slack channel"]
