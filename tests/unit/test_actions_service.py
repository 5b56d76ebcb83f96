"""Execute Action's service (:mod:`opspilot.services.actions`) with in-memory AWS and store: every
outcome of a quota increase request and of a support case, as recorded and as sent to AWS.

The last tests check the handler's edge, where botocore's ClientError (from botocore's Stubber,
so shaped by the service model) becomes the AwsRefusal the service reads.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from opspilot.adapters import quotas, support
from opspilot.domain.errors import AwsPermissionError, InvalidInput, ResponseLost, TransientAwsError
from opspilot.domain.model import ActionType, PlannedAction
from opspilot.domain.policy import Policy, load_policy
from opspilot.handlers.execute_action import _refusals
from opspilot.services.actions import (
    CONSOLE_CREATE_CASE,
    QUOTA_REQUEST_REFUSALS,
    ActionDependencies,
    AwsRefusal,
    execute_action,
)

INCIDENT = "inc-1"
REGION = "us-west-2"
CODE = "L-3D8CC480"
SUBJECT = "[OpsPilot] investigation: amazon.nova-pro-v1:0 in us-east-1"
START = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
POLICY = load_policy()

QUOTA_ACTION = PlannedAction(
    action_id=f"request_quota_increase:{CODE}",
    type=ActionType.REQUEST_QUOTA_INCREASE,
    reason="RPM pressure",
    params={"ServiceCode": "bedrock", "QuotaCode": CODE, "DesiredValue": 750.0},
)
CASE_ACTION = PlannedAction(
    action_id="open_support_case:investigation",
    type=ActionType.OPEN_SUPPORT_CASE,
    reason="server errors",
    params={
        "subject": SUBJECT,
        "serviceCode": "amazon-bedrock",
        "categoryCode": "other",
        "severityCode": "urgent",
        "communicationBody": "InvocationServerErrors above 5 for 15 minutes",
    },
)


class FakeStore:
    """The incident store's actions, claimed with the same at-most-once rule as the DynamoDB one."""

    def __init__(self, region: str | None = REGION) -> None:
        self.incident: dict[str, Any] = {"incident": {"region": region}} if region else {"incident": {}}
        self.actions: dict[tuple[str, str], dict[str, Any]] = {}
        self.audit: list[tuple[str, dict[str, Any]]] = []
        self.ledger: defaultdict[tuple[str, str], dict[str, float]] = defaultdict(dict)

    def claim_action(self, incident_id: str, action_id: str, now: datetime) -> dict[str, Any] | None:
        key = (incident_id, action_id)
        if key in self.actions:
            return self.actions[key]
        self.actions[key] = {"status": "in_progress", "claimed_at": now.isoformat()}
        return None

    def get_incident(self, incident_id: str) -> dict[str, Any] | None:
        return self.incident if incident_id == INCIDENT else None

    def complete_action(
        self, incident_id: str, action_id: str, record: dict[str, Any], now: datetime
    ) -> None:
        self.actions[(incident_id, action_id)] = {**record, "completed_at": now.isoformat()}

    def append_audit(self, incident_id: str, kind: str, data: dict[str, Any], now: datetime) -> None:
        self.audit.append((kind, data))

    def record_quota_request(
        self, region: str, quota_code: str, request_id: str, previous: float, desired: float, now: datetime
    ) -> None:
        self.ledger[(region, quota_code)][request_id] = previous

    def quota_ledger(self, region: str, quota_code: str) -> dict[str, float]:
        return dict(self.ledger[(region, quota_code)])


