"""The offline Service Quotas / Support world, driven through real boto3 clients under moto."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3
import botocore.handlers
import botocore.session
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ParamValidationError, ReadTimeoutError
from moto import mock_aws

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_service_quotas import ServiceQuotasClient
    from mypy_boto3_support import SupportClient

from opspilot_sim.fake_aws import (
    ERROR_CODES,
    SQ,
    SUPPORT,
    TARGET_PREFIXES,
    UNMODELED_ERROR_CODES,
    Communication,
    SimulatedAws,
    attach,
    install,
    installed,
    uninstall,
)

REGION = "us-east-1"
NO_RETRY = Config(retries={"total_max_attempts": 1})
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
_SESSION = botocore.session.get_session()


class Clock:
    """A settable clock for the world."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def assert_error(exc: pytest.ExceptionInfo[ClientError], service: str, code: str) -> None:
    """The error code is the expected one and the service model knows it."""
    assert exc.value.response["Error"]["Code"] == code
    modeled = {shape.name for shape in _SESSION.get_service_model(service).error_shapes}
    assert code in modeled or code in UNMODELED_ERROR_CODES


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def world(clock: Clock) -> Iterator[SimulatedAws]:
    world = SimulatedAws(clock=clock, support_plan="business")
    with mock_aws(), installed(world):
        yield world


@pytest.fixture
def sq(world: SimulatedAws) -> ServiceQuotasClient:
    return boto3.client("service-quotas", region_name=REGION)


@pytest.fixture
def support(world: SimulatedAws) -> SupportClient:
    return boto3.client("support", region_name="us-east-1")


@pytest.fixture
def ddb(world: SimulatedAws) -> DynamoDBClient:
    """A client without retries and a table "t" (moto answers DynamoDB; the world may interpose)."""
    client = boto3.client("dynamodb", region_name=REGION, config=NO_RETRY)
    client.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return client


# ---- the service model ---------------------------------------------------------------------------


def test_target_prefixes_match_the_service_models() -> None:
    for prefix, service in TARGET_PREFIXES.items():
        assert _SESSION.get_service_model(service).metadata["targetPrefix"] == prefix


def test_every_error_code_is_modeled_or_documented_by_the_service_model() -> None:
    for service, codes in ERROR_CODES.items():
        model = _SESSION.get_service_model(service)
        modeled = {shape.name for shape in model.error_shapes}
        docs = str(_SESSION.get_component("data_loader").load_service_model(service, "service-2"))
        for code in codes:
            if code in UNMODELED_ERROR_CODES:
                assert code not in modeled and f"<code>{code}</code>" in docs, code
            else:
                assert code in modeled, code


# ---- Service Quotas ------------------------------------------------------------------------------
# The codes below other than L-CE33604C (L-1, L-2, L-3, L-{n}, L-NOPE, L-WEST, L-FIXED, L-OPEN,
# L-EC2) are in no catalog, on purpose: these tests are about the fake's mechanics (paging,
# validation, history, errors), not about any quota AWS lists.


def test_get_service_quota_returns_the_applied_value_and_the_default_its_default(
    world: SimulatedAws, sq: ServiceQuotasClient
) -> None:
    world.add_quota(
        REGION,
        "L-CE33604C",
        "On-demand model inference tokens per minute for Amazon Nova Pro",
        2000,
        default=1000,
    )

    quota = sq.get_service_quota(ServiceCode="bedrock", QuotaCode="L-CE33604C")["Quota"]
    default = sq.get_aws_default_service_quota(ServiceCode="bedrock", QuotaCode="L-CE33604C")["Quota"]

    assert quota["Value"] == 2000.0
    assert quota["QuotaArn"] == "arn:aws:servicequotas:us-east-1:123456789012:bedrock/L-CE33604C"
    assert (quota["Adjustable"], quota["GlobalQuota"], quota["Unit"]) == (True, False, "None")
    assert quota["ServiceName"] == "Amazon Bedrock"
    assert default["Value"] == 1000.0


