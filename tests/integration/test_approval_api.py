"""The approval callback handler, with its records in moto's DynamoDB.

Step Functions is answered by botocore's Stubber on the handler's own client: a test that expects
no decision queues no response, so any SendTaskSuccess/SendTaskFailure fails it. Each bad request
must change nothing: the request stays PENDING, nothing is audited, the workflow is not resumed.
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import boto3
import pytest
from botocore.config import Config
from botocore.stub import ANY, Stubber
from moto import mock_aws

from opspilot.adapters.approvals import ApprovalStore
from opspilot.adapters.aws import client
from opspilot.adapters.incidents import IncidentStore
from opspilot.domain.approvals import ApprovalView, QuotaChange, UsageChart, encode_key, link_key
from opspilot.domain.format import iso
from opspilot.handlers import approval_api
from opspilot.handlers._approval_runtime import record_pending
from opspilot.handlers._metrics import flush
from opspilot.handlers._runtime import logger
from opspilot_sim import fake_aws
from opspilot_sim.approver import OFFLINE_HOST, approval_event
from opspilot_sim.faults import FaultPlan
from opspilot_sim.interactive import ApprovalServer, InteractiveSession
from opspilot_sim.moto_shim import LambdaContextStub
from opspilot_sim.moto_stack import deployed_stack
from opspilot_sim.stack import STACK_NAME, SimulatedStack

EVENTS = Path(__file__).resolve().parents[2] / "events"
LEAD_LINK = "L" * 16 + "e" * 16  # 32 characters, the shape of secrets.token_urlsafe(24)
ONCALL_LINK = "O" * 16 + "n" * 16
TASK_TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAd-task-token-must-stay-secret"
CTX: Any = LambdaContextStub(function_name="ApprovalCallbackFunction")
NOW = datetime.now(UTC)
VIEW = ApprovalView(
    incident_id="inc-1",
    model_id="amazon.nova-pro-v1:0",
    region="us-east-1",
    category="quota_pressure",
    severity="warning",
    alarm_name="opspilot-nova-pro-rpm",
    scenario="high_usage",
    rule="pilot-approve-every-change",
    summary="Pilot: every change needs approval.",
    quota_changes=[
        QuotaChange(
            action_id="request_quota_increase:L-F2717A44",
            quota_code="L-F2717A44",
            quota_name="On-demand model inference requests per minute for Amazon Nova Pro",
            kind="rpm",
            current=1000,
            requested=1500,
            reason="RPM quota 1,000 -> 1,500 (+50%).",
        )
    ],
    evidence=[("Peak RPM, 14 days", "849"), ("RPM threshold", "800")],
    forecast=["RPM: quota reached in 5.8 days at the current trend"],
    charts=[
        UsageChart(
            kind="rpm",
            unit="requests per minute",
            daily_peaks=[500.0 + 25 * i for i in range(14)],
            quota=1000,
            threshold=800,
            requested=1500,
        )
    ],
    usage_end=NOW.date().isoformat(),
)
FORM = {"content-type": "application/x-www-form-urlencoded", "origin": f"https://{OFFLINE_HOST}"}


def handle(event: dict[str, Any]) -> dict[str, Any]:
    return dict(approval_api.handler(event, CTX))


def get(link: str = LEAD_LINK, method: str = "GET", query: str = "") -> dict[str, Any]:
    return handle(approval_event(link, method, query=query))


def token_of(page: dict[str, Any]) -> str:
    found = re.search(r'name="token" value="([^"]+)"', page["body"])
    assert found, "the confirm page carries the anti-forgery token"
    return found.group(1)


def post(fields: dict[str, str], link: str = LEAD_LINK, **headers: str) -> dict[str, Any]:
    return handle(approval_event(link, "POST", urlencode(fields), headers={**FORM, **headers}))


def form(decision: str = "approve", link: str = LEAD_LINK, **extra: str) -> dict[str, str]:
    return {"token": token_of(get(link)), "decision": decision, "comment": "", **extra}


@pytest.fixture(scope="module")
def stack() -> Iterator[SimulatedStack]:
    """One moto account for the whole module (deploying per test costs ~0.7 s); ``approval``
    empties the table before each test."""
    from opspilot.adapters import aws as aws_clients
    from opspilot.handlers import _approval_runtime, _runtime
    from opspilot.settings import approval_settings, core_settings

    caches: list[Any] = [aws_clients.client, _runtime.store, core_settings, approval_settings]
    caches.append(_approval_runtime.approvals)
    approvers = {"ApproverEmails": "lead@example.com,oncall@example.com"}
    with mock_aws(), deployed_stack("us-east-1", approvers, caches) as deployed:
        yield deployed


@pytest.fixture
def approval(stack: SimulatedStack) -> ApprovalStore:
    """One pending round-1 request for incident inc-1, with a link for each of two approvers."""
    ddb = boto3.client("dynamodb", region_name=stack.region)
    for page in ddb.get_paginator("scan").paginate(TableName=stack.table_name):
        for item in page["Items"]:
            ddb.delete_item(TableName=stack.table_name, Key={"pk": item["pk"], "sk": item["sk"]})
    incidents = IncidentStore(stack.table_name, 30)
    incidents.put_incident(
        "inc-1", {"status": "awaiting_approval", "incident": {"incident_id": "inc-1"}}, NOW
    )
    store = ApprovalStore(stack.table_name)
    expires = NOW + timedelta(hours=1)
    record = {
        "round": 1,
        "task_token": TASK_TOKEN,
        "form_key": encode_key(b"k" * 32),
        "incident_id": "inc-1",
        "execution_id": "arn:aws:states:us-east-1:123456789012:execution:m:e",
        "approvers": ["lead@example.com", "oncall@example.com"],
        "view": VIEW.to_json(),
        "created_at": iso(NOW),
    }
    assert store.create_request("ref-1", record, expires)
    for link, who in ((LEAD_LINK, "lead@example.com"), (ONCALL_LINK, "oncall@example.com")):
        store.put_link(
            link_key(link), {"ref": "ref-1", "approver": who, "round": 1, "incident_id": "inc-1"}, expires
        )
    return store


@pytest.fixture
def sfn(approval: ApprovalStore) -> Iterator[Stubber]:
    """Step Functions as the handler sees it; nothing queued means no call is allowed."""
    stubber = Stubber(client("stepfunctions"))
    with stubber:
        yield stubber


def unchanged(store: ApprovalStore, stack: SimulatedStack) -> bool:
    request = store.get_request("ref-1") or {}
    audit = IncidentStore(stack.table_name, 30).audit_trail("inc-1")
    return request.get("status") == "PENDING" and "decision" not in request and audit == []


# ------------------------------------------------------------------------------------ pages


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_get_and_head_show_the_page_and_decide_nothing(
    approval: ApprovalStore, sfn: Stubber, stack: SimulatedStack, method: str
) -> None:
    page = get(method=method)
    assert page["statusCode"] == 200
    assert page["headers"]["content-type"].startswith("text/html")
    assert "default-src 'none'" in page["headers"]["content-security-policy"]
    if method == "HEAD":
        assert page["body"] == ""
    else:
        body = page["body"]
        assert "lead@example.com" in body and "oncall@example.com" not in body  # bound to its approver
        assert "<code>L-F2717A44</code>" in body and "1,000" in body and "1,500" in body
        assert "pilot-approve-every-change" in body and "5.8 days" in body
        assert body.count('<rect class="peak"') == 14
    assert unchanged(approval, stack)


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_get_with_decision_parameters_on_the_decision_url_decides_nothing(
    approval: ApprovalStore, sfn: Stubber, stack: SimulatedStack, method: str
) -> None:
    """A link scanner (or a crafted link) may put a decision in the query: it is ignored."""
    query = urlencode({"decision": "approve", "token": token_of(get())})
    assert get(method=method, query=query)["statusCode"] == 200
    assert unchanged(approval, stack)


def test_approve_resumes_the_workflow_once_and_records_who_when_where(
    approval: ApprovalStore, sfn: Stubber, stack: SimulatedStack
) -> None:
    sfn.add_response("send_task_success", {}, {"taskToken": TASK_TOKEN, "output": ANY})
    fields = form(comment="launch week")
    page = post(fields)
    assert page["statusCode"] == 200 and "Approved" in page["body"] and "lead@example.com" in page["body"]
    request = approval.get_request("ref-1") or {}
    decision = request["decision"]
    assert request["status"] == "DECIDED"
    assert (decision["by"], decision["decision"], decision["comment"]) == (
        "lead@example.com",
        "approve",
        "launch week",
    )
    assert decision["source_ip"] == "198.51.100.7" and decision["user_agent"] == "opspilot-simulator"
    sfn.assert_no_pending_responses()
    (audit,) = IncidentStore(stack.table_name, 30).audit_trail("inc-1")
    assert audit["kind"] == "approval_approved" and audit["data"]["by"] == "lead@example.com"
    incident = IncidentStore(stack.table_name, 30).get_incident("inc-1") or {}
    assert incident["approval"]["status"] == "approved"


def test_the_workflow_receives_exactly_the_approval_output(
    approval: ApprovalStore, stack: SimulatedStack
) -> None:
    with Stubber(client("stepfunctions")) as stubber:
        stubber.add_response("send_task_success", {})
        post(form(**{"desired.L-F2717A44": "1200"}))
        stubber.assert_no_pending_responses()
    request = approval.get_request("ref-1") or {}
    assert request["decision"]["values"] == {"request_quota_increase:L-F2717A44": 1200}
    incident = IncidentStore(stack.table_name, 30).get_incident("inc-1") or {}
    sent = incident["approval"]
    assert sent["overrides"] == {"request_quota_increase:L-F2717A44": {"DesiredValue": 1200}}


def test_reject_fails_the_task_with_approval_rejected(approval: ApprovalStore, sfn: Stubber) -> None:
    sfn.add_response(
        "send_task_failure",
        {},
        {"taskToken": TASK_TOKEN, "error": "ApprovalRejected", "cause": ANY},
    )
    page = post(form("reject", comment="not this month"))
    assert page["statusCode"] == 200 and "Rejected" in page["body"]
    sfn.assert_no_pending_responses()


def test_one_decision_decides_for_every_approver(approval: ApprovalStore, sfn: Stubber) -> None:
    sfn.add_response("send_task_success", {})
    fields = form()
    assert post(fields)["statusCode"] == 200
    other = get(ONCALL_LINK)
    assert other["statusCode"] == 409
    assert "Already decided" in other["body"] and "lead@example.com" in other["body"]


# ------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "link", ["not-an-id", "A" * 31, "A" * 33, "A" * 31 + "!", "../../etc/passwd" + "A" * 16, ""]
)
def test_malformed_ids_are_unknown_links(
    approval: ApprovalStore, sfn: Stubber, stack: SimulatedStack, link: str
) -> None:
    for method in ("GET", "POST"):
        page = handle(approval_event(link, method, "decision=approve", headers=FORM))
        assert page["statusCode"] == 404 and "Unknown approval link" in page["body"]
    assert unchanged(approval, stack)


def test_an_unknown_id_is_an_unknown_link(
    approval: ApprovalStore, sfn: Stubber, stack: SimulatedStack
) -> None:
    assert get("B" * 32)["statusCode"] == 404
    assert post({"decision": "approve"}, link="B" * 32)["statusCode"] == 404
    assert unchanged(approval, stack)


def bad_requests() -> list[tuple[str, Any, int, str]]:
    """(name, how to build the request from a valid form, status, words on the page)."""

    def with_fields(**changes: str | None) -> Any:
        def build(valid: dict[str, str]) -> dict[str, Any]:
            fields = {k: v for k, v in {**valid, **changes}.items() if v is not None}
            return approval_event(LEAD_LINK, "POST", urlencode(fields), headers=FORM)

        return build

    def raw(body: bytes | str, **headers: str) -> Any:
        return lambda valid: approval_event(LEAD_LINK, "POST", body, headers={**FORM, **headers})

    return [
        ("missing token", with_fields(token=None), 403, "Form not accepted"),
        ("forged token", with_fields(token="A" * 43), 403, "Form not accepted"),
        ("empty token", with_fields(token=""), 403, "Form not accepted"),
        ("decision maybe", with_fields(decision="maybe"), 400, "approve' or 'reject"),
        ("no decision", with_fields(decision=None), 400, "approve' or 'reject"),
        ("raised value", with_fields(**{"desired.L-F2717A44": "1501"}), 400, "never raise"),
        ("value not an increase", with_fields(**{"desired.L-F2717A44": "1000"}), 400, "not above"),
        ("value not a number", with_fields(**{"desired.L-F2717A44": "1e9"}), 400, "not a number"),
        # L-00000000: in no catalog, on purpose (a field for a quota the approval does not hold)
        ("unknown quota field", with_fields(**{"desired.L-00000000": "10"}), 400, "Unexpected field"),
        ("approver field", with_fields(approver="mallory@example.com"), 400, "Unexpected field"),
        ("comment too long", with_fields(comment="x" * 501), 400, "longer than 500"),
        (
            "json body",
            raw(b'{"decision": "approve"}', **{"content-type": "application/json"}),
            415,
            "Unsupported",
        ),
        ("no content type", raw(b"decision=approve", **{"content-type": ""}), 415, "Unsupported"),
        ("oversized body", raw("decision=approve&pad=" + "x" * 5000), 413, "too large"),
        ("not utf-8", raw(b"decision=\xff\xfe"), 400, "could not be read"),
        ("bad field syntax", raw(b"decision"), 400, "could not be read"),
        ("cross-site post", with_fields(), 403, "own page"),
    ]


@pytest.mark.parametrize(
    ("name", "build", "status", "words"), bad_requests(), ids=[b[0] for b in bad_requests()]
)
def test_bad_posts_change_nothing(
    approval: ApprovalStore,
    sfn: Stubber,
    stack: SimulatedStack,
    name: str,
    build: Any,
    status: int,
    words: str,
) -> None:
    valid = form()
    event = build(valid)
    if name == "cross-site post":
        event["headers"]["origin"] = "https://evil.example"
        event["headers"]["sec-fetch-site"] = "cross-site"
    page = handle(event)
    assert page["statusCode"] == status, page["body"]
    assert words in html.unescape(page["body"])
    assert "Nothing was changed" in page["body"]
    assert unchanged(approval, stack)


def test_a_token_is_bound_to_its_link(approval: ApprovalStore, sfn: Stubber, stack: SimulatedStack) -> None:
    """The on-call approver's token does not decide through the lead's link (and so not as the lead)."""
    oncall_token = token_of(get(ONCALL_LINK))
    assert post({"token": oncall_token, "decision": "approve"})["statusCode"] == 403
    assert unchanged(approval, stack)


def test_invalid_base64_is_refused(approval: ApprovalStore, sfn: Stubber, stack: SimulatedStack) -> None:
    event = approval_event(LEAD_LINK, "POST", "decision=approve", headers=FORM)
    event["body"] = "%%% not base64 %%%"
    assert handle(event)["statusCode"] == 400
    assert unchanged(approval, stack)


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_other_methods_are_refused(
    approval: ApprovalStore, sfn: Stubber, stack: SimulatedStack, method: str
) -> None:
    page = get(method=method)
    assert page["statusCode"] == 405 and page["headers"]["allow"] == "GET, HEAD, POST"
    assert unchanged(approval, stack)


def test_a_replayed_post_after_a_decision_is_refused(approval: ApprovalStore, sfn: Stubber) -> None:
    sfn.add_response("send_task_success", {})
    fields = form()
    assert post(fields)["statusCode"] == 200
    replay = post({**fields, "decision": "reject"})
    assert replay["statusCode"] == 409 and "Already decided" in replay["body"]
    assert (approval.get_request("ref-1") or {})["decision"]["decision"] == "approve"
    sfn.assert_no_pending_responses()  # exactly one SendTaskSuccess, no SendTaskFailure


def test_a_post_after_expiry_is_refused(approval: ApprovalStore, sfn: Stubber, stack: SimulatedStack) -> None:
    fields = form()
    past = iso(NOW - timedelta(seconds=1))
    approval.ddb.update_item(
        TableName=approval.table,
        Key={"pk": {"S": "APPROVAL#ref-1"}, "sk": {"S": "REQUEST"}},
        UpdateExpression="SET expires_at = :past",
        ExpressionAttributeValues={":past": {"S": past}},
    )
    for page in (post(fields), get()):
        assert page["statusCode"] == 410 and "expired" in page["body"]
    assert unchanged(approval, stack)


def test_a_superseded_link_no_longer_works(
    approval: ApprovalStore, sfn: Stubber, stack: SimulatedStack
) -> None:
    fields = form()
    assert approval.supersede("ref-1", NOW, "ref-2")
    for page in (get(), post(fields)):
        assert page["statusCode"] == 410 and "escalated" in page["body"]
    assert (approval.get_request("ref-1") or {})["status"] == "SUPERSEDED"


@pytest.mark.parametrize("code", ["TaskTimedOut", "TaskDoesNotExist", "InvalidToken"])
def test_a_decision_the_workflow_no_longer_waits_for_says_so(
    approval: ApprovalStore, sfn: Stubber, stack: SimulatedStack, code: str
) -> None:
    sfn.add_client_error("send_task_success", service_error_code=code, http_status_code=400)
    page = post(form())
    assert page["statusCode"] == 409 and "Too late" in page["body"]
    request = approval.get_request("ref-1") or {}
    assert request["status"] == "MOVED_ON" and code in request["workflow_moved_on"]["reason"]
    kinds = [a["kind"] for a in IncidentStore(stack.table_name, 30).audit_trail("inc-1")]
    assert "approval_too_late" in kinds
    incident = IncidentStore(stack.table_name, 30).get_incident("inc-1") or {}
    assert incident["approval"]["status"] == "escalated"  # round 1: the workflow escalated instead
    again = get()
    assert again["statusCode"] == 409 and "Too late" in again["body"]


@pytest.mark.parametrize("code", ["ThrottlingException", "KmsThrottlingException"])
def test_a_decision_that_cannot_reach_the_workflow_is_undone_and_can_be_retried(
    approval: ApprovalStore, sfn: Stubber, stack: SimulatedStack, code: str
) -> None:
    sfn.add_client_error("send_task_success", service_error_code=code, http_status_code=400)
    page = post(form())
    assert page["statusCode"] == 503 and "nothing was changed" in page["body"]
    request = approval.get_request("ref-1") or {}
    assert request["status"] == "PENDING" and "decision" not in request
    kinds = [a["kind"] for a in IncidentStore(stack.table_name, 30).audit_trail("inc-1")]
    assert "approval_not_delivered" in kinds
    sfn.add_response("send_task_success", {})
    assert post(form())["statusCode"] == 200, "the approver's second click goes through"


# ----------------------------------------------------- a decision is never half made (issue 12)


@pytest.fixture
def dynamodb_faults(stack: SimulatedStack, monkeypatch: pytest.MonkeyPatch) -> fake_aws.SimulatedAws:
    """The handler's DynamoDB, with faults injected at the API boundary (the functions' retry
    policy, three attempts, consumes them)."""
    from opspilot.handlers import _approval_runtime, _runtime

    world = fake_aws.SimulatedAws()
    retries = Config(retries={"mode": "standard", "total_max_attempts": 3})
    ddb = boto3.client("dynamodb", region_name=stack.region, config=retries)
    fake_aws.attach(ddb, world)
    monkeypatch.setattr(_approval_runtime.approvals(), "_ddb", ddb)
    monkeypatch.setattr(_runtime.store(), "_ddb", ddb)
    return world


def test_a_decision_whose_incident_records_cannot_be_written_is_not_made(
    approval: ApprovalStore, sfn: Stubber, stack: SimulatedStack, dynamodb_faults: fake_aws.SimulatedAws
) -> None:
    """DynamoDB throttles the writes that record the decision in the incident: nothing is decided,
    the workflow is not resumed, and the same link decides on the next click."""
    fields = form()
    for operation in ("TransactWriteItems", "UpdateItem", "PutItem"):
        dynamodb_faults.fail_next("dynamodb", operation, "ProvisionedThroughputExceededException", times=3)
    page = post(fields)
    assert page["statusCode"] == 503 and "nothing was changed" in page["body"]
    assert unchanged(approval, stack)
    sfn.assert_no_pending_responses()
    dynamodb_faults.faults = FaultPlan()  # DynamoDB recovers
    sfn.add_response("send_task_success", {})
    assert post(form())["statusCode"] == 200, "the link still decides"
    request = approval.get_request("ref-1") or {}
    assert (request["status"], request["delivery"]) == ("DECIDED", "delivered")
    kinds = [a["kind"] for a in IncidentStore(stack.table_name, 30).audit_trail("inc-1")]
    assert kinds == ["approval_approved"]


def test_a_decision_that_reaches_neither_the_workflow_nor_its_undo_is_delivered_by_the_next_visit(
    approval: ApprovalStore, sfn: Stubber, stack: SimulatedStack, dynamodb_faults: fake_aws.SimulatedAws
) -> None:
    """Step Functions is throttled and the undo cannot be written either: the decision waits in
    the request, and the next visit to any link delivers exactly it."""
    fields = {**form(), "comment": "ship it"}
    sfn.add_client_error("send_task_success", service_error_code="ThrottlingException", http_status_code=400)
    # the decision's transaction goes through; the undo's (the next one) is throttled
    dynamodb_faults.fail_next(
        "dynamodb", "TransactWriteItems", "ProvisionedThroughputExceededException", times=3, on_call=2
    )
    page = post(fields)
    assert page["statusCode"] == 503 and "recorded but could not reach the workflow" in page["body"]
    assert (approval.get_request("ref-1") or {})["delivery"] == "pending"
    sfn.add_response("send_task_success", {}, {"taskToken": TASK_TOKEN, "output": ANY})
    again = get(ONCALL_LINK)
    assert again["statusCode"] == 200 and "Approved" in again["body"] and "lead@example.com" in again["body"]
    sfn.assert_no_pending_responses()
    request = approval.get_request("ref-1") or {}
    assert (request["status"], request["delivery"]) == ("DECIDED", "delivered")
    assert request["decision"]["comment"] == "ship it"
    assert get()["statusCode"] == 409, "delivered once: later visits only say it was decided"


def test_the_pending_gauge_failing_does_not_fail_a_delivered_decision(
    approval: ApprovalStore, sfn: Stubber, dynamodb_faults: fake_aws.SimulatedAws
) -> None:
    fields = form()
    dynamodb_faults.fail_next("dynamodb", "Query", "ProvisionedThroughputExceededException", times=3)
    sfn.add_response("send_task_success", {})
    page = post(fields)
    assert page["statusCode"] == 200 and "Approved" in page["body"]
    assert dynamodb_faults.calls_to("dynamodb", "Query"), "the gauge was tried"


def test_pending_approvals_are_counted_past_one_page_of_a_query(
    approval: ApprovalStore, stack: SimulatedStack
) -> None:
    """A Query reads at most 1 MB per call: 45 pending requests of ~30 KB each take two pages."""
    big = {**VIEW.to_json(), "summary": "x" * 30_000}
    for i in range(45):
        record = {"round": 1, "task_token": "t", "form_key": "k", "incident_id": f"inc-{i}", "view": big}
        record["created_at"] = iso(NOW - timedelta(minutes=i))  # the last one, 44 minutes ago, is the oldest
        assert approval.create_request(f"big-{i}", record, NOW + timedelta(hours=2))
    assert approval.count_pending(NOW) == 46
    assert approval.pending_summary(NOW) == (46, iso(NOW - timedelta(minutes=44)))


# ------------------------------------------------------------------------- logs and metrics


def test_ids_and_tokens_never_appear_in_logs(
    approval: ApprovalStore, sfn: Stubber, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    logs = io.StringIO()
    monkeypatch.setattr(logger.registered_handler, "stream", logs)
    level = logger.log_level
    logger.setLevel("DEBUG")
    sfn.add_response("send_task_success", {})
    fields = form()
    post({**fields, "decision": "maybe"})
    post({**fields, "token": "forged"})
    post(fields)
    get(ONCALL_LINK)
    logger.setLevel(level)
    logged = logs.getvalue() + capsys.readouterr().out
    assert logged.count('"level"') >= 3, "the handler logs every refusal and the decision"
    for secret in (LEAD_LINK, ONCALL_LINK, fields["token"], TASK_TOKEN, encode_key(b"k" * 32)):
        assert secret not in logged
    assert link_key(LEAD_LINK)[:12] in logged  # a link is identified by a prefix of its hash
    lines = [json.loads(line) for line in logs.getvalue().splitlines() if line.startswith("{")]
    assert lines and {line.get("correlation_id") for line in lines} == {
        "arn:aws:states:us-east-1:123456789012:execution:m:e"
    }, "every line carries the execution the approval answers, as Logger's correlation id"


def test_pending_approvals_are_a_metric(
    approval: ApprovalStore, sfn: Stubber, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Powertools Metrics writes CloudWatch embedded metric format: the gauge falls to 0."""
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    assert approval.count_pending(NOW) == 1
    assert [p["incident_id"] for p in approval.pending(NOW)] == ["inc-1"]
    assert "task_token" not in approval.pending(NOW)[0]
    assert record_pending(NOW + timedelta(minutes=30)) == 1
    flush()
    (waiting,) = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert (waiting["PendingApprovals"], waiting["OldestPendingApprovalAge"]) == ([1.0], [1800.0])
    assert {"Name": "OldestPendingApprovalAge", "Unit": "Seconds"} in waiting["_aws"]["CloudWatchMetrics"][0][
        "Metrics"
    ]
    sfn.add_response("send_task_success", {})
    post(form())
    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    (emf,) = blobs
    assert emf["_aws"]["CloudWatchMetrics"][0]["Namespace"] == f"OpsPilot/{STACK_NAME}"  # the stack's own
    assert emf["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service"]]
    assert (emf["PendingApprovals"], emf["ApprovalsApproved"]) == ([0.0], [1.0])
    assert emf["OldestPendingApprovalAge"] == [0.0]  # none is pending any more
    assert approval.pending(NOW) == []