class FakeAws:
    """Service Quotas and AWS Support as the service sees them; ``sent`` lists every change made."""

    def __init__(self) -> None:
        self.quota: dict[str, Any] = {"QuotaCode": CODE, "Value": 500.0, "Adjustable": True}
        self.history: list[dict[str, Any]] = []  # Service Quotas' history of the quota
        self.lost = 0  # RequestServiceQuotaIncrease / CreateCase calls whose answer is lost
        self.plan = "business_or_enterprise"
        self.cases: list[dict[str, Any]] = []
        self.severities = ["low", "normal", "high"]
        self.refusal: AwsRefusal | None = None  # of RequestServiceQuotaIncrease or CreateCase
        self.denied = False  # GetServiceQuota denied
        self.dry_run = False
        self.sent: list[tuple[str, Any]] = []
        self.read_at: list[datetime] = []

    def get_quota(self, code: str, region: str) -> dict[str, Any]:
        assert (code, region) == (CODE, REGION)
        if self.denied:
            raise AwsPermissionError(f"GetServiceQuota {code}: AccessDeniedException: not allowed")
        return self.quota

    def quota_history(self, code: str, region: str) -> list[dict[str, Any]]:
        assert (code, region) == (CODE, REGION)
        return self.history

    def request_increase(self, params: dict[str, Any], region: str) -> dict[str, Any]:
        assert region == REGION
        if self.refusal:
            raise self.refusal
        self.sent.append(("RequestServiceQuotaIncrease", params))
        filed = {"Id": f"req-{len(self.sent)}", "Status": "PENDING", "CaseId": "case-9"}
        self.history.append(
            {**filed, "QuotaCode": CODE, "DesiredValue": params["DesiredValue"], "Created": START}
        )
        if self.lost:
            self.lost -= 1
            raise ResponseLost("RequestServiceQuotaIncrease: ReadTimeoutError")
        return filed

    def open_cases(self, at: datetime) -> tuple[str, list[dict[str, Any]]]:
        self.read_at.append(at)
        return self.plan, self.cases

    def add_communication(self, case_id: str, body: str) -> None:
        self.sent.append(("AddCommunicationToCase", {"caseId": case_id, "communicationBody": body}))
        if self.lost:
            self.lost -= 1
            raise ResponseLost("AddCommunicationToCase: ReadTimeoutError")

    def case_communications(self, case_id: str, after: datetime) -> list[str]:
        return [
            p["communicationBody"]
            for op, p in self.sent
            if op == "AddCommunicationToCase" and p["caseId"] == case_id
        ]

    def severity_codes(self) -> list[str]:
        return self.severities

    def create_case(self, params: dict[str, Any]) -> str:
        if self.refusal:
            raise self.refusal
        self.sent.append(("CreateCase", params))
        self.cases.append({"caseId": "case-new", "displayId": "1001", "subject": params["subject"]})
        if self.lost:
            self.lost -= 1
            raise ResponseLost("CreateCase: ReadTimeoutError")
        return "case-new"


class Clock:
    def __init__(self) -> None:
        self.at = START

    def __call__(self) -> datetime:
        self.at += timedelta(seconds=1)
        return self.at


class Log:
    def __init__(self) -> None:
        self.lines: list[tuple[str, dict[str, object]]] = []

    def info(self, msg: str, *, extra: Mapping[str, object]) -> None:
        self.lines.append((msg, dict(extra)))


@pytest.fixture
def aws() -> FakeAws:
    return FakeAws()


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
def log() -> Log:
    return Log()


def run(
    aws: FakeAws,
    store: FakeStore,
    action: PlannedAction = QUOTA_ACTION,
    approval: dict[str, Any] | None = None,
    log: Log | None = None,
    policy: Policy = POLICY,
    clock: Clock | None = None,
) -> dict[str, Any]:
    deps = ActionDependencies(
        store=store,
        get_quota=aws.get_quota,
        quota_history=aws.quota_history,
        request_increase=aws.request_increase,
        open_cases=aws.open_cases,
        add_communication=aws.add_communication,
        case_communications=aws.case_communications,
        severity_codes=aws.severity_codes,
        create_case=aws.create_case,
        dry_run=lambda: aws.dry_run,
        policy=policy,
        now=clock or Clock(),
        log=log or Log(),
    )
    return execute_action(INCIDENT, action, approval, deps)


def recorded(store: FakeStore, action: PlannedAction = QUOTA_ACTION) -> dict[str, Any]:
    """The completed record, and that the audit trail carries the same one."""
    record = store.actions[(INCIDENT, action.action_id)]
    assert store.audit == [("action", {k: v for k, v in record.items() if k != "completed_at"})]
    return record


# ------------------------------------------------------------------ quota increase requests


