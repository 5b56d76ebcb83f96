"""Offline Service Quotas and AWS Support, answered at botocore's HTTP boundary.

moto 5.2.5 fakes neither Service Quotas for ``bedrock`` nor most of the Support API. A
:class:`SimulatedAws` world answers both JSON-protocol services inside botocore's
``before-send`` event, so production code keeps calling ``boto3.client("service-quotas")`` and
``boto3.client("support", region_name="us-east-1")`` unchanged while botocore itself serialises
every request and parses every response against its real service model::

    world = SimulatedAws(support_plan="business")
    world.add_quota("us-east-1", "L-1234ABCD", "Tokens per minute", 1000.0)
    with mock_aws(), installed(world):
        boto3.client("service-quotas", region_name="us-east-1").get_service_quota(...)

Wiring: botocore *emits* ``before-send`` to every handler and keeps the first non-None answer, so
a handler placed before moto's does not stop moto from running the same request (moto then
raises NotImplementedError or applies side effects). :func:`install` therefore puts one chained
handler in place of moto's ``botocore_stubber`` entry: the world answers first, moto only sees
what the world declines. Operations the world does not implement (e.g. Trusted Advisor) fall
through to moto.

Modelling choices (AWS does not publish every rule):

- ``DesiredValue`` above a quota's ``max_value`` -> ``IllegalArgumentException`` (the API has no
  maximum field; ``QuotaExceededException`` is about account-level request limits). So are a
  non-adjustable quota and ``DesiredValue`` <= the applied value.
- ``RequestServiceQuotaIncrease`` with ``SupportCaseAllowed`` (default true) opens a Support case
  at once (it does not count towards the case-creation limit) and returns the case's
  ``displayId`` as ``CaseId``; ``Status`` stays ``PENDING`` until :meth:`set_request_status`.
- Support on ``basic``/``developer`` plans -> ``SubscriptionRequiredException``; a severity the
  plan does not offer, a bad time or token -> ``InvalidParameterValueException``. Neither is a
  modeled error shape of botocore's ``support`` model, but both are named in its documentation
  (see :data:`UNMODELED_ERROR_CODES`); every other code returned is a modeled error shape.
- The world owns the Service Quotas operations it implements for every service code: an
  unknown ``ServiceCode`` is ``NoSuchResourceException`` (moto's ``vpc`` defaults are not seen).
- Service Quotas timestamps are epoch seconds; Support times are ISO-8601 strings (the model
  types them as strings), e.g. ``2026-01-02T03:04:05.000Z``.
"""

from __future__ import annotations

import base64
import copy
import gzip
import json
import random
import re
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from urllib.parse import urlsplit

import boto3
import botocore.handlers
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.client import BaseClient
from botocore.compat import HTTPHeaders
from botocore.model import OperationModel

from opspilot_sim.fake_inference_profiles import FoundationModels, InferenceProfiles
from opspilot_sim.fake_metrics import MetricStore
from opspilot_sim.faults import FaultPlan
from opspilot_sim.limits import Limits

Handler = Callable[[str, dict[str, Any]], dict[str, Any]]

SQ, SUPPORT, CLOUDWATCH = "service-quotas", "support", "cloudwatch"
TARGET_PREFIXES = {
    "ServiceQuotasV20190624": SQ,
    "AWSSupport_20130415": SUPPORT,
    "GraniteServiceVersion20100801": CLOUDWATCH,  # only metric data; alarms stay with moto
}
SUPPORT_PLANS = ("basic", "developer", "business", "enterprise")
OPEN_REQUEST_STATUSES = ("PENDING", "CASE_OPENED")
REQUEST_STATUSES = (
    *OPEN_REQUEST_STATUSES,
    "APPROVED",
    "DENIED",
    "CASE_CLOSED",
    "NOT_APPROVED",
    "INVALID_REQUEST",
)
CASE_STATUSES = (
    "opened",
    "pending-customer-action",
    "reopened",
    "resolved",
    "unassigned",
    "work-in-progress",
)
SEVERITIES = {"low": "Low", "normal": "Normal", "high": "High", "urgent": "Urgent"}
ENTERPRISE_SEVERITIES = {**SEVERITIES, "critical": "Critical"}
SERVICE_NAMES = {"bedrock": "Amazon Bedrock"}

# Error codes this module returns, per service (a test checks them against botocore's model).
ERROR_CODES: dict[str, frozenset[str]] = {
    SQ: frozenset(
        {
            "NoSuchResourceException",
            "IllegalArgumentException",
            "ResourceAlreadyExistsException",
            "InvalidPaginationTokenException",
        }
    ),
    SUPPORT: frozenset(
        {
            "CaseIdNotFound",
            "CaseCreationLimitExceeded",
            "DryRunOperationException",
            "SubscriptionRequiredException",
            "InvalidParameterValueException",
        }
    ),
}
# Returned by the real Support API and named in its model's documentation, but not error shapes.
UNMODELED_ERROR_CODES = frozenset({"SubscriptionRequiredException", "InvalidParameterValueException"})
_REQUEST_QUOTA_KEYS = (
    "ServiceCode",
    "ServiceName",
    "QuotaCode",
    "QuotaName",
    "QuotaArn",
    "GlobalQuota",
    "Unit",
)
_SCOPE_REGION = re.compile(r"Credential=[^/,]+/\d{8}/([a-z0-9-]+)/")