def test_unknown_quota_or_service_is_no_such_resource(world: SimulatedAws, sq: ServiceQuotasClient) -> None:
    world.add_quota(REGION, "L-1", "Tokens", 10)
    with pytest.raises(ClientError) as exc:
        sq.get_service_quota(ServiceCode="bedrock", QuotaCode="L-NOPE")
    assert_error(exc, SQ, "NoSuchResourceException")
    with pytest.raises(ClientError) as exc:
        sq.get_aws_default_service_quota(ServiceCode="bedrock", QuotaCode="L-NOPE")
    assert_error(exc, SQ, "NoSuchResourceException")
    with pytest.raises(ClientError) as exc:
        sq.list_service_quotas(ServiceCode="nosuchservice")
    assert_error(exc, SQ, "NoSuchResourceException")


def test_list_service_quotas_pages_by_max_results_and_scopes_by_region(
    world: SimulatedAws, sq: ServiceQuotasClient
) -> None:
    for n in range(5):
        world.add_quota(REGION, f"L-{n}", f"Quota {n}", n + 1, default=1)
    world.add_quota("us-west-2", "L-WEST", "Elsewhere", 1)

    pages = list(
        sq.get_paginator("list_service_quotas").paginate(
            ServiceCode="bedrock", PaginationConfig={"PageSize": 2}
        )
    )
    first = sq.list_service_quotas(ServiceCode="bedrock", MaxResults=3)
    only = sq.list_service_quotas(ServiceCode="bedrock", QuotaCode="L-3")["Quotas"]

    assert [len(p["Quotas"]) for p in pages] == [2, 2, 1]
    assert [q["QuotaCode"] for p in pages for q in p["Quotas"]] == [f"L-{n}" for n in range(5)]
    assert len(first["Quotas"]) == 3 and "NextToken" in first
    assert [(q["QuotaCode"], q["Value"]) for q in only] == [("L-3", 4.0)]


def test_list_aws_default_service_quotas_paginates_defaults(
    world: SimulatedAws, sq: ServiceQuotasClient
) -> None:
    for n in range(3):
        world.add_quota(REGION, f"L-{n}", f"Quota {n}", 50, default=n)

    paginator = sq.get_paginator("list_aws_default_service_quotas")
    pages = list(paginator.paginate(ServiceCode="bedrock", PaginationConfig={"PageSize": 1}))

    assert [q["Value"] for p in pages for q in p["Quotas"]] == [0.0, 1.0, 2.0]


def test_bad_next_token_is_invalid_pagination_token(world: SimulatedAws, sq: ServiceQuotasClient) -> None:
    world.add_quota(REGION, "L-1", "Tokens", 10)
    with pytest.raises(ClientError) as exc:
        sq.list_service_quotas(ServiceCode="bedrock", NextToken="not-a-token")
    assert_error(exc, SQ, "InvalidPaginationTokenException")


def test_request_increase_opens_a_support_case(world: SimulatedAws, sq: ServiceQuotasClient) -> None:
    world.add_quota(REGION, "L-1", "Tokens per minute", 1000)

    requested = sq.request_service_quota_increase(ServiceCode="bedrock", QuotaCode="L-1", DesiredValue=4000)[
        "RequestedQuota"
    ]
    fetched = sq.get_requested_service_quota_change(RequestId=requested["Id"])["RequestedQuota"]

    assert requested["Status"] == "PENDING"
    assert requested["DesiredValue"] == 4000.0
    assert requested["Created"] == T0
    assert requested["QuotaArn"].endswith(":bedrock/L-1")
    assert '"callerArn": "arn:aws:iam::123456789012:role/opspilot"' in requested["Requester"]
    assert fetched == requested
    [case] = world.cases()
    assert requested["CaseId"] == case.display_id
    assert case.service_code == "service-limit-increase"
    assert sq.get_service_quota(ServiceCode="bedrock", QuotaCode="L-1")["Quota"]["Value"] == 1000.0