def test_a_quota_below_the_desired_value_is_requested(aws: FakeAws, store: FakeStore, log: Log) -> None:
    out = run(aws, store, log=log)
    assert aws.sent == [("RequestServiceQuotaIncrease", QUOTA_ACTION.params)]
    assert out == {
        "action_id": QUOTA_ACTION.action_id,
        "type": "request_quota_increase",
        "status": "executed",
        "params": QUOTA_ACTION.params,
        "result": {
            "summary": f"requested {CODE} -> 750: pending",
            "request_id": "req-1",
            "status": "PENDING",
            "case_id": "case-9",
            "previous_value": 500.0,  # the quota when it was filed
        },
    }
    assert recorded(store) == {**out, "completed_at": "2026-11-30T10:00:02+00:00"}
    assert store.ledger[(REGION, CODE)] == {"req-1": 500.0}, "the governor's ledger of our increases"
    assert log.lines == [("action done", {"action_id": QUOTA_ACTION.action_id, "status": "executed"})]


def test_an_approved_lower_value_is_sent_and_the_planned_one_kept(aws: FakeAws, store: FakeStore) -> None:
    approval = {"status": "approved", "overrides": {QUOTA_ACTION.action_id: {"DesiredValue": 600}}}
    out = run(aws, store, approval=approval)
    sent = {**QUOTA_ACTION.params, "DesiredValue": 600.0}
    assert aws.sent == [("RequestServiceQuotaIncrease", sent)]
    assert out["params"] == sent
    assert out["result"]["planned_value"] == 750.0
    assert out["result"]["summary"] == f"requested {CODE} -> 600: pending"


def test_a_quota_that_is_not_adjustable_is_skipped(aws: FakeAws, store: FakeStore) -> None:
    aws.quota["Adjustable"] = False
    out = run(aws, store)
    assert aws.sent == []
    assert (out["status"], out["result"]) == (
        "skipped",
        {"summary": f"quota {CODE} is not adjustable", "reason": "not_adjustable"},
    )


def test_a_pending_request_is_reused_not_filed_again(aws: FakeAws, store: FakeStore) -> None:
    aws.history = [
        {"Id": "req-0", "Status": "CASE_OPENED", "CaseId": "case-0"},
        {"Id": "req-x", "Status": "PENDING"},
    ]
    out = run(aws, store)
    assert aws.sent == []
    assert (out["status"], out["result"]) == (
        "skipped",
        {
            "summary": "attached to pending request req-0 (case opened, AWS is reviewing it)",
            "reason": "pending_request_exists",
            "request_id": "req-0",
            "case_id": "case-0",
        },
    )


@pytest.mark.parametrize("value", [750.0, 1000.0])
def test_a_quota_already_at_the_value_is_skipped(aws: FakeAws, store: FakeStore, value: float) -> None:
    aws.quota["Value"] = value
    out = run(aws, store)
    assert aws.sent == []
    assert out["status"] == "skipped"
    assert out["result"] == {
        "summary": f"quota {CODE} is already {value:,.0f}",
        "reason": "already_at_desired_value",
    }


@pytest.mark.parametrize(
    "code",
    [
        "QuotaExceededException",
        "IllegalArgumentException",
        "NoSuchResourceException",
        "InvalidResourceStateException",
    ],
)
def test_each_recorded_request_error_is_a_failed_action(aws: FakeAws, store: FakeStore, code: str) -> None:
    aws.refusal = AwsRefusal(code, "the service says no")
    out = run(aws, store)
    assert (out["status"], out["result"]) == (
        "failed",
        {"summary": f"{code}: the service says no", "error": code},
    )
    assert out["params"] == QUOTA_ACTION.params
    assert recorded(store)["status"] == "failed"


def test_an_existing_request_is_a_skipped_action(aws: FakeAws, store: FakeStore) -> None:
    aws.refusal = AwsRefusal("ResourceAlreadyExistsException", "already requested")
    out = run(aws, store)
    assert (out["status"], out["result"]) == (
        "skipped",
        {
            "summary": "a request for this quota already exists",
            "reason": "ResourceAlreadyExistsException",
        },
    )


