"""The approval callback handler, with its records in moto's DynamoDB.

Each bad request must change nothing: the approval stays PENDING and the workflow is not resumed.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from opspilot.adapters.incidents import IncidentStore, iso
from opspilot.handlers import approval_api
from opspilot.handlers.request_approval import approval_key
from opspilot_cli.moto_shim import LambdaContextStub
from opspilot_cli.stack import SimulatedStack

EVENTS = Path(__file__).resolve().parents[2] / "events"
APPROVAL_ID = "A" * 32
CTX: Any = LambdaContextStub(function_name="ApprovalCallbackFunction")


def request(
    method: str, approval_id: str = APPROVAL_ID, body: str | None = None, **headers: str
) -> dict[str, Any]:
    return {
        "version": "2.0",
        "headers": headers,
        "pathParameters": {"approval_id": approval_id},
        "requestContext": {"http": {"method": method, "sourceIp": "198.51.100.7", "userAgent": "pytest"}},
        "body": body,
        "isBase64Encoded": False,
    }


def form(body: str) -> dict[str, Any]:
    return request("POST", body=body, **{"content-type": "application/x-www-form-urlencoded"})


@pytest.fixture
def pending(stack: SimulatedStack) -> IncidentStore:
    store = IncidentStore(stack.table_name, 30)
    expires = datetime.now(UTC) + timedelta(hours=1)
    store.put_approval(
        approval_key(APPROVAL_ID),
        {
            "status": "PENDING",
            "task_token": "token-that-must-not-be-used",
            "incident_id": "inc-1",
            "incident": {
                "incident_id": "inc-1",
                "model_id": "amazon.nova-pro-v1:0",
                "category": "quota_pressure",
            },
            "plan": {
                "scenario": "high_usage",
                "rule": "pilot-approve-every-change",
                "summary": "Pilot: every change needs approval.",
                "actions": [
                    {
                        "type": "request_quota_increase",
                        "reason": "RPM quota 1000 -> 1500 (+50%).",
                        "params": {
                            "ServiceCode": "bedrock",
                            "QuotaCode": "L-1F3A5C7E",
                            "DesiredValue": 1500.0,
                        },
                    }
                ],
            },
            "approvers": ["lead@example.com"],
            "expires_at": iso(expires),
        },
        expires,
    )
    return store


def still_pending(store: IncidentStore) -> bool:
    record = store.get_approval(approval_key(APPROVAL_ID))
    return record is not None and record["status"] == "PENDING"


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_get_and_head_show_the_change_and_decide_nothing(pending: IncidentStore, method: str) -> None:
    page = approval_api.handler(request(method), CTX)
    assert page["statusCode"] == 200
    assert "L-1F3A5C7E -&gt; 1,500" in page["body"]
    assert "pilot-approve-every-change" in page["body"]
    assert still_pending(pending)


@pytest.mark.parametrize(
    ("event", "status"),
    [
        (request("GET", approval_id="not-an-id"), 404),
        (request("GET", approval_id="B" * 32), 404),
        (form("decision=maybe&approver=lead%40example.com"), 400),
        (form("decision=approve&approver=mallory%40example.com"), 403),
        (request("POST", body="decision=approve&approver=lead%40example.com"), 400),  # no form content type
        (form("decision=approve&approver=lead%40example.com&pad=" + "x" * 5000), 400),  # oversized
        (request("DELETE"), 405),
    ],
)
def test_bad_requests_change_nothing(pending: IncidentStore, event: dict[str, Any], status: int) -> None:
    assert approval_api.handler(event, CTX)["statusCode"] == status
    assert still_pending(pending)


def test_a_replayed_post_after_a_decision_is_refused(pending: IncidentStore) -> None:
    assert pending.decide_approval(
        approval_key(APPROVAL_ID), {"decision": "approve", "by": "lead"}, datetime.now(UTC)
    )
    page = approval_api.handler(form("decision=reject&approver=lead%40example.com"), CTX)
    assert page["statusCode"] == 409
    assert pending.get_approval(approval_key(APPROVAL_ID))["decision"]["decision"] == "approve"  # type: ignore[index]


def test_the_real_shape_fixtures_are_understood(pending: IncidentStore) -> None:
    event = json.loads((EVENTS / "approval-get.json").read_text())
    event["pathParameters"]["approval_id"] = APPROVAL_ID
    assert approval_api.handler(event, CTX)["statusCode"] == 200