def test_request_increase_without_support_case_has_no_case_id(
    world: SimulatedAws, sq: ServiceQuotasClient
) -> None:
    world.add_quota(REGION, "L-1", "Tokens", 10)

    requested = sq.request_service_quota_increase(
        ServiceCode="bedrock", QuotaCode="L-1", DesiredValue=20, SupportCaseAllowed=False
    )["RequestedQuota"]

    assert "CaseId" not in requested
    assert world.cases() == []


@pytest.mark.parametrize(
    ("quota_code", "desired", "code"),
    [
        ("L-NOPE", 20, "NoSuchResourceException"),
        ("L-FIXED", 20, "IllegalArgumentException"),
        ("L-1", 10, "IllegalArgumentException"),
        ("L-1", 5, "IllegalArgumentException"),
        ("L-1", 101, "IllegalArgumentException"),
        ("L-OPEN", 50, "ResourceAlreadyExistsException"),
    ],
    ids=["unknown", "not-adjustable", "equal", "lower", "above-max", "already-open"],
)
def test_request_increase_rejections(
    world: SimulatedAws, sq: ServiceQuotasClient, quota_code: str, desired: float, code: str
) -> None:
    world.add_quota(REGION, "L-1", "Tokens", 10, max_value=100)
    world.add_quota(REGION, "L-FIXED", "Fixed", 10, adjustable=False)
    world.add_quota(REGION, "L-OPEN", "Open", 10)
    world.add_quota_request(REGION, "L-OPEN", 40, status="CASE_OPENED")

    with pytest.raises(ClientError) as exc:
        sq.request_service_quota_increase(ServiceCode="bedrock", QuotaCode=quota_code, DesiredValue=desired)

    assert_error(exc, SQ, code)


def test_second_request_while_pending_is_rejected_until_approved(
    world: SimulatedAws, sq: ServiceQuotasClient, clock: Clock
) -> None:
    world.add_quota(REGION, "L-1", "Tokens", 10)
    first = sq.request_service_quota_increase(ServiceCode="bedrock", QuotaCode="L-1", DesiredValue=20)
    with pytest.raises(ClientError) as exc:
        sq.request_service_quota_increase(ServiceCode="bedrock", QuotaCode="L-1", DesiredValue=30)
    assert_error(exc, SQ, "ResourceAlreadyExistsException")

    clock.advance(hours=2)
    world.set_request_status(first["RequestedQuota"]["Id"], "APPROVED")

    change = sq.get_requested_service_quota_change(RequestId=first["RequestedQuota"]["Id"])["RequestedQuota"]
    assert change["Status"] == "APPROVED"
    assert change["LastUpdated"] == T0 + timedelta(hours=2)
    assert sq.get_service_quota(ServiceCode="bedrock", QuotaCode="L-1")["Quota"]["Value"] == 20.0
    again = sq.request_service_quota_increase(ServiceCode="bedrock", QuotaCode="L-1", DesiredValue=30)
    assert again["RequestedQuota"]["Status"] == "PENDING"


def test_get_requested_change_unknown_or_other_region(world: SimulatedAws, sq: ServiceQuotasClient) -> None:
    world.add_quota("us-west-2", "L-1", "Tokens", 10)
    west = world.add_quota_request("us-west-2", "L-1", 20)
    for request_id in ("nope", west):
        with pytest.raises(ClientError) as exc:
            sq.get_requested_service_quota_change(RequestId=request_id)
        assert_error(exc, SQ, "NoSuchResourceException")