def test_a_request_whose_answer_is_lost_is_found_in_the_history_and_recorded(
    aws: FakeAws, store: FakeStore
) -> None:
    aws.lost = 1  # filed, and every attempt's answer lost (botocore's retries included)
    out = run(aws, store)
    assert len(aws.sent) == 1
    assert (out["status"], out["result"]) == (
        "executed",
        {
            "summary": f"requested {CODE} -> 750: pending "
            "(the answer was lost; found in Service Quotas' history)",
            "request_id": "req-1",
            "status": "PENDING",
            "case_id": "case-9",
            "reconciled": True,
            "previous_value": 500.0,
        },
    )


def test_a_lost_answer_with_nothing_in_the_history_is_a_recorded_failure(
    aws: FakeAws, store: FakeStore
) -> None:
    aws.lost = 1
    aws.quota_history = lambda code, region: []  # type: ignore[method-assign]
    out = run(aws, store)
    assert (out["status"], out["result"]["error"]) == ("failed", "ResponseLost")
    assert "has no request for L-3D8CC480 -> 750" in out["result"]["summary"]


def test_an_existing_request_of_our_own_is_this_actions_request(aws: FakeAws, store: FakeStore) -> None:
    # the first botocore attempt filed it and lost the answer; the retry met the open request
    aws.history = [
        {"Id": "req-7", "QuotaCode": CODE, "DesiredValue": 750.0, "Status": "PENDING", "Created": START}
    ]
    aws.quota_history = lambda code, region: aws.history if aws.refusal else []  # type: ignore[method-assign]
    aws.refusal = AwsRefusal("ResourceAlreadyExistsException", "already requested")
    out = run(aws, store)
    assert (out["status"], out["result"]["request_id"], out["result"]["reconciled"]) == (
        "executed",
        "req-7",
        True,
    )


def test_a_retried_action_finds_its_own_request_and_files_nothing(aws: FakeAws, store: FakeStore) -> None:
    # the first invocation filed, then its Lambda response was lost: the claim is still open
    store.actions[(INCIDENT, QUOTA_ACTION.action_id)] = {
        "status": "in_progress",
        "claimed_at": "2026-11-30T09:59:59+00:00",
    }
    aws.history = [
        {"Id": "req-7", "QuotaCode": CODE, "DesiredValue": 750.0, "Status": "PENDING", "Created": START}
    ]
    out = run(aws, store)
    assert aws.sent == []
    assert (out["status"], out["result"]["request_id"]) == ("executed", "req-7")
    assert "filed by an earlier attempt of this action" in out["result"]["summary"]


def test_the_governor_refuses_at_filing_a_quota_requested_within_the_cooldown(
    aws: FakeAws, store: FakeStore
) -> None:
    # another incident's request was approved two days ago, while this plan waited for approval
    aws.history = [
        {
            "Id": "req-3",
            "QuotaCode": CODE,
            "DesiredValue": 600.0,
            "Status": "APPROVED",
            "Created": START - timedelta(days=3),
            "LastUpdated": START - timedelta(days=2),
        }
    ]
    out = run(aws, store)
    assert aws.sent == []
    assert (out["status"], out["result"]["reason"]) == ("skipped", "governor_cooldown")
    assert out["result"]["summary"] == (
        f"Quota {CODE}: request req-3 raised it to 600 on 2026-11-28 10:00 UTC; "
        "no new request before 2026-12-05 10:00 UTC (7-day cooldown)."
    )
    assert out["result"]["refusal"]["request_id"] == "req-3"


def test_a_shorter_cooldown_in_the_policy_lets_the_request_through(aws: FakeAws, store: FakeStore) -> None:
    aws.history = [
        {
            "Id": "req-3",
            "QuotaCode": CODE,
            "DesiredValue": 600.0,
            "Status": "DENIED",
            "Created": START - timedelta(days=2),
        }
    ]
    short = POLICY.replace(governor=POLICY.governor.replace(cooldown_days=1))
    assert run(aws, store, policy=short)["status"] == "executed"


