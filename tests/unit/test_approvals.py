"""Approvals as pure functions: ids, the anti-forgery token, the snapshot, decisions, overrides."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from opspilot.domain.approvals import (
    DEFAULT_APPROVER,
    MAX_BODY_BYTES,
    ApprovalView,
    LinkState,
    Refusal,
    apply_approved_value,
    approver_group,
    build_view,
    check_same_origin,
    deadline,
    encode_key,
    form_token,
    link_key,
    parse_decision,
    read_form,
    request_ref,
    state_of,
    token_matches,
    workflow_output,
)
from opspilot.domain.model import ActionType, PlannedAction

KEY = encode_key(b"\x01" * 32)
AT = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
MakeView = Callable[..., ApprovalView]


def test_link_keys_are_sha256_and_refs_are_per_execution_and_round() -> None:
    assert link_key("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert request_ref("arn:e", 1) != request_ref("arn:e", 2) != request_ref("arn:f", 2)
    assert request_ref("arn:e", 1) == request_ref("arn:e", 1) and len(request_ref("arn:e", 1)) == 32


def test_the_form_token_is_bound_to_the_link_and_the_request_secret() -> None:
    token = form_token(KEY, link_key("link-a"))
    assert token_matches(KEY, link_key("link-a"), token)
    assert not token_matches(KEY, link_key("link-b"), token), "another approver's link"
    assert not token_matches(encode_key(b"\x02" * 32), link_key("link-a"), token), "another approval"
    assert not token_matches(KEY, link_key("link-a"), None)
    assert not token_matches(KEY, link_key("link-a"), token[:-1] + ("A" if token[-1] != "A" else "B"))
    assert not token_matches(KEY, link_key("link-a"), token * 2), "absurdly long"
    assert len(base64.urlsafe_b64decode(token + "=")) == 32


@pytest.mark.parametrize(
    ("round_", "approvers", "escalation", "expected"),
    [
        (1, "a@x.com, b@x.com", "c@x.com", ["a@x.com", "b@x.com"]),
        (2, "a@x.com, b@x.com", "c@x.com", ["c@x.com"]),
        (2, "a@x.com", "", ["a@x.com"]),  # no escalation group: the same people, new links
        (1, "", "", [DEFAULT_APPROVER]),
        (1, "a@x.com,A@x.com,,a@x.com", "", ["a@x.com"]),
    ],
)
def test_who_is_asked(round_: int, approvers: str, escalation: str, expected: list[str]) -> None:
    assert approver_group(round_, approvers, escalation) == expected


@pytest.mark.parametrize("entered", ["2026-11-30T09:59:00.123Z", "2026-11-30T09:59:00.123000+00:00"])
def test_the_deadline_counts_from_when_step_functions_entered_the_state(entered: str) -> None:
    assert deadline(entered, AT, 600) == datetime(2026, 11, 30, 10, 9, 0, 123000, tzinfo=UTC)


def test_a_missing_or_future_entry_time_counts_from_now() -> None:
    assert deadline(None, AT, 60) == AT + timedelta(seconds=60)
    assert deadline("not a time", AT, 60) == AT + timedelta(seconds=60)
    assert deadline("2030-01-01T00:00:00Z", AT, 60) == AT + timedelta(seconds=60)


def test_the_view_holds_what_changes_and_why() -> None:
    plan: dict[str, Any] = {
        "scenario": "non_quota",
        "rule": "failure-investigate",
        "summary": "open a case",
        "actions": [
            {
                "action_id": "open_support_case:investigation",
                "type": "open_support_case",
                "reason": "r",
                "params": {
                    "subject": "[OpsPilot] investigation",
                    "severityCode": "high",
                    "communicationBody": "x" * 900,
                },
            },
            {
                "action_id": "request_quota_increase:L-3D8CC480",
                "type": "request_quota_increase",
                "reason": "RPM",
                "params": {"QuotaCode": "L-3D8CC480", "DesiredValue": 750},
            },
        ],
        "evidence": {
            "threshold_percent": 80,
            "peak_rpm": 421,
            "forecast": {"rpm": "quota reached in 10.8 days"},
        },
    }
    context = {
        "usage": {"daily_peak_rpm": list(range(14)), "daily_peak_tpm": [], "throttles": 12},
        "quotas": {
            "quotas": [{"kind": "rpm", "quota_code": "L-3D8CC480", "quota_name": "RPM", "value": 500}]
        },
    }
    view = build_view({"incident_id": "inc-1", "model_id": "m"}, plan, context, AT)
    (case,) = view.cases
    assert (case.subject, case.severity, len(case.body_preview), case.body_chars) == (
        "[OpsPilot] investigation",
        "high",
        600,
        900,
    )
    (change,) = view.quota_changes
    assert (change.quota_name, change.current, change.requested, change.kind) == ("RPM", 500, 750, "rpm")
    (chart,) = view.charts  # TPM has no peaks: no chart
    assert (chart.kind, chart.quota, chart.threshold, chart.requested) == ("rpm", 500, 400, 750)
    assert ("Throttled requests, 14 days", "12") in view.evidence
    assert view.forecast == ["RPM: quota reached in 10.8 days"]
    assert ApprovalView.parse(view.to_json()) == view  # stored and read back


def fields(**values: str) -> dict[str, list[str]]:
    return {k: [v] for k, v in {"token": "t", "decision": "approve", **values}.items()}


@pytest.mark.parametrize(
    ("form", "status", "words"),
    [
        (fields(decision="maybe"), 400, "'approve' or 'reject'"),
        ({"token": ["t"]}, 400, "'approve' or 'reject'"),
        ({"token": ["t"], "decision": ["approve", "reject"]}, 400, "sent once"),
        (fields(**{"desired.L-3D8CC480": "751"}), 400, "never raise"),
        (fields(**{"desired.L-3D8CC480": "500"}), 400, "not above the current value"),
        (fields(**{"desired.L-3D8CC480": "-600"}), 400, "not a number"),
        (fields(**{"desired.L-3D8CC480": "nan"}), 400, "not a number"),
        (fields(**{"desired.L-3D8CC480": "6e2"}), 400, "not a number"),
        (fields(**{"desired.L-FFFFFFFF": "600"}), 400, "Unexpected field"),  # in no catalog, on purpose
        (fields(approver="someone"), 400, "Unexpected field"),
        (fields(comment="c" * 501), 400, "longer than 500"),
        (fields(comment="bell\x07"), 400, "control characters"),
    ],
)
def test_bad_decisions_are_refused(
    make_approval_view: MakeView, form: dict[str, list[str]], status: int, words: str
) -> None:
    with pytest.raises(Refusal) as refused:
        parse_decision(form, make_approval_view())
    assert refused.value.status == status and words in refused.value.message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", {}),
        ("750", {}),
        ("600", {"request_quota_increase:L-3D8CC480": 600.0}),
        ("600.5", {"request_quota_increase:L-3D8CC480": 600.5}),
    ],
)
def test_an_approver_may_lower_a_value(
    make_approval_view: MakeView, value: str, expected: dict[str, float]
) -> None:
    view = make_approval_view()
    decision = parse_decision(fields(**{"desired.L-3D8CC480": value}, comment=" ok \n"), view)
    assert (decision.status, decision.values, decision.comment) == ("approved", expected, "ok")


def test_a_rejection_ignores_values(make_approval_view: MakeView) -> None:
    view = make_approval_view()
    decision = parse_decision(fields(decision="reject", **{"desired.L-3D8CC480": "99999"}), view)
    assert (decision.status, decision.values) == ("rejected", {})
    assert workflow_output(decision, "a", "t", 2) == {
        "status": "rejected",
        "by": "a",
        "at": "t",
        "comment": "",
        "round": 2,
    }


@pytest.mark.parametrize(
    ("body", "b64", "ctype", "status"),
    [
        ("decision=approve", False, "application/json", 415),
        ("decision=approve", False, "", 415),
        ("x" * (MAX_BODY_BYTES + 1), False, "application/x-www-form-urlencoded", 413),
        (
            base64.b64encode(b"x" * (MAX_BODY_BYTES + 1)).decode(),
            True,
            "application/x-www-form-urlencoded",
            413,
        ),
        ("!!!", True, "application/x-www-form-urlencoded", 400),
        (base64.b64encode(b"a=\xff").decode(), True, "application/x-www-form-urlencoded", 400),
        ("&".join(f"f{i}=1" for i in range(30)), False, "application/x-www-form-urlencoded", 400),
    ],
)
def test_bodies_that_are_not_small_forms(body: str, b64: bool, ctype: str, status: int) -> None:
    with pytest.raises(Refusal) as refused:
        read_form(body, b64, ctype)
    assert refused.value.status == status


def test_a_small_form_is_read() -> None:
    assert read_form(
        "decision=approve&comment=", False, "application/x-www-form-urlencoded; charset=UTF-8"
    ) == {
        "decision": ["approve"],
        "comment": [""],
    }


@pytest.mark.parametrize(
    ("headers", "allowed"),
    [
        ({"host": "a.example", "origin": "https://a.example", "sec-fetch-site": "same-origin"}, True),
        ({"host": "a.example"}, True),  # no browser metadata at all (curl): the token still decides
        ({"host": "a.example", "origin": "https://evil.example"}, False),
        ({"host": "a.example", "origin": "null"}, False),
        ({"host": "a.example", "sec-fetch-site": "cross-site"}, False),
        ({"host": "a.example", "sec-fetch-site": "same-site"}, False),
    ],
)
def test_posts_from_other_sites_are_refused(headers: dict[str, str], allowed: bool) -> None:
    if allowed:
        check_same_origin(headers)
    else:
        with pytest.raises(Refusal):
            check_same_origin(headers)


@pytest.mark.parametrize(
    ("record", "state"),
    [
        ({"status": "PENDING", "expires_at": "2026-11-30T11:00:00.000Z"}, LinkState.PENDING),
        ({"status": "PENDING", "expires_at": "2026-11-30T10:00:00.000Z"}, LinkState.EXPIRED),
        ({"status": "DECIDED", "expires_at": "2026-11-30T11:00:00.000Z"}, LinkState.DECIDED),
        ({"status": "SUPERSEDED", "expires_at": "2026-11-30T11:00:00.000Z"}, LinkState.SUPERSEDED),
        ({"status": "MOVED_ON", "expires_at": "2026-11-30T09:00:00.000Z"}, LinkState.MOVED_ON),
    ],
)
def test_link_states(record: dict[str, Any], state: LinkState) -> None:
    assert state_of(record, "2026-11-30T10:00:00.000Z") is state


ACTION = PlannedAction(
    action_id="request_quota_increase:L-3D8CC480",
    type=ActionType.REQUEST_QUOTA_INCREASE,
    reason="r",
    params={"ServiceCode": "bedrock", "QuotaCode": "L-3D8CC480", "DesiredValue": 750.0},
)


@pytest.mark.parametrize(
    ("approval", "sent"),
    [
        (None, 750.0),
        ({"status": "not_required"}, 750.0),
        ({"status": "approved"}, 750.0),
        ({"status": "approved", "overrides": {ACTION.action_id: {"DesiredValue": 600}}}, 600.0),
        (
            {"status": "approved", "overrides": {ACTION.action_id: {"DesiredValue": 900}}},
            750.0,
        ),  # never raised
        ({"status": "approved", "overrides": {ACTION.action_id: {"DesiredValue": -1}}}, 750.0),
        ({"status": "approved", "overrides": {ACTION.action_id: {"DesiredValue": "600"}}}, 750.0),
        ({"status": "approved", "overrides": {ACTION.action_id: {"DesiredValue": True}}}, 750.0),
        ({"status": "approved", "overrides": {"other": {"DesiredValue": 600}}}, 750.0),
        ({"status": "rejected", "overrides": {ACTION.action_id: {"DesiredValue": 600}}}, 750.0),
    ],
)
def test_execute_action_sends_only_an_approved_lower_value(
    approval: dict[str, Any] | None, sent: float
) -> None:
    action, planned = apply_approved_value(ACTION, approval)
    assert action.params["DesiredValue"] == sent
    assert planned == (750.0 if sent != 750.0 else None)
    assert ACTION.params["DesiredValue"] == 750.0, "the planned action is not modified"