def test_change_history_filters_and_paginates(world: SimulatedAws, sq: ServiceQuotasClient) -> None:
    world.add_quota(REGION, "L-1", "Tokens", 10)
    world.add_quota(REGION, "L-2", "Requests", 10)
    world.add_quota(REGION, "L-EC2", "Instances", 10, service_code="ec2")
    old = world.add_quota_request(REGION, "L-1", 20, status="DENIED", created=T0 - timedelta(days=3))
    mid = world.add_quota_request(REGION, "L-2", 30, status="APPROVED", created=T0 - timedelta(days=2))
    new = world.add_quota_request(REGION, "L-1", 40, created=T0 - timedelta(days=1))
    world.add_quota_request(REGION, "L-EC2", 50, service_code="ec2")

    paginator = sq.get_paginator("list_requested_service_quota_change_history")
    pages = list(paginator.paginate(ServiceCode="bedrock", PaginationConfig={"PageSize": 1}))
    denied = sq.list_requested_service_quota_change_history(ServiceCode="bedrock", Status="DENIED")
    by_quota = sq.get_paginator("list_requested_service_quota_change_history_by_quota").paginate(
        ServiceCode="bedrock", QuotaCode="L-1", PaginationConfig={"PageSize": 1}
    )
    everything = sq.list_requested_service_quota_change_history()["RequestedQuotas"]

    assert [r["Id"] for p in pages for r in p["RequestedQuotas"]] == [new, mid, old]
    assert len(pages) == 3
    assert [r["Id"] for r in denied["RequestedQuotas"]] == [old]
    assert [r["Id"] for p in by_quota for r in p["RequestedQuotas"]] == [new, old]
    assert len(everything) == 4


# ---- Support -------------------------------------------------------------------------------------


def test_create_and_describe_case(world: SimulatedAws, support: SupportClient) -> None:
    case_id = support.create_case(
        subject="Bedrock throttling",
        communicationBody="We are throttled.",
        severityCode="high",
        serviceCode="amazon-bedrock",
        categoryCode="performance",
        ccEmailAddresses=["ops@example.com"],
    )["caseId"]

    [case] = support.describe_cases(caseIdList=[case_id])["cases"]
    [bare] = support.describe_cases(caseIdList=[case_id], includeCommunications=False)["cases"]

    assert case_id.startswith("case-123456789012-2026-")
    assert case["subject"] == "Bedrock throttling"
    assert (case["status"], case["severityCode"], case["serviceCode"]) == ("opened", "high", "amazon-bedrock")
    assert case["timeCreated"] == "2026-03-02T09:00:00.000Z"
    assert case["ccEmailAddresses"] == ["ops@example.com"]
    assert [c["body"] for c in case["recentCommunications"]["communications"]] == ["We are throttled."]
    assert "recentCommunications" not in bare
    assert support.describe_cases(displayId=case["displayId"])["cases"][0]["caseId"] == case_id


def test_describe_cases_filters_resolved_and_time_and_paginates(
    world: SimulatedAws, support: SupportClient, clock: Clock
) -> None:
    for n in range(25):
        world.add_case(f"case {n}", time_created=T0 + timedelta(hours=n))
    resolved = world.add_case("done", status="resolved", time_created=T0 - timedelta(days=1))

    pages = list(support.get_paginator("describe_cases").paginate(PaginationConfig={"PageSize": 10}))
    window = support.describe_cases(
        afterTime=(T0 + timedelta(hours=5)).isoformat(), beforeTime=(T0 + timedelta(hours=7)).isoformat()
    )
    with_resolved = support.describe_cases(includeResolvedCases=True, maxResults=100)["cases"]

    assert [len(p["cases"]) for p in pages] == [10, 10, 5]
    assert pages[0]["cases"][0]["subject"] == "case 24"
    assert [c["subject"] for c in window["cases"]] == ["case 7", "case 6", "case 5"]
    assert resolved in [c["caseId"] for c in with_resolved]
    assert resolved not in [c["caseId"] for p in pages for c in p["cases"]]