def test_the_governor_refuses_at_filing_a_value_above_the_ceiling(aws: FakeAws, store: FakeStore) -> None:
    capped = POLICY.replace(guardrails=POLICY.guardrails.replace(max_values={CODE: 700}))
    out = run(aws, store, policy=capped)
    assert aws.sent == []
    assert (out["status"], out["result"]["reason"]) == ("skipped", "governor_at_ceiling")


def test_another_request_error_fails_the_task_with_nothing_recorded(aws: FakeAws, store: FakeStore) -> None:
    aws.refusal = AwsRefusal("DependencyAccessDeniedException")
    with pytest.raises(AwsRefusal, match="DependencyAccessDeniedException"):
        run(aws, store)
    assert store.actions[(INCIDENT, QUOTA_ACTION.action_id)]["status"] == "in_progress"
    assert store.audit == []


def test_a_denied_check_is_the_actions_recorded_failure(aws: FakeAws, store: FakeStore) -> None:
    aws.denied = True
    out = run(aws, store)
    assert aws.sent == []
    assert (out["status"], out["result"]) == (
        "failed",
        {
            "summary": f"AccessDeniedException: GetServiceQuota {CODE}: AccessDeniedException: not allowed",
            "error": "AccessDeniedException",
        },
    )


# ------------------------------------------------------------------ support cases


def test_without_business_support_the_case_is_left_to_people(aws: FakeAws, store: FakeStore) -> None:
    aws.plan = "basic"
    out = run(aws, store, CASE_ACTION)
    assert aws.sent == []
    assert aws.read_at == [START + timedelta(seconds=2)], "cases looked up as of now"
    assert out["status"] == "skipped"
    assert out["params"] == CASE_ACTION.params
    assert out["result"] == {
        "summary": "no Business/Enterprise support: the pre-filled case is in this notification",
        "reason": "support_plan_basic",
        "manual_filing": {"console_url": CONSOLE_CREATE_CASE, **CASE_ACTION.params},
    }


def test_a_matching_open_case_gets_the_evidence_appended(aws: FakeAws, store: FakeStore) -> None:
    aws.cases = [
        {"caseId": "case-other", "subject": "[OpsPilot] investigation: another model"},
        {"caseId": "case-open", "displayId": "1234", "subject": SUBJECT},
    ]
    out = run(aws, store, CASE_ACTION)
    body = CASE_ACTION.params["communicationBody"]
    ref = f"OpsPilot reference: incident {INCIDENT}, action {CASE_ACTION.action_id}"
    sent = {"caseId": "case-open", "communicationBody": f"{body}\n\n{ref}"}
    assert aws.sent == [("AddCommunicationToCase", sent)]
    assert out["status"] == "executed"
    assert out["params"] == sent, "the params are those sent to AWS"
    assert out["result"] == {
        "summary": "added the evidence to open case 1234",
        "case_id": "case-open",
        "appended": True,
    }


def test_a_new_case_is_opened_with_the_severity_the_plan_offers(aws: FakeAws, store: FakeStore) -> None:
    aws.cases = [{"caseId": "case-other", "subject": "[OpsPilot] investigation: another model"}]
    out = run(aws, store, CASE_ACTION)
    sent = {**CASE_ACTION.params, "severityCode": "high"}  # urgent wanted, high is the plan's highest
    assert aws.sent == [("CreateCase", sent)]
    assert (out["status"], out["params"]) == ("executed", sent)
    assert out["result"] == {"summary": "opened support case case-new", "case_id": "case-new"}


def test_the_case_creation_limit_hands_the_case_to_people(aws: FakeAws, store: FakeStore) -> None:
    aws.refusal = AwsRefusal("CaseCreationLimitExceeded", "slow down")
    out = run(aws, store, CASE_ACTION)
    assert out["status"] == "failed"
    assert out["params"] == {**CASE_ACTION.params, "severityCode": "high"}
    assert out["result"] == {
        "summary": "AWS Support's case-creation rate was exceeded: "
        "the pre-filled case is in this notification",
        "reason": "case_creation_limit",
        "error": "CaseCreationLimitExceeded",
        "manual_filing": {"console_url": CONSOLE_CREATE_CASE, **CASE_ACTION.params},
    }


