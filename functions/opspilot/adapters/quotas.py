"""Service Quotas for Bedrock: list once (paginated), pending requests, and increase requests."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from opspilot.adapters.aws import DENIED_CODES, TRANSIENT_CODES, client, error_code, raise_translated
from opspilot.domain.errors import ResponseLost

SERVICE_CODE = "bedrock"
PENDING_STATUSES = frozenset({"PENDING", "CASE_OPENED"})


class QuotaLookupUnavailable(Exception):
    """Quotas could not be read (denied or throttled); the decision treats them as unknown."""


def list_bedrock_quotas(region: str | None = None, sq: Any | None = None) -> list[dict[str, Any]]:
    """Every applied Bedrock quota of the account, in one paginated listing."""
    sq = sq or client("service-quotas", region)
    quotas: list[dict[str, Any]] = []
    try:
        for page in sq.get_paginator("list_service_quotas").paginate(ServiceCode=SERVICE_CODE):
            quotas.extend(page["Quotas"])
    except ClientError as exc:
        if error_code(exc) in TRANSIENT_CODES | DENIED_CODES:
            raise QuotaLookupUnavailable(f"ListServiceQuotas: {error_code(exc)}") from exc
        raise_translated(exc, "ListServiceQuotas")
    return quotas


def list_default_values(region: str | None = None, sq: Any | None = None) -> dict[str, float]:
    """AWS's default value of every Bedrock quota (one paginated ListAWSDefaultServiceQuotas)."""
    sq = sq or client("service-quotas", region)
    defaults: dict[str, float] = {}
    try:
        for page in sq.get_paginator("list_aws_default_service_quotas").paginate(ServiceCode=SERVICE_CODE):
            defaults.update({q["QuotaCode"]: float(q["Value"]) for q in page["Quotas"] if "Value" in q})
    except ClientError as exc:
        if error_code(exc) in TRANSIENT_CODES | DENIED_CODES:
            raise QuotaLookupUnavailable(f"ListAWSDefaultServiceQuotas: {error_code(exc)}") from exc
        raise_translated(exc, "ListAWSDefaultServiceQuotas")
    return defaults


def list_open_requests(region: str | None = None, sq: Any | None = None) -> list[dict[str, Any]]:
    """Bedrock quota increase requests still open (PENDING or CASE_OPENED)."""
    return [r for r in list_requests(region, sq) if r["Status"] in PENDING_STATUSES]


def list_requests(region: str | None = None, sq: Any | None = None) -> list[dict[str, Any]]:
    """Every Bedrock quota increase request in Service Quotas' history, of any status."""
    sq = sq or client("service-quotas", region)
    requests: list[dict[str, Any]] = []
    try:
        for page in sq.get_paginator("list_requested_service_quota_change_history").paginate(
            ServiceCode=SERVICE_CODE
        ):
            requests.extend(page["RequestedQuotas"])
    except ClientError as exc:
        if error_code(exc) in TRANSIENT_CODES | DENIED_CODES:
            raise QuotaLookupUnavailable(
                f"ListRequestedServiceQuotaChangeHistory: {error_code(exc)}"
            ) from exc
        raise_translated(exc, "ListRequestedServiceQuotaChangeHistory")
    return requests


def get_quota(quota_code: str, region: str | None = None, sq: Any | None = None) -> dict[str, Any]:
    sq = sq or client("service-quotas", region)
    try:
        return dict(sq.get_service_quota(ServiceCode=SERVICE_CODE, QuotaCode=quota_code)["Quota"])
    except ClientError as exc:
        raise_translated(exc, f"GetServiceQuota {quota_code}")


def open_requests_for(
    quota_code: str, region: str | None = None, sq: Any | None = None
) -> list[dict[str, Any]]:
    return [r for r in requests_for(quota_code, region, sq) if r["Status"] in PENDING_STATUSES]


def requests_for(quota_code: str, region: str | None = None, sq: Any | None = None) -> list[dict[str, Any]]:
    """Every increase request for one quota in Service Quotas' history, of any status."""
    sq = sq or client("service-quotas", region)
    try:
        pages = sq.get_paginator("list_requested_service_quota_change_history_by_quota").paginate(
            ServiceCode=SERVICE_CODE, QuotaCode=quota_code
        )
        return [r for page in pages for r in page["RequestedQuotas"]]
    except ClientError as exc:
        raise_translated(exc, f"ListRequestedServiceQuotaChangeHistoryByQuota {quota_code}")


def request_increase(
    params: dict[str, Any], region: str | None = None, sq: Any | None = None
) -> dict[str, Any]:
    """RequestServiceQuotaIncrease with exactly ``params``. ClientErrors other than transient and
    denied ones propagate with their code for the caller to record."""
    sq = sq or client("service-quotas", region)
    try:
        return dict(sq.request_service_quota_increase(**params)["RequestedQuota"])
    except ClientError as exc:
        if error_code(exc) in TRANSIENT_CODES | DENIED_CODES:
            raise_translated(exc, "RequestServiceQuotaIncrease")
        raise
    except (HTTPClientError, BotoConnectionError) as exc:  # sent, and no answer: it may be filed
        raise ResponseLost(f"RequestServiceQuotaIncrease: {type(exc).__name__}") from exc


def request_status(request_id: str, region: str | None = None, sq: Any | None = None) -> dict[str, Any]:
    """GetRequestedServiceQuotaChange: the request's Status, DesiredValue and CaseId."""
    sq = sq or client("service-quotas", region)
    try:
        return dict(sq.get_requested_service_quota_change(RequestId=request_id)["RequestedQuota"])
    except ClientError as exc:
        raise_translated(exc, f"GetRequestedServiceQuotaChange {request_id}")
