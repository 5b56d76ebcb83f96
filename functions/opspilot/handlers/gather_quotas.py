"""Gather Quotas: every quota that governs the incident's model (tokens per minute and per day,
requests per minute where listed, the account-wide daily token quota), what did not resolve and
why, and the open increase requests for them."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from opspilot.adapters.models import foundation_model, profile_model_arns
from opspilot.adapters.quotas import (
    PENDING_STATUSES,
    QuotaLookupUnavailable,
    list_bedrock_quotas,
    list_default_values,
    list_requests,
)
from opspilot.domain.errors import AwsPermissionError, InvalidInput, TransientAwsError
from opspilot.domain.model import Incident, PendingRequest, QuotaContext, QuotaGap, QuotaInfo
from opspilot.domain.quota_resolver import ListedQuota, ModelFacts, Resolution, Resolved, resolve
from opspilot.handlers._registry import model_entry
from opspilot.handlers._runtime import bind_execution, logger, parse, state_part
from opspilot.services.quota_discovery import DiscoveryCalls, describe, listed_quotas
from opspilot.settings import gather_quotas_settings

HISTORY_PER_QUOTA = 20  # Service Quotas' history of a quota, newest first, kept for the governor


@cache
def overrides() -> dict[str, dict[str, str]]:
    """Per-model quota codes that win over name matching:
    {"model id": {"tpm": "L-...", "tpd": "L-...", "rpm": "L-..."}}."""
    text = gather_quotas_settings().quota_code_overrides or "{}"
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"QUOTA_CODE_OVERRIDES: not valid JSON ({exc.msg})") from exc
    if not isinstance(doc, dict) or not all(isinstance(v, dict) for v in doc.values()):
        raise InvalidInput('QUOTA_CODE_OVERRIDES: expected {"model id": {"tpm": "L-...", "tpd": "L-..."}}')
    return doc


def _info(q: Resolved, resolution: Resolution, defaults: dict[str, float]) -> QuotaInfo:
    return QuotaInfo(
        kind=q.kind,
        quota_code=q.code,
        quota_name=q.name,
        value=float(q.value or 0),
        default_value=defaults.get(q.code),
        adjustable=q.adjustable,
        inference_type=resolution.inference_type,
        scope=q.scope,
        doubled_for_cross_region=q.doubled_for_cross_region,
    )


def gaps_of(resolution: Resolution) -> list[QuotaGap]:
    """What did not resolve, each with the override that fixes it; a quota listed without a
    value (``Value`` is optional in ListServiceQuotas) is a gap too, never a crash."""
    gaps = [
        QuotaGap(kind=u.kind, problem="not_found", reason=u.reason, fix=u.fix) for u in resolution.unresolved
    ]
    gaps += [
        QuotaGap(
            kind=a.kind,
            problem="ambiguous",
            reason=f"{len(a.candidates)} quotas fit {resolution.model_id}",
            fix=a.fix,
            candidates=[f"{code} {name}" for code, name in a.candidates],
        )
        for a in resolution.ambiguous
    ]
    gaps += [
        QuotaGap(
            kind=q.kind,
            problem="no_value",
            reason=f"Service Quotas lists {q.code} ({q.name}) without a value",
            fix="check the quota in the Service Quotas console; OpsPilot reads it again on the next incident",
        )
        for q in resolution.quotas
        if q.value is None and q.scope == "model"  # an account quota without a value is not watched
    ]
    return gaps


def request_quota(resolution: Resolution, facts: ModelFacts, listed: list[ListedQuota]) -> QuotaInfo | None:
    """The model's cross-Region TPM quota, where the Bedrock user guide asks increases to be filed."""
    if resolution.inference_type == "cross_region":
        found = resolution.quota("tpm")
    else:
        found = resolve(facts, listed, inference_type="cross_region").quota("tpm")
    if found is None or found.value is None:
        return None
    return QuotaInfo(
        kind="tpm",
        quota_code=found.code,
        quota_name=found.name,
        value=float(found.value),
        adjustable=found.adjustable,
        inference_type="cross_region",
    )


def quota_context(model_id: str, region: str) -> QuotaContext:
    entry = model_entry(model_id)
    registered = {k: v for k, v in (entry.get("quota_codes") or {}).items() if v}
    calls = DiscoveryCalls(
        profile_models=lambda arn: profile_model_arns(arn, region),
        foundation_model=lambda mid: foundation_model(mid, region),
        list_quotas=lambda: list_bedrock_quotas(region),
    )
    try:
        listed = listed_quotas(calls.list_quotas())
        facts = describe(entry.get("source_model_id") or model_id, calls)
        chosen = registered or overrides().get(model_id) or overrides().get(facts.model_id) or {}
        resolution = resolve(facts, listed, chosen)
        defaults = list_default_values(region)
        requests = list_requests(region)
    except (QuotaLookupUnavailable, AwsPermissionError, TransientAwsError, ClientError, ValueError) as exc:
        logger.warning("quota lookup unavailable", extra={"reason": str(exc)})
        return QuotaContext(unknown_reason=str(exc))
    quotas = [_info(q, resolution, defaults) for q in resolution.quotas if q.value is not None]
    via = request_quota(resolution, facts, listed)
    codes = {q.quota_code for q in quotas} | ({via.quota_code} if via else set())
    mine = [
        PendingRequest(
            request_id=r["Id"],
            quota_code=r["QuotaCode"],
            desired_value=r["DesiredValue"],
            status=r["Status"],
            case_id=r.get("CaseId"),
            created=r["Created"].isoformat() if r.get("Created") else None,
            last_updated=r["LastUpdated"].isoformat() if r.get("LastUpdated") else None,
        )
        for r in requests
        if r["QuotaCode"] in codes
    ]
    pending = [r for r in mine if r.status in PENDING_STATUSES]
    # the governor's history (domain/governor.py): the newest requests of each quota, any status
    history = sorted(mine, key=lambda r: r.created or "", reverse=True)[: HISTORY_PER_QUOTA * len(codes)]
    gaps = gaps_of(resolution)
    reason = None
    if not any(q.scope == "model" for q in quotas):
        reason = "; ".join(f"{g.kind.upper()} {g.problem.replace('_', ' ')}: {g.reason}" for g in gaps) or (
            f"no quota found for {resolution.model_id}"
        )
    return QuotaContext(
        quotas=quotas,
        pending_requests=pending,
        history=history,
        unknown_reason=reason,
        gaps=gaps,
        quota_model_id=resolution.model_id,
        request_quota=via,
    )


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    bind_execution(event)
    incident = parse(Incident, state_part(event, "state", "incident"), "incident")
    return quota_context(incident.model_id, incident.region).to_json()