def test_communications_are_added_and_listed_newest_first(
    world: SimulatedAws, support: SupportClient, clock: Clock
) -> None:
    aws_reply = Communication("Looking into it.", "Amazon Web Services", T0 + timedelta(minutes=5))
    case_id = world.add_case("Throttling", communications=["Help", aws_reply], time_created=T0)
    clock.advance(hours=1)

    assert support.add_communication_to_case(caseId=case_id, communicationBody="Any news?")["result"] is True

    bodies = [c["body"] for c in support.describe_communications(caseId=case_id)["communications"]]
    recent = support.describe_cases(caseIdList=[case_id])["cases"][0]["recentCommunications"]
    assert bodies == ["Any news?", "Looking into it.", "Help"]
    assert recent["communications"][1]["submittedBy"] == "Amazon Web Services"
    assert world.case(case_id).communications[-1].time_created == T0 + timedelta(hours=1)


def test_describe_communications_paginates(world: SimulatedAws, support: SupportClient) -> None:
    case_id = world.add_case("Chatty", communications=[f"message {n}" for n in range(12)])

    paginator = support.get_paginator("describe_communications")
    pages = list(paginator.paginate(caseId=case_id, PaginationConfig={"PageSize": 10}))

    assert [len(p["communications"]) for p in pages] == [10, 2]


def test_resolve_case_hides_it_from_default_listing(world: SimulatedAws, support: SupportClient) -> None:
    case_id = world.add_case("Fixed", status="work-in-progress")

    result = support.resolve_case(caseId=case_id)

    assert (result["initialCaseStatus"], result["finalCaseStatus"]) == ("work-in-progress", "resolved")
    assert support.describe_cases()["cases"] == []


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.add_communication_to_case(caseId="case-nope", communicationBody="x"),
        lambda s: s.describe_communications(caseId="case-nope"),
        lambda s: s.resolve_case(caseId="case-nope"),
        lambda s: s.describe_cases(caseIdList=["case-nope"]),
    ],
    ids=["add-communication", "describe-communications", "resolve", "describe-cases"],
)
def test_unknown_case_is_case_id_not_found(support: SupportClient, call: Any) -> None:
    with pytest.raises(ClientError) as exc:
        call(support)
    assert_error(exc, SUPPORT, "CaseIdNotFound")


def test_severity_levels_depend_on_the_plan(world: SimulatedAws, support: SupportClient) -> None:
    business = [level["code"] for level in support.describe_severity_levels()["severityLevels"]]
    with pytest.raises(ClientError) as exc:
        support.create_case(subject="s", communicationBody="b", severityCode="critical")
    assert_error(exc, SUPPORT, "InvalidParameterValueException")

    world.support_plan = "enterprise"
    enterprise = [level["code"] for level in support.describe_severity_levels()["severityLevels"]]
    case_id = support.create_case(subject="s", communicationBody="b", severityCode="critical")["caseId"]

    assert business == ["low", "normal", "high", "urgent"]
    assert enterprise == [*business, "critical"]
    assert world.case(case_id).severity == "critical"


@pytest.mark.parametrize("plan", ["basic", "developer"])
@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.create_case(subject="s", communicationBody="b"),
        lambda s: s.describe_cases(),
        lambda s: s.add_communication_to_case(caseId="c", communicationBody="b"),
        lambda s: s.describe_communications(caseId="c"),
        lambda s: s.describe_severity_levels(),
        lambda s: s.resolve_case(caseId="c"),
    ],
    ids=["create", "describe-cases", "add-communication", "describe-communications", "severity", "resolve"],
)
def test_plans_without_api_access_get_subscription_required(
    world: SimulatedAws, support: SupportClient, plan: str, call: Any
) -> None:
    world.support_plan = plan
    with pytest.raises(ClientError) as exc:
        call(support)
    assert_error(exc, SUPPORT, "SubscriptionRequiredException")


def test_case_creation_limit_per_window(world: SimulatedAws, support: SupportClient, clock: Clock) -> None:
    world.max_cases_per_window = 2
    for n in range(2):
        support.create_case(subject=f"s{n}", communicationBody="b")
    with pytest.raises(ClientError) as exc:
        support.create_case(subject="s2", communicationBody="b")
    assert_error(exc, SUPPORT, "CaseCreationLimitExceeded")

    clock.advance(hours=1, seconds=1)
    support.create_case(subject="s3", communicationBody="b")

    assert [c.subject for c in world.cases()] == ["s0", "s1", "s3"]