def test_a_case_whose_answer_is_lost_is_found_by_its_subject(aws: FakeAws, store: FakeStore) -> None:
    aws.lost = 1
    out = run(aws, store, CASE_ACTION)
    assert [op for op, _ in aws.sent] == ["CreateCase"], "sent once: CreateCase has no idempotency token"
    assert (out["status"], out["result"]["case_id"], out["result"]["reconciled"]) == (
        "executed",
        "case-new",
        True,
    )


def test_a_case_whose_answer_is_lost_and_not_found_is_retried_by_the_workflow(
    aws: FakeAws, store: FakeStore
) -> None:
    aws.lost = 1
    aws.open_cases = lambda at: (aws.plan, [])  # type: ignore[method-assign]
    with pytest.raises(TransientAwsError, match="no open case with the subject"):
        run(aws, store, CASE_ACTION)
    assert store.audit == []


def test_another_case_creation_error_is_a_failed_action(aws: FakeAws, store: FakeStore) -> None:
    aws.refusal = AwsRefusal("SubscriptionRequiredException")
    out = run(aws, store, CASE_ACTION)
    assert (out["status"], out["result"]) == (
        "failed",
        {"summary": "CreateCase: SubscriptionRequiredException", "error": "SubscriptionRequiredException"},
    )


# ------------------------------------------------------------------ around every action


@pytest.mark.parametrize("action", [QUOTA_ACTION, CASE_ACTION], ids=["quota", "case"])
def test_a_dry_run_records_the_request_and_sends_nothing(
    aws: FakeAws, store: FakeStore, action: PlannedAction
) -> None:
    aws.dry_run = True
    out = run(aws, store, action)
    assert aws.sent == [] and aws.read_at == []
    assert (out["status"], out["params"], out["result"]) == (
        "dry_run",
        action.params,
        {"summary": "dry run: request recorded, nothing sent"},
    )
    assert recorded(store, action)["status"] == "dry_run"


def test_a_retry_after_completion_returns_the_record_without_acting(
    aws: FakeAws, store: FakeStore, log: Log
) -> None:
    first = run(aws, store)
    aws.quota["Value"] = 100.0  # would be requested again if the service acted
    again = run(aws, store, log=log)
    assert again == first
    assert aws.sent == [("RequestServiceQuotaIncrease", QUOTA_ACTION.params)], "one request, not two"
    assert len(store.audit) == 1
    assert log.lines == [("action already done; not acting again", {"action_id": QUOTA_ACTION.action_id})]


def test_a_retry_of_an_unfinished_claim_acts(aws: FakeAws, store: FakeStore) -> None:
    store.actions[(INCIDENT, QUOTA_ACTION.action_id)] = {"status": "in_progress"}
    out = run(aws, store)
    assert out["status"] == "executed"
    assert len(aws.sent) == 1


def test_no_action_without_a_region_on_record(aws: FakeAws) -> None:
    store = FakeStore(region=None)
    with pytest.raises(InvalidInput, match="no Region on record"):
        run(aws, store)
    assert aws.sent == [] and store.audit == []


# ------------------------------------------------------------------ the handler's edge


@pytest.fixture
def service_quotas() -> Any:
    return boto3.client(
        "service-quotas", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"
    )


@pytest.mark.parametrize("code", sorted(QUOTA_REQUEST_REFUSALS))
def test_a_read_request_error_reaches_the_service_with_its_code(service_quotas: Any, code: str) -> None:
    request = _refusals(quotas.request_increase, QUOTA_REQUEST_REFUSALS)
    with Stubber(service_quotas) as stub:
        stub.add_client_error("request_service_quota_increase", code, "the service says no")
        with pytest.raises(AwsRefusal) as refused:
            request(QUOTA_ACTION.params, REGION, sq=service_quotas)
    assert (refused.value.code, refused.value.message) == (code, "the service says no")


def test_any_other_request_error_stays_a_client_error(service_quotas: Any) -> None:
    request = _refusals(quotas.request_increase, QUOTA_REQUEST_REFUSALS)
    with Stubber(service_quotas) as stub:
        stub.add_client_error("request_service_quota_increase", "DependencyAccessDeniedException")
        with pytest.raises(ClientError, match="DependencyAccessDeniedException"):
            request(QUOTA_ACTION.params, REGION, sq=service_quotas)