# ------------------------------------------------------------------------------- fixtures


def for_link(event: dict[str, Any], link: str) -> dict[str, Any]:
    """A fixture as API Gateway would send it for another link: the path and its parameter."""
    fixture_id = event["pathParameters"]["approval_id"]
    event["rawPath"] = event["rawPath"].replace(fixture_id, link)
    event["requestContext"]["http"]["path"] = event["requestContext"]["http"]["path"].replace(
        fixture_id, link
    )
    event["pathParameters"]["approval_id"] = link
    return event


def test_the_real_shape_fixtures_are_understood(
    approval: ApprovalStore, sfn: Stubber, stack: SimulatedStack
) -> None:
    event = for_link(json.loads((EVENTS / "approval-get.json").read_text()), LEAD_LINK)
    assert handle(event)["statusCode"] == 200
    posted = for_link(json.loads((EVENTS / "approval-post.json").read_text()), LEAD_LINK)
    assert b"&decision=approve&" in base64.b64decode(posted["body"])
    page = handle(posted)  # the fixture's token belongs to no real approval: refused, nothing changes
    assert page["statusCode"] == 403 and "Form not accepted" in page["body"]
    assert unchanged(approval, stack)


# ------------------------------------------------------------------- the interactive server


def test_the_local_server_turns_http_into_payload_2_events(approval: ApprovalStore, sfn: Stubber) -> None:
    session = InteractiveSession(out=open("/dev/null", "w"))  # noqa: SIM115 (closed with the process)
    with ApprovalServer(session, port=0):
        url = f"{session.base_url}/approvals/{LEAD_LINK}"
        with urllib.request.urlopen(url) as page:
            assert page.status == 200 and "lead@example.com" in page.read().decode()
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD")) as head:
            assert head.status == 200 and head.read() == b""
        request = urllib.request.Request(url, data=b"{}", headers={"content-type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request)
        assert refused.value.code == 415
        with pytest.raises(urllib.error.HTTPError) as elsewhere:
            urllib.request.urlopen(f"{session.base_url}/admin")
        assert elsewhere.value.code == 404
    assert (approval.get_request("ref-1") or {})["status"] == "PENDING"