def test_dry_run_is_dry_run_operation_exception(world: SimulatedAws, support: SupportClient) -> None:
    with pytest.raises(ClientError) as exc:
        support.create_case(subject="s", communicationBody="b", dryRun=True)
    assert_error(exc, SUPPORT, "DryRunOperationException")
    assert world.cases() == []


def test_unimplemented_support_operations_fall_through_to_moto(support: SupportClient) -> None:
    checks = support.describe_trusted_advisor_checks(language="en")["checks"]
    assert checks


# ---- fault injection -----------------------------------------------------------------------------
# L-1: in no catalog, on purpose (a quota for the mechanics under test).


def test_fail_next_fails_exactly_n_attempts(world: SimulatedAws) -> None:
    world.add_quota(REGION, "L-1", "Tokens", 10)
    sq = boto3.client("service-quotas", region_name=REGION, config=NO_RETRY)
    world.fail_next(SQ, "GetServiceQuota", "TooManyRequestsException", times=2)

    for _ in range(2):
        with pytest.raises(ClientError) as exc:
            sq.get_service_quota(ServiceCode="bedrock", QuotaCode="L-1")
        assert_error(exc, SQ, "TooManyRequestsException")

    assert sq.get_service_quota(ServiceCode="bedrock", QuotaCode="L-1")["Quota"]["Value"] == 10.0


