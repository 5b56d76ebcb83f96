"""AWS Support: plan detection, OpsPilot's open cases, and case creation or follow-up."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from opspilot.adapters.aws import client, error_code, raise_translated
from opspilot.domain.errors import ResponseLost

SUPPORT_REGION = "us-east-1"  # the AWS Support API has one endpoint
CASE_SUBJECT_PREFIX = "[OpsPilot]"
NO_SUBSCRIPTION = "SubscriptionRequiredException"


def _support(support: Any | None) -> Any:
    return support or client("support", SUPPORT_REGION)


def open_opspilot_cases(
    now: datetime, lookback_days: int = 14, support: Any | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """(plan, open cases OpsPilot filed). plan is "basic" when the account has no Support API
    access (Basic or Developer support), else "business_or_enterprise"."""
    api = _support(support)
    cases: list[dict[str, Any]] = []
    try:
        for page in api.get_paginator("describe_cases").paginate(
            afterTime=(now - timedelta(days=lookback_days)).isoformat(),
            includeResolvedCases=False,
            includeCommunications=False,
        ):
            cases.extend(c for c in page["cases"] if c.get("subject", "").startswith(CASE_SUBJECT_PREFIX))
    except ClientError as exc:
        if error_code(exc) == NO_SUBSCRIPTION:
            return "basic", []
        raise_translated(exc, "DescribeCases")
    return "business_or_enterprise", cases


def create_case(params: dict[str, Any], support: Any | None = None) -> str:
    """CreateCase, sent once: it has no idempotency token, so botocore must not repeat a call
    whose answer was lost (that opens a second case). No answer raises :class:`ResponseLost`."""
    api = support or client("support", SUPPORT_REGION, attempts=1)
    try:
        return str(api.create_case(**params)["caseId"])
    except ClientError as exc:
        if error_code(exc) == NO_SUBSCRIPTION:
            raise
        raise_translated(exc, "CreateCase")
    except (HTTPClientError, BotoConnectionError) as exc:
        raise ResponseLost(f"CreateCase: {type(exc).__name__}") from exc


def add_communication(case_id: str, body: str, support: Any | None = None) -> None:
    """AddCommunicationToCase, sent once: like CreateCase it has no idempotency token, so a call
    botocore repeated after a lost answer would add the evidence twice. No answer raises
    :class:`ResponseLost`; the caller looks at the case (:func:`communications_since`)."""
    api = support or client("support", SUPPORT_REGION, attempts=1)
    try:
        api.add_communication_to_case(caseId=case_id, communicationBody=body)
    except ClientError as exc:
        raise_translated(exc, "AddCommunicationToCase")
    except (HTTPClientError, BotoConnectionError) as exc:
        raise ResponseLost(f"AddCommunicationToCase: {type(exc).__name__}") from exc


def communications_since(case_id: str, after: datetime, support: Any | None = None) -> list[str]:
    """The bodies of the case's communications created since ``after`` (DescribeCommunications,
    paginated), newest first."""
    api = _support(support)
    bodies: list[str] = []
    try:
        for page in api.get_paginator("describe_communications").paginate(
            caseId=case_id, afterTime=after.isoformat()
        ):
            bodies.extend(str(c.get("body", "")) for c in page["communications"])
    except ClientError as exc:
        raise_translated(exc, "DescribeCommunications")
    return bodies


def severity_codes(support: Any | None = None) -> list[str]:
    """The severities this account's plan offers (DescribeSeverityLevels), lowest first."""
    api = _support(support)
    try:
        levels = api.describe_severity_levels(language="en")["severityLevels"]
    except ClientError as exc:
        raise_translated(exc, "DescribeSeverityLevels")
    return [str(level["code"]) for level in levels]