def _value_of(value: float | None) -> dict[str, float]:
    """``Value`` is optional in the Service Quotas model: a quota without one leaves it out."""
    return {} if value is None else {"Value": value}


class AwsError(Exception):
    """A service error, rendered as ``{"__type": code, "message": ...}``."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.status = code, message, status


@dataclass
class Quota:
    """One Service Quotas quota in one region."""

    region: str
    service_code: str
    code: str
    name: str
    value: float | None  # None: listed without a Value (the API does not require one)
    default: float | None
    adjustable: bool = True
    max_value: float | None = None
    global_quota: bool = False
    unit: str = "None"


@dataclass
class QuotaRequest:
    """One quota increase request (``RequestedServiceQuotaChange``)."""

    id: str
    quota: Quota
    desired: float
    status: str
    created: datetime
    last_updated: datetime
    requester: str = ""
    case_id: str | None = None


@dataclass
class Communication:
    """One message on a Support case."""

    body: str
    submitted_by: str
    time_created: datetime


@dataclass
class Case:
    """One Support case."""

    case_id: str
    display_id: str
    subject: str
    severity: str
    time_created: datetime
    submitted_by: str
    status: str = "opened"
    service_code: str = "general-info"
    category_code: str = "other"
    language: str = "en"
    cc_emails: list[str] = field(default_factory=list)
    communications: list[Communication] = field(default_factory=list)


@dataclass
class ApiCall:
    """One botocore API call as the caller made it (validated, before sending), and how it ended."""

    service: str  # botocore service name, e.g. "service-quotas", "stepfunctions"
    operation: str  # e.g. "RequestServiceQuotaIncrease"
    params: dict[str, Any]
    # "pending" until answered; then "ok", the error code AWS answered with, or "lost" (no answer
    # reached the caller: the call may have taken effect)
    outcome: str = "pending"


class _Body:
    """The ``raw`` of an AWSResponse: botocore reads ``b"".join(raw.stream())``."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse_time(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise AwsError("InvalidParameterValueException", f"Invalid time: {value}") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _page[T](
    items: Sequence[T], params: dict[str, Any], keys: tuple[str, str], bad_token: str
) -> tuple[list[T], dict[str, str]]:
    """Slice ``items`` by (token key, limit key); return the page and the next-token member."""
    token_key, limit_key = keys
    start = 0
    if token := params.get(token_key):
        try:
            start = int(base64.urlsafe_b64decode(str(token).encode()).decode().removeprefix("o:"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise AwsError(bad_token, "Invalid pagination token") from exc
    end = start + int(params.get(limit_key) or 100)
    more = {token_key: base64.urlsafe_b64encode(f"o:{end}".encode()).decode()}
    return list(items[start:end]), more if end < len(items) else {}


def _header(request: AWSPreparedRequest, name: str) -> str:
    value = request.headers.get(name) or ""
    return value.decode() if isinstance(value, bytes) else str(value)


def _region_of(request: AWSPreparedRequest) -> str:
    """The SigV4 scope's region (works with custom endpoints), else the host's, else us-east-1."""
    if match := _SCOPE_REGION.search(_header(request, "Authorization")):
        return match.group(1)
    host = (urlsplit(request.url).hostname or "").split(".")
    return host[1] if len(host) == 4 and host[2:] == ["amazonaws", "com"] else "us-east-1"


def _response(request: AWSPreparedRequest, status: int, body: bytes, **headers: str) -> AWSResponse:
    http_headers = HTTPHeaders()
    http_headers["x-amzn-RequestId"] = str(uuid.uuid4())
    for name, value in headers.items():
        http_headers[name.replace("_", "-")] = value
    return AWSResponse(request.url, status, http_headers, _Body(body))


def _error_response(request: AWSPreparedRequest, error: AwsError, protocol: str) -> AWSResponse:
    """Render ``error`` the way ``protocol`` (json, rest-json or query) carries errors."""
    if protocol == "query":
        side = "Receiver" if error.status >= 500 else "Sender"
        xml = (
            f"<ErrorResponse><Error><Type>{side}</Type><Code>{error.code}</Code>"
            f"<Message>{error.message}</Message></Error><RequestId>fake</RequestId></ErrorResponse>"
        )
        return _response(request, error.status, xml.encode(), Content_Type="text/xml")
    body = json.dumps({"__type": error.code, "message": error.message}).encode()
    return _response(
        request, error.status, body, Content_Type="application/x-amz-json-1.1", x_amzn_ErrorType=error.code
    )


class SimulatedAws:
    """Thread-safe state of the simulated Service Quotas and Support, plus a call recorder."""

    def __init__(
        self,
        *,
        account_id: str = "123456789012",
        caller_arn: str | None = None,
        support_plan: str = "business",
        clock: Callable[[], datetime] = _utcnow,
        max_cases_per_window: int | None = None,
        case_window: timedelta = timedelta(hours=1),
        seed: int = 0,
        limits: Limits | None = None,
    ) -> None:
        self.account_id = account_id
        self.limits = limits  # AWS's documented limits on a simulated clock (opspilot_sim.limits)
        self.caller_arn = caller_arn or f"arn:aws:iam::{account_id}:role/opspilot"
        self.support_plan = support_plan
        self.clock = clock
        self.max_cases_per_window = max_cases_per_window
        self.case_window = case_window
        self._lock = threading.RLock()
        self._rng = random.Random(seed)
        self._display_seq = 1_000_000_000
        self._quotas: dict[tuple[str, str, str], Quota] = {}
        self._requests: dict[str, QuotaRequest] = {}
        self._cases: dict[str, Case] = {}
        self._case_creations: list[datetime] = []
        self.faults = FaultPlan()
        # the services whose calls are recorded with their parameters (a deep copy of each); the
        # others are recorded by name with empty parameters. None: every service. A long run
        # (the storm's 1,000 events) keeps only what its report reads.
        self.params_of: frozenset[str] | None = None
        self._calls: list[ApiCall] = []
        self.metrics = MetricStore()
        # PutMetricAlarm's ActionConfiguration per alarm name: moto 5.2.5 neither keeps nor
        # returns it, so the world remembers it and adds it to DescribeAlarms (after_call)
        self.alarm_action_configuration: dict[str, dict[str, Any]] = {}
        self._decisions: dict[str, tuple[str, int]] = {}
        self._looks: dict[str, int] = {}
        self.inference_profiles = InferenceProfiles(account_id)
        self.foundation_models = FoundationModels()
        self._operations: dict[tuple[str, str], Handler] = {
            (SQ, "GetServiceQuota"): self._get_service_quota,
            (SQ, "GetAWSDefaultServiceQuota"): self._get_default_service_quota,
            (SQ, "ListServiceQuotas"): self._list_service_quotas,
            (SQ, "ListAWSDefaultServiceQuotas"): self._list_default_service_quotas,
            (SQ, "RequestServiceQuotaIncrease"): self._request_increase,
            (SQ, "GetRequestedServiceQuotaChange"): self._get_request,
            (SQ, "ListRequestedServiceQuotaChangeHistory"): self._list_history,
            (SQ, "ListRequestedServiceQuotaChangeHistoryByQuota"): self._list_history_by_quota,
            (SUPPORT, "CreateCase"): self._create_case,
            (SUPPORT, "DescribeCases"): self._describe_cases,
            (SUPPORT, "AddCommunicationToCase"): self._add_communication,
            (SUPPORT, "DescribeCommunications"): self._describe_communications,
            (SUPPORT, "DescribeSeverityLevels"): self._describe_severity_levels,
            (SUPPORT, "ResolveCase"): self._resolve_case,
            (CLOUDWATCH, "PutMetricData"): self.metrics.put_metric_data,
            (CLOUDWATCH, "GetMetricData"): self.metrics.get_metric_data,
        }

    @property
    def support_plan(self) -> str:
        """The account's Support plan: basic, developer, business or enterprise."""
        return self._support_plan

    @support_plan.setter
    def support_plan(self, plan: str) -> None:
        if plan not in SUPPORT_PLANS:
            raise ValueError(f"support_plan must be one of {SUPPORT_PLANS}, not {plan!r}")
        self._support_plan = plan

    # ---- seeding and inspection -------------------------------------------------------------

    def add_quota(
        self,
        region: str,
        code: str,
        name: str,
        value: float | None,
        default: float | None = None,
        adjustable: bool = True,
        max_value: float | None = None,
        *,
        service_code: str = "bedrock",
    ) -> Quota:
        """Add (or replace) a quota; ``default`` is the AWS default value (defaults to ``value``).
        ``value`` None lists the quota without a ``Value``, as the API may."""
        base = default if default is not None else value
        quota = Quota(
            region,
            service_code,
            code,
            name,
            None if value is None else float(value),
            None if base is None else float(base),
            adjustable,
            max_value,
        )
        with self._lock:
            self._quotas[(region, service_code, code)] = quota
        return copy.copy(quota)

    def add_quota_request(
        self,
        region: str,
        code: str,
        desired: float,
        status: str = "PENDING",
        created: datetime | None = None,
        *,
        service_code: str = "bedrock",
        case_id: str | None = None,
    ) -> str:
        """Seed a past increase request for an existing quota; returns its Id (Value unchanged)."""
        if status not in REQUEST_STATUSES:
            raise ValueError(f"unknown request status {status!r}")
        with self._lock:
            quota = self._quotas[(region, service_code, code)]
            moment = created or self.clock()
            request = QuotaRequest(self._new_request_id(), quota, float(desired), status, moment, moment)
            request.requester, request.case_id = self._requester(), case_id
            self._requests[request.id] = request
            return request.id

    def set_request_status(self, request_id: str, status: str) -> None:
        """Move a request to ``status``; APPROVED applies DesiredValue to the quota."""
        if status not in REQUEST_STATUSES:
            raise ValueError(f"unknown request status {status!r}")
        with self._lock:
            request = self._requests[request_id]
            request.status, request.last_updated = status, self.clock()
            if status == "APPROVED":
                request.quota.value = request.desired

    def add_case(
        self,
        subject: str,
        status: str = "opened",
        severity: str = "normal",
        communications: Sequence[str | Communication] = (),
        time_created: datetime | None = None,
        *,
        service_code: str = "general-info",
        category_code: str = "other",
        language: str = "en",
        submitted_by: str | None = None,
    ) -> str:
        """Seed a Support case (communications given oldest first); returns its caseId."""
        if status not in CASE_STATUSES:
            raise ValueError(f"unknown case status {status!r}")
        with self._lock:
            moment = time_created or self.clock()
            author = submitted_by or self.caller_arn
            case = self._new_case(
                moment,
                subject,
                severity,
                submitted_by=author,
                status=status,
                service_code=service_code,
                category_code=category_code,
                language=language,
            )
            case.communications = [
                item if isinstance(item, Communication) else Communication(item, author, moment)
                for item in communications
            ]
            return case.case_id

    def quota(self, region: str, code: str, service_code: str = "bedrock") -> Quota:
        """A snapshot of one quota."""
        with self._lock:
            return copy.copy(self._quotas[(region, service_code, code)])

    def quota_requests(self) -> list[QuotaRequest]:
        """Snapshots of every quota increase request, oldest first."""
        with self._lock:
            return copy.deepcopy(list(self._requests.values()))

    def case(self, case_id: str) -> Case:
        """A snapshot of one Support case."""
        with self._lock:
            return copy.deepcopy(self._cases[case_id])

    def cases(self) -> list[Case]:
        """Snapshots of every Support case, oldest first."""
        with self._lock:
            return copy.deepcopy(list(self._cases.values()))

    # ---- fault injection and call recording --------------------------------------------------

    def fail_next(
        self,
        service: str,
        operation: str,
        error_code: str,
        times: int = 1,
        message: str = "Injected fault",
        status: int | None = None,
        *,
        on_call: int | None = None,
    ) -> None:
        """Make the next ``times`` sends of ``service``/``operation`` fail with ``error_code``
        (from the ``on_call``-th on, when given); the status comes from botocore's model.

        ``service`` is a boto3 client name (``"dynamodb"``, ``"stepfunctions"``...); works for
        services moto answers too (moto then never sees the request) if the protocol botocore
        resolves for them is json, rest-json or query (CloudWatch resolves to json). Faults count
        HTTP attempts, so botocore's retries (3 attempts in standard mode) consume them. See
        ``opspilot_sim.faults`` (and :meth:`lose_next`: the call takes effect, its response is lost).
        """
        self.faults.add(
            service, operation, error=error_code, times=times, on_call=on_call, message=message, status=status
        )

    def lose_next(self, service: str, operation: str, times: int = 1, *, on_call: int | None = None) -> None:
        """The next ``times`` sends of ``service``/``operation`` reach AWS and take effect, and
        their responses are lost (the caller sees botocore's ``ReadTimeoutError``)."""
        self.faults.add(service, operation, lost=True, times=times, on_call=on_call)

    @property
    def calls(self) -> list[ApiCall]:
        """Every API call recorded so far, in order."""
        with self._lock:
            return list(self._calls)

    def calls_to(self, service: str, operation: str | None = None) -> list[ApiCall]:
        """Recorded calls to one service (and operation)."""
        return [c for c in self.calls if c.service == service and operation in (None, c.operation)]

    def clear_calls(self) -> None:
        """Forget recorded calls."""
        with self._lock:
            self._calls.clear()

    # ---- botocore event handlers -------------------------------------------------------------

    def capture_params(
        self, params: dict[str, Any], context: dict[str, Any], model: Any = None, **_: Any
    ) -> None:
        """``before-parameter-build`` handler: keep a copy of the caller's params."""
        service = model.service_model.service_name if model is not None else None
        if self.params_of is not None and service not in self.params_of:
            return
        try:
            context["opspilot_params"] = copy.deepcopy(params)
        except Exception:  # e.g. an open file passed as an S3 Body cannot be copied
            context["opspilot_params"] = dict(params)

    def record_call(self, model: OperationModel, context: dict[str, Any], **_: Any) -> None:
        """``before-call`` handler: record (service, operation, params) of a validated call."""
        call = ApiCall(model.service_model.service_name, model.name, context.get("opspilot_params", {}))
        context["opspilot_call"] = call
        with self._lock:
            self._calls.append(call)

    def after_call(
        self, model: OperationModel, parsed: dict[str, Any], context: dict[str, Any], **_: Any
    ) -> None:
        """``after-call`` handler: what moto leaves out of CloudWatch alarms. A PutMetricAlarm that
        succeeded sets (or, without the member, clears) the alarm's ``ActionConfiguration``;
        DescribeAlarms returns it as CloudWatch does; DeleteAlarms forgets it."""
        if model.service_model.service_name != CLOUDWATCH or "Error" in parsed:
            return
        params = context.get("opspilot_params", {})
        with self._lock:
            if model.name == "PutMetricAlarm":
                config = params.get("ActionConfiguration")
                if config:
                    self.alarm_action_configuration[params["AlarmName"]] = copy.deepcopy(config)
                else:
                    self.alarm_action_configuration.pop(params.get("AlarmName", ""), None)
            elif model.name == "DeleteAlarms":
                for name in params.get("AlarmNames", []):
                    self.alarm_action_configuration.pop(name, None)
            elif model.name == "DescribeAlarms":
                for alarm in parsed.get("MetricAlarms", []):
                    config = self.alarm_action_configuration.get(alarm.get("AlarmName", ""))
                    if config:
                        alarm["ActionConfiguration"] = copy.deepcopy(config)

    def record_outcome(
        self, context: dict[str, Any], parsed: Any = None, exception: Any = None, **_: Any
    ) -> None:
        """``after-call`` / ``after-call-error`` handler: how the call recorded by
        :meth:`record_call` ended (after botocore's own retries)."""
        call = context.get("opspilot_call")
        if call is None:
            return
        if exception is not None:
            call.outcome = "lost"
        else:
            call.outcome = str(((parsed or {}).get("Error") or {}).get("Code") or "ok")

    def before_send(self, request: AWSPreparedRequest, event_name: str = "", **_: Any) -> AWSResponse | None:
        """``before-send`` handler: answer rate limits and simulated operations, else None (faults are
        answered before this, in ``_ChainedSend``)."""
        prefix, _sep, operation = _header(request, "X-Amz-Target").partition(".")
        service = TARGET_PREFIXES.get(prefix)
        if event_name.count(".") >= 2:  # "before-send.<service id>.<Operation>"
            _event, service_id, operation = event_name.split(".", 2)
        else:
            service_id = service or ""
        if self.limits and (
            refused := self.limits.admit(service_id, operation, _region_of(request), request.body)
        ):
            return _error_response(request, AwsError(refused.code, refused.message, refused.status), "json")
        if service_id == "bedrock" and operation == "GetInferenceProfile":
            return self.inference_profiles.answer(request)
        if service_id == "bedrock" and operation == "GetFoundationModel":
            return self.foundation_models.answer(request)
        handler = self._operations.get((service or "", operation))
        if handler is None:
            return None
        body = request.body if isinstance(request.body, (bytes, str)) else b""
        if _header(request, "Content-Encoding") == "gzip":  # botocore compresses PutMetricData
            body = gzip.decompress(body if isinstance(body, bytes) else body.encode())
        params = json.loads(body or b"{}")
        try:
            with self._lock:
                if service == SUPPORT:
                    self._check_support_access(params)
                result = handler(_region_of(request), params)
        except AwsError as error:
            return _error_response(request, error, "json")
        return _response(request, 200, json.dumps(result).encode(), Content_Type="application/x-amz-json-1.1")

    # ---- Service Quotas ----------------------------------------------------------------------

    def _requester(self) -> str:
        return json.dumps({"accountId": self.account_id, "callerArn": self.caller_arn})

    def _new_request_id(self) -> str:
        return f"{self._rng.getrandbits(128):032x}"

    def _find_quota(self, region: str, params: dict[str, Any]) -> Quota:
        key = (region, params["ServiceCode"], params["QuotaCode"])
        if key not in self._quotas:
            raise AwsError("NoSuchResourceException", f"The quota {key[2]} does not exist.")
        return self._quotas[key]

    def _quota_view(self, quota: Quota, *, default: bool = False) -> dict[str, Any]:
        return {
            "ServiceCode": quota.service_code,
            "ServiceName": SERVICE_NAMES.get(quota.service_code, quota.service_code),
            "QuotaArn": f"arn:aws:servicequotas:{quota.region}:{self.account_id}:"
            f"{quota.service_code}/{quota.code}",
            "QuotaCode": quota.code,
            "QuotaName": quota.name,
            **_value_of(quota.default if default else quota.value),
            "Unit": quota.unit,
            "Adjustable": quota.adjustable,
            "GlobalQuota": quota.global_quota,
            "QuotaAppliedAtLevel": "ACCOUNT",
        }

    def _request_view(self, request: QuotaRequest) -> dict[str, Any]:
        quota = self._quota_view(request.quota)
        view = {key: quota[key] for key in _REQUEST_QUOTA_KEYS}
        view.update(
            Id=request.id,
            DesiredValue=request.desired,
            Status=request.status,
            Created=request.created.timestamp(),
            LastUpdated=request.last_updated.timestamp(),
            Requester=request.requester,
            QuotaRequestedAtLevel="ACCOUNT",
        )
        if request.case_id:
            view["CaseId"] = request.case_id
        return view

    def _get_service_quota(self, region: str, params: dict[str, Any]) -> dict[str, Any]:
        return {"Quota": self._quota_view(self._find_quota(region, params))}

    def _get_default_service_quota(self, region: str, params: dict[str, Any]) -> dict[str, Any]:
        return {"Quota": self._quota_view(self._find_quota(region, params), default=True)}

    def _region_quotas(self, region: str, params: dict[str, Any]) -> list[Quota]:
        service_code = params["ServiceCode"]
        if not any(key[1] == service_code for key in self._quotas):
            raise AwsError("NoSuchResourceException", f"The service {service_code} does not exist.")
        return [q for (r, s, _c), q in self._quotas.items() if (r, s) == (region, service_code)]

    def _list_quotas(self, region: str, params: dict[str, Any], *, default: bool) -> dict[str, Any]:
        quotas = [q for q in self._region_quotas(region, params) if params.get("QuotaCode") in (None, q.code)]
        page, more = _page(quotas, params, ("NextToken", "MaxResults"), "InvalidPaginationTokenException")
        return {"Quotas": [self._quota_view(q, default=default) for q in page], **more}

    def _list_service_quotas(self, region: str, params: dict[str, Any]) -> dict[str, Any]:
        return self._list_quotas(region, params, default=False)

    def _list_default_service_quotas(self, region: str, params: dict[str, Any]) -> dict[str, Any]:
        return self._list_quotas(region, {**params, "QuotaCode": None}, default=True)

    def _request_increase(self, region: str, params: dict[str, Any]) -> dict[str, Any]:
        quota = self._find_quota(region, params)
        desired = float(params["DesiredValue"])
        if not quota.adjustable:
            raise AwsError("IllegalArgumentException", f"The quota {quota.code} is not adjustable.")
        if any(r.quota is quota and r.status in OPEN_REQUEST_STATUSES for r in self._requests.values()):
            raise AwsError("ResourceAlreadyExistsException", f"A request for {quota.code} is already open.")
        if quota.value is not None and desired <= quota.value:
            raise AwsError(
                "IllegalArgumentException",
                f"DesiredValue must be greater than the current value {quota.value}.",
            )
        if quota.max_value is not None and desired > quota.max_value:
            raise AwsError("IllegalArgumentException", f"DesiredValue exceeds the maximum {quota.max_value}.")
        now = self.clock()
        request = QuotaRequest(self._new_request_id(), quota, desired, "PENDING", now, now, self._requester())
        if params.get("SupportCaseAllowed", True):
            subject = f"Service Quota Increase: {quota.name}"
            case = self._new_case(now, subject, "normal", service_code="service-limit-increase")
            case.communications.append(
                Communication(f"Increase {quota.code} in {region} to {desired:g}.", self.caller_arn, now)
            )
            request.case_id = case.display_id
        self._requests[request.id] = request
        return {"RequestedQuota": self._request_view(request)}

    def _get_request(self, region: str, params: dict[str, Any]) -> dict[str, Any]:
        request = self._requests.get(params["RequestId"])
        if request is None or request.quota.region != region:
            raise AwsError("NoSuchResourceException", f"The request {params['RequestId']} does not exist.")
        self._apply_decision(request)
        return {"RequestedQuota": self._request_view(request)}

    def decide_after(self, quota_code: str, status: str, looks: int = 1) -> None:
        """AWS decides open requests for ``quota_code`` as ``status`` when they have been looked at
        (GetRequestedServiceQuotaChange) ``looks`` times: how scenarios play out the follow-up."""
        if status not in REQUEST_STATUSES:
            raise ValueError(f"unknown request status {status!r}")
        with self._lock:
            self._decisions[quota_code] = (status, looks)

    def _apply_decision(self, request: QuotaRequest) -> None:
        rule = self._decisions.get(request.quota.code)
        if rule is None or request.status not in OPEN_REQUEST_STATUSES:
            return
        self._looks[request.id] = self._looks.get(request.id, 0) + 1
        status, looks = rule
        if self._looks[request.id] >= looks:
            request.status, request.last_updated = status, self.clock()
            if status == "APPROVED":
                request.quota.value = request.desired

    def _history(self, region: str, params: dict[str, Any], quota_code: str | None) -> dict[str, Any]:
        """Requests in ``region`` filtered by ServiceCode/Status (and quota), newest first."""
        found = [
            r
            for r in reversed(self._requests.values())
            if r.quota.region == region
            and params.get("ServiceCode") in (None, r.quota.service_code)
            and params.get("Status") in (None, r.status)
            and quota_code in (None, r.quota.code)
        ]
        found.sort(key=lambda r: r.created, reverse=True)
        page, more = _page(found, params, ("NextToken", "MaxResults"), "InvalidPaginationTokenException")
        return {"RequestedQuotas": [self._request_view(r) for r in page], **more}

    def _list_history(self, region: str, params: dict[str, Any]) -> dict[str, Any]:
        return self._history(region, params, None)

    def _list_history_by_quota(self, region: str, params: dict[str, Any]) -> dict[str, Any]:
        return self._history(region, params, params["QuotaCode"])

    # ---- Support -----------------------------------------------------------------------------

    def _check_support_access(self, params: dict[str, Any]) -> None:
        if self.support_plan in ("basic", "developer"):
            raise AwsError(
                "SubscriptionRequiredException",
                "AWS Premium Support Subscription is required to use this service.",
            )
        if params.get("dryRun"):
            raise AwsError("DryRunOperationException", "The request would have succeeded.")

    def _new_case(self, moment: datetime, subject: str, severity: str, **fields: Any) -> Case:
        """Create a case; ``fields`` are other :class:`Case` fields (submitted_by defaults to the caller)."""
        case_id = f"case-{self.account_id}-{moment.year}-{self._rng.getrandbits(64):016x}"
        self._display_seq += 1
        fields.setdefault("submitted_by", self.caller_arn)
        case = Case(case_id, str(self._display_seq), subject, severity, moment, **fields)
        self._cases[case_id] = case
        return case

    def _get_case(self, case_id: str | None) -> Case:
        if not case_id or case_id not in self._cases:
            raise AwsError("CaseIdNotFound", f"Case {case_id} not found.")
        return self._cases[case_id]

    def _create_case(self, _region: str, params: dict[str, Any]) -> dict[str, Any]:
        allowed = ENTERPRISE_SEVERITIES if self.support_plan == "enterprise" else SEVERITIES
        severity = params.get("severityCode", "low")
        if severity not in allowed:
            raise AwsError(
                "InvalidParameterValueException", f"Invalid severityCode {severity!r} for this support plan."
            )
        now = self.clock()
        self._case_creations = [t for t in self._case_creations if now - t < self.case_window]
        limit = self.max_cases_per_window
        if limit is not None and len(self._case_creations) >= limit:
            raise AwsError("CaseCreationLimitExceeded", "The case creation limit has been exceeded.")
        self._case_creations.append(now)
        case = self._new_case(
            now, params["subject"], severity, cc_emails=list(params.get("ccEmailAddresses", []))
        )
        case.service_code = params.get("serviceCode", case.service_code)
        case.category_code = params.get("categoryCode", case.category_code)
        case.language = params.get("language", case.language)
        case.communications.append(Communication(params["communicationBody"], self.caller_arn, now))
        return {"caseId": case.case_id}

    def _communication_view(self, case: Case, item: Communication) -> dict[str, Any]:
        return {
            "caseId": case.case_id,
            "body": item.body,
            "submittedBy": item.submitted_by,
            "timeCreated": _iso(item.time_created),
            "attachmentSet": [],
        }

    def _case_view(self, case: Case, with_communications: bool) -> dict[str, Any]:
        view: dict[str, Any] = {
            "caseId": case.case_id,
            "displayId": case.display_id,
            "subject": case.subject,
            "status": case.status,
            "serviceCode": case.service_code,
            "categoryCode": case.category_code,
            "severityCode": case.severity,
            "submittedBy": case.submitted_by,
            "timeCreated": _iso(case.time_created),
            "ccEmailAddresses": case.cc_emails,
            "language": case.language,
        }
        if with_communications:
            recent = case.communications[::-1][:5]
            view["recentCommunications"] = {
                "communications": [self._communication_view(case, c) for c in recent]
            }
        return view

    def _in_window(self, moment: datetime, params: dict[str, Any]) -> bool:
        after, before = params.get("afterTime"), params.get("beforeTime")
        return (after is None or moment >= _parse_time(after)) and (
            before is None or moment <= _parse_time(before)
        )

    def _describe_cases(self, _region: str, params: dict[str, Any]) -> dict[str, Any]:
        ids = params.get("caseIdList") or []
        selected = [self._get_case(i) for i in ids] if ids else list(self._cases.values())
        cases = sorted(
            (
                c
                for c in selected
                if (params.get("includeResolvedCases", False) or c.status != "resolved")
                and params.get("displayId") in (None, c.display_id)
                and self._in_window(c.time_created, params)
            ),
            key=lambda c: c.time_created,
            reverse=True,
        )
        page, more = _page(cases, params, ("nextToken", "maxResults"), "InvalidParameterValueException")
        with_comms = params.get("includeCommunications", True)
        return {"cases": [self._case_view(c, with_comms) for c in page], **more}

    def _add_communication(self, _region: str, params: dict[str, Any]) -> dict[str, Any]:
        case = self._get_case(params.get("caseId"))
        case.communications.append(Communication(params["communicationBody"], self.caller_arn, self.clock()))
        case.cc_emails.extend(params.get("ccEmailAddresses", []))
        return {"result": True}

    def _describe_communications(self, _region: str, params: dict[str, Any]) -> dict[str, Any]:
        case = self._get_case(params["caseId"])
        items = [c for c in case.communications[::-1] if self._in_window(c.time_created, params)]
        page, more = _page(items, params, ("nextToken", "maxResults"), "InvalidParameterValueException")
        return {"communications": [self._communication_view(case, c) for c in page], **more}

    def _describe_severity_levels(self, _region: str, _params: dict[str, Any]) -> dict[str, Any]:
        levels = ENTERPRISE_SEVERITIES if self.support_plan == "enterprise" else SEVERITIES
        return {"severityLevels": [{"code": k, "name": v} for k, v in levels.items()]}

    def _resolve_case(self, _region: str, params: dict[str, Any]) -> dict[str, Any]:
        case = self._get_case(params.get("caseId"))
        initial, case.status = case.status, "resolved"
        return {"initialCaseStatus": initial, "finalCaseStatus": "resolved"}


# ---- installation ----------------------------------------------------------------------------


# moto's backends are not thread-safe (a Query iterating an item while another thread updates it
# fails with "dictionary changed size during iteration"), and the simulator calls them from several
# threads at once: executions and Map items run in moto's worker threads, while the runner, the
# tests and the interactive approval server call from theirs. Every request that reaches moto holds
# this lock. It is re-entrant because a Lambda task runs its handler inside moto's Invoke, and the
# handler's own AWS calls come back here on the same thread.
_MOTO_LOCK = threading.RLock()


class _ChainedSend:
    """``before-send`` handler: the world answers first; moto sees only what it declines."""

    def __init__(self, world: SimulatedAws, fallback: Callable[..., Any] | None) -> None:
        self.world, self.fallback = world, fallback

    def __call__(self, request: AWSPreparedRequest, **kwargs: Any) -> AWSResponse | None:
        _event, _sep, target = str(kwargs.get("event_name", "")).partition(".")
        fault = self.world.faults.take(*target.split(".", 1)) if "." in target else None
        if fault is not None and fault.kind == "error":
            return _error_response(request, AwsError(fault.code, fault.message, fault.status), fault.protocol)
        response = self.world.before_send(request, **kwargs)
        if response is None and self.fallback is not None:
            with _MOTO_LOCK:
                response = cast("AWSResponse | None", self.fallback(request=request, **kwargs))
        if fault is not None and response is not None:
            fault.lose(request)
        return response


@dataclass
class _Installation:
    world: SimulatedAws
    entries: list[tuple[Any, ...]]
    moto_entry: tuple[Any, ...] | None


_install_lock = threading.Lock()
_installed: _Installation | None = None


def _moto_stubber() -> Callable[..., Any] | None:
    try:
        from moto.core.models import botocore_stubber
    except ImportError:  # moto is a test dependency only
        return None
    return cast("Callable[..., Any]", botocore_stubber)


def install(world: SimulatedAws | None = None) -> SimulatedAws:
    """Answer Service Quotas/Support (and faults) from ``world`` for every client created after.

    Replaces moto's ``before-send`` entry in ``botocore.handlers.BUILTIN_HANDLERS`` by a chain
    (world, then moto), adds the call recorder, and resets ``boto3.DEFAULT_SESSION``.
    """
    global _installed
    world = world or SimulatedAws()
    stubber = _moto_stubber()
    with _install_lock:
        _uninstall_locked()
        handlers = botocore.handlers.BUILTIN_HANDLERS
        send: tuple[Any, ...] = ("before-send", _ChainedSend(world, stubber))
        index = next((i for i, spec in enumerate(handlers) if spec[1] is stubber), None)
        moto_entry = None
        if index is None:
            handlers.append(send)
        else:
            moto_entry, handlers[index] = handlers[index], send
        entries = [
            send,
            ("before-parameter-build", world.capture_params),
            ("before-call", world.record_call),
            ("after-call", world.after_call),
        ]
        entries += [("after-call", world.record_outcome), ("after-call-error", world.record_outcome)]
        handlers.extend(entries[1:])
        _installed = _Installation(world, entries, moto_entry)
        boto3.DEFAULT_SESSION = None
    return world


def _uninstall_locked() -> None:
    global _installed
    if _installed is None:
        return
    handlers = botocore.handlers.BUILTIN_HANDLERS
    for entry in _installed.entries:
        index = next((i for i, spec in enumerate(handlers) if spec is entry), None)
        if index is None:
            continue
        if entry is _installed.entries[0] and _installed.moto_entry is not None:
            handlers[index] = _installed.moto_entry
        else:
            del handlers[index]
    _installed = None
    boto3.DEFAULT_SESSION = None


def uninstall() -> None:
    """Undo :func:`install` (restores moto's entry); clients created meanwhile keep the world."""
    with _install_lock:
        _uninstall_locked()


@contextmanager
def installed(world: SimulatedAws | None = None) -> Iterator[SimulatedAws]:
    """``with installed(world):`` - :func:`install` for the block, then :func:`uninstall`."""
    try:
        yield install(world)
    finally:
        uninstall()


def attach(client: BaseClient, world: SimulatedAws) -> None:
    """Wire ``world`` into one existing client only (chaining to moto's stubber if present)."""
    events = client.meta.events
    stubber = _moto_stubber()
    if stubber is not None:
        events.unregister("before-send", stubber)
    events.register_first("before-send", cast("Callable[..., None]", _ChainedSend(world, stubber)))
    events.register("before-parameter-build", world.capture_params)
    events.register("before-call", world.record_call)
    events.register("after-call", world.after_call)
    events.register("after-call", world.record_outcome)
    events.register("after-call-error", world.record_outcome)