def test_botocore_retries_absorb_a_single_throttle(
    world: SimulatedAws, support: SupportClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(time, "sleep", lambda _seconds: None)
    world.fail_next(SUPPORT, "DescribeSeverityLevels", "ThrottlingException")

    response = support.describe_severity_levels()

    assert response["ResponseMetadata"]["RetryAttempts"] == 1
    assert len(world.calls_to(SUPPORT, "DescribeSeverityLevels")) == 1


def test_fault_on_a_moto_service_skips_moto_entirely(world: SimulatedAws, ddb: DynamoDBClient) -> None:
    world.fail_next("dynamodb", "PutItem", "ProvisionedThroughputExceededException")

    with pytest.raises(ClientError) as exc:
        ddb.put_item(TableName="t", Item={"pk": {"S": "lost"}})
    ddb.put_item(TableName="t", Item={"pk": {"S": "kept"}})

    assert exc.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
    assert [item["pk"]["S"] for item in ddb.scan(TableName="t")["Items"]] == ["kept"]


def test_fault_on_a_query_protocol_service(world: SimulatedAws) -> None:
    sns = boto3.client("sns", region_name=REGION, config=NO_RETRY)
    world.fail_next("sns", "CreateTopic", "AuthorizationError", status=403)

    with pytest.raises(ClientError) as exc:
        sns.create_topic(Name="alerts")

    assert exc.value.response["Error"]["Code"] == "AuthorizationError"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert sns.create_topic(Name="alerts")["TopicArn"].endswith(":alerts")


def test_fault_on_cloudwatch_which_botocore_speaks_as_json(world: SimulatedAws) -> None:
    cloudwatch = boto3.client("cloudwatch", region_name=REGION, config=NO_RETRY)
    world.fail_next("cloudwatch", "DescribeAlarms", "Throttling")

    with pytest.raises(ClientError) as exc:
        cloudwatch.describe_alarms()

    assert exc.value.response["Error"]["Code"] == "Throttling"
    assert cloudwatch.describe_alarms()["MetricAlarms"] == []


def test_fail_next_rejects_unknown_operations_and_protocols(world: SimulatedAws) -> None:
    with pytest.raises(ValueError, match="no operation"):
        world.fail_next(SQ, "GetQuota", "TooManyRequestsException")
    with pytest.raises(ValueError, match="protocol"):
        world.fail_next("s3", "PutObject", "SlowDown")  # rest-xml


def test_a_server_error_takes_its_status_from_the_model_and_botocore_retries_it(
    world: SimulatedAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(time, "sleep", lambda _seconds: None)
    world.add_quota(REGION, "L-1", "Tokens", 10)
    cloudwatch = boto3.client("cloudwatch", region_name=REGION, config=NO_RETRY)
    sq = boto3.client("service-quotas", region_name=REGION)  # standard retries, 3 attempts
    world.fail_next("cloudwatch", "DescribeAlarms", "InternalServiceError")  # InternalServiceFault: 500
    world.fail_next(SQ, "GetServiceQuota", "ServiceException", times=2)  # a `fault` shape: 500

    with pytest.raises(ClientError) as exc:
        cloudwatch.describe_alarms()
    answer = sq.get_service_quota(ServiceCode="bedrock", QuotaCode="L-1")

    assert exc.value.response["Error"]["Code"] == "InternalServiceError"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert answer["ResponseMetadata"]["RetryAttempts"] == 2
    assert [(f.code, f.attempt) for f in world.faults.fired] == [
        ("InternalServiceError", 1),
        ("ServiceException", 1),
        ("ServiceException", 2),
    ]


def test_a_5xx_on_a_query_protocol_service_is_the_receivers_fault(world: SimulatedAws) -> None:
    sns = boto3.client("sns", region_name=REGION, config=NO_RETRY)
    world.fail_next("sns", "CreateTopic", "InternalError")

    with pytest.raises(ClientError) as exc:
        sns.create_topic(Name="alerts")

    assert exc.value.response["Error"] == {
        "Type": "Receiver",
        "Code": "InternalError",
        "Message": "Injected fault",
    }
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500


def test_a_lost_response_files_the_request_and_the_retry_meets_it(
    world: SimulatedAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(time, "sleep", lambda _seconds: None)
    world.add_quota(REGION, "L-1", "Tokens", 10)
    sq = boto3.client("service-quotas", region_name=REGION)
    world.lose_next(SQ, "RequestServiceQuotaIncrease")

    with pytest.raises(ClientError) as exc:
        sq.request_service_quota_increase(ServiceCode="bedrock", QuotaCode="L-1", DesiredValue=20)

    # the first attempt was filed; botocore retried on the timeout and met the open request
    assert_error(exc, SQ, "ResourceAlreadyExistsException")
    assert [(r.desired, r.status) for r in world.quota_requests()] == [(20.0, "PENDING")]
    assert world.faults.attempts(SQ, "RequestServiceQuotaIncrease") == 2


def test_every_response_lost_reaches_the_caller_as_a_read_timeout(
    world: SimulatedAws, support: SupportClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(time, "sleep", lambda _seconds: None)
    world.lose_next(SUPPORT, "CreateCase", times=3)

    with pytest.raises(ReadTimeoutError):
        support.create_case(subject="s", communicationBody="b")

    assert [c.subject for c in world.cases()] == ["s", "s", "s"]  # CreateCase has no idempotency


def test_lost_responses_work_for_services_moto_answers(world: SimulatedAws, ddb: DynamoDBClient) -> None:
    world.lose_next("dynamodb", "PutItem")

    with pytest.raises(ReadTimeoutError):
        ddb.put_item(TableName="t", Item={"pk": {"S": "written"}})

    assert [item["pk"]["S"] for item in ddb.scan(TableName="t")["Items"]] == ["written"]


def test_a_fault_on_the_nth_call_leaves_the_calls_before_it(world: SimulatedAws) -> None:
    world.add_quota(REGION, "L-1", "Tokens", 10)
    sq = boto3.client("service-quotas", region_name=REGION, config=NO_RETRY)
    world.fail_next(SQ, "GetServiceQuota", "TooManyRequestsException", on_call=3, times=2)
    world.fail_next(SQ, "GetServiceQuota", "NoSuchResourceException")  # the next one, queued

    outcomes = []
    for _ in range(6):
        try:
            sq.get_service_quota(ServiceCode="bedrock", QuotaCode="L-1")
            outcomes.append("ok")
        except ClientError as error:
            outcomes.append(error.response["Error"]["Code"])

    assert outcomes == [
        "NoSuchResourceException",
        "ok",
        "TooManyRequestsException",
        "TooManyRequestsException",
        "ok",
        "ok",
    ]
    assert world.faults.pending == []


def test_fault_arguments_are_checked_against_the_model(world: SimulatedAws) -> None:
    with pytest.raises(ValueError, match="either"):
        world.faults.add(SQ, "GetServiceQuota")
    with pytest.raises(ValueError, match="either"):
        world.faults.add(SQ, "GetServiceQuota", error="ServiceException", lost=True)
    with pytest.raises(ValueError, match="4xx or 5xx"):
        world.fail_next(SQ, "GetServiceQuota", "ServiceException", status=200)
    with pytest.raises(ValueError, match="count from 1"):
        world.lose_next(SQ, "GetServiceQuota", on_call=0)


# ---- call recorder and installation --------------------------------------------------------------
# L-1: in no catalog, on purpose (a quota for the mechanics under test).


def test_recorder_sees_every_service_and_only_validated_calls(
    world: SimulatedAws, sq: ServiceQuotasClient
) -> None:
    world.add_quota(REGION, "L-1", "Tokens", 10)
    sqs = boto3.client("sqs", region_name=REGION)
    sqs.create_queue(QueueName="q")
    sq.get_service_quota(ServiceCode="bedrock", QuotaCode="L-1")
    with pytest.raises(ParamValidationError):
        sq.get_service_quota(ServiceCode="bedrock")  # type: ignore[call-arg]  # deliberately invalid

    assert [(c.service, c.operation) for c in world.calls] == [
        ("sqs", "CreateQueue"),
        ("service-quotas", "GetServiceQuota"),
    ]
    assert world.calls[1].params == {"ServiceCode": "bedrock", "QuotaCode": "L-1"}
    world.clear_calls()
    assert world.calls == []


def test_recorder_is_thread_safe(world: SimulatedAws, sq: ServiceQuotasClient) -> None:
    world.add_quota(REGION, "L-1", "Tokens", 10)

    with ThreadPoolExecutor(max_workers=8) as pool:
        values = list(
            pool.map(lambda _n: sq.get_service_quota(ServiceCode="bedrock", QuotaCode="L-1"), range(40))
        )

    assert len(values) == 40
    assert len(world.calls_to(SQ, "GetServiceQuota")) == 40


def test_uninstall_restores_builtin_handlers() -> None:
    import moto.core.models  # noqa: F401 - make sure moto's entry is registered

    before = list(botocore.handlers.BUILTIN_HANDLERS)
    install(SimulatedAws())
    assert before != botocore.handlers.BUILTIN_HANDLERS
    install(SimulatedAws())  # re-installing replaces, never stacks
    uninstall()
    uninstall()

    after = botocore.handlers.BUILTIN_HANDLERS
    assert len(after) == len(before) and all(a is b for a, b in zip(after, before, strict=True))


def test_attach_wires_a_single_client() -> None:
    world = SimulatedAws()
    world.add_quota(REGION, "L-1", "Tokens", 10)
    with mock_aws():
        wired = boto3.client("service-quotas", region_name=REGION)
        plain = boto3.client("service-quotas", region_name=REGION)
        attach(wired, world)

        assert wired.get_service_quota(ServiceCode="bedrock", QuotaCode="L-1")["Quota"]["Value"] == 10.0
        with pytest.raises(ClientError):  # moto answers the plain client and knows no bedrock quota
            plain.get_service_quota(ServiceCode="bedrock", QuotaCode="L-1")

    assert [c.operation for c in world.calls] == ["GetServiceQuota"]