def test_every_case_creation_error_reaches_the_service_with_its_code() -> None:
    api = boto3.client("support", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    create = _refusals(support.create_case)
    with Stubber(api) as stub:
        stub.add_client_error("create_case", "CaseCreationLimitExceeded", "slow down")
        with pytest.raises(AwsRefusal) as refused:
            create(CASE_ACTION.params, support=api)
    assert (refused.value.code, refused.value.message) == ("CaseCreationLimitExceeded", "slow down")


OPEN_CASE = {"caseId": "case-open", "displayId": "1234", "subject": SUBJECT}


def test_evidence_whose_answer_was_lost_is_found_on_the_case_not_added_again(
    aws: FakeAws, store: FakeStore
) -> None:
    aws.cases, aws.lost = [OPEN_CASE], 1
    out = run(aws, store, CASE_ACTION)
    assert [op for op, _ in aws.sent] == ["AddCommunicationToCase"]
    assert out["status"] == "executed" and out["result"]["reconciled"] is True
    assert "the answer was lost; found on the case" in out["result"]["summary"]


def test_a_retried_action_finds_its_evidence_on_the_case_and_adds_nothing(
    aws: FakeAws, store: FakeStore
) -> None:
    aws.cases = [OPEN_CASE]
    # the first attempt added the evidence, then its Lambda's answer was lost before it finished
    first = run(aws, store, CASE_ACTION)
    store.actions[(INCIDENT, CASE_ACTION.action_id)] = {
        "status": "in_progress",
        "claimed_at": START.isoformat(),
    }
    again = run(aws, store, CASE_ACTION)
    assert [op for op, _ in aws.sent] == ["AddCommunicationToCase"], "added once"
    assert again["params"] == first["params"] and again["result"]["reconciled"] is True


def test_evidence_neither_answered_nor_on_the_case_is_retried_by_the_workflow(
    aws: FakeAws, store: FakeStore
) -> None:
    aws.cases, aws.lost = [OPEN_CASE], 1
    aws.case_communications = lambda case_id, after: []  # type: ignore[method-assign]
    with pytest.raises(TransientAwsError, match="the evidence is not on case 1234 yet"):
        run(aws, store, CASE_ACTION)


def test_an_action_a_revision_asked_again_for_acts_on_nothing(aws: FakeAws, store: FakeStore) -> None:
    # another execution still waiting for its approver when the plan was revised: the revision's
    # version is what is asked and filed
    revised = {**QUOTA_ACTION.to_json(), "action_id": f"{QUOTA_ACTION.action_id}#2"}
    revised["params"] = {**QUOTA_ACTION.params, "DesiredValue": 900.0}
    store.incident["plan"] = {"actions": [QUOTA_ACTION.to_json(), revised]}
    out = run(aws, store)
    assert aws.sent == []
    assert out["status"] == "skipped" and out["result"]["reason"] == "superseded"
    assert (
        out["result"]["summary"] == f"superseded by the revised plan's {revised['action_id']} ({CODE} -> 900)"
    )


def test_a_request_past_what_the_windows_ceiling_leaves_is_not_filed(aws: FakeAws, store: FakeStore) -> None:
    # ours, 10 days ago: 400 -> 500 (+100); the policy allows +200 per 30 days: 750 would add 250
    aws.history = [
        {
            "Id": "req-0",
            "QuotaCode": CODE,
            "DesiredValue": 500.0,
            "Status": "APPROVED",
            "Created": START - timedelta(days=10),
            "LastUpdated": START - timedelta(days=9),
        }
    ]
    store.ledger[(REGION, CODE)] = {"req-0": 400.0}
    windowed = POLICY.replace(
        governor=POLICY.governor.replace(max_requests_per_window=5, window_ceilings={CODE: 200.0})
    )
    out = run(aws, store, policy=windowed)
    assert aws.sent == []
    assert out["status"] == "skipped" and out["result"]["reason"] == "governor_window_ceiling"
    assert out["result"]["summary"] == (
        f"Quota {CODE}: 500 -> 750 would add more than the 100 our increases may still add within 30 days."
    )
