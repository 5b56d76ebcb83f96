"""Gather Quotas: the model's RPM and TPM quotas and the open increase requests for them."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from opspilot.adapters.models import profile_model_arns
from opspilot.adapters.quotas import (
    PENDING_STATUSES,
    QuotaLookupUnavailable,
    list_bedrock_quotas,
    list_default_values,
    list_requests,
)
from opspilot.domain.errors import AwsPermissionError, InvalidInput, TransientAwsError
from opspilot.domain.model import Incident, PendingRequest, QuotaContext, QuotaInfo
from opspilot.domain.quotas import is_application_profile, match_quota, parse_model_id, underlying_model
from opspilot.handlers._registry import model_entry
from opspilot.handlers._runtime import bind_execution, logger, parse, state_part
from opspilot.settings import gather_quotas_settings

HISTORY_PER_QUOTA = 20  # Service Quotas' history of a quota, newest first, kept for the governor


@cache
def overrides() -> dict[str, dict[str, str]]:
    """Per-model quota codes that win over name matching: {"model id": {"rpm": "L-...", "tpm": "L-..."}}."""
    text = gather_quotas_settings().quota_code_overrides or "{}"
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"QUOTA_CODE_OVERRIDES: not valid JSON ({exc.msg})") from exc
    if not isinstance(doc, dict) or not all(isinstance(v, dict) for v in doc.values()):
        raise InvalidInput('QUOTA_CODE_OVERRIDES: expected {"model id": {"rpm": "L-...", "tpm": "L-..."}}')
    return doc


def quota_model(model_id: str, region: str) -> str:
    """Application inference profiles consume the quotas of the model they route to."""
    if not is_application_profile(model_id):
        return model_id
    return underlying_model(profile_model_arns(model_id, region))


def quota_context(model_id: str, region: str) -> QuotaContext:
    try:
        quota_id = quota_model(model_id, region)
        listed = list_bedrock_quotas(region)
        defaults = list_default_values(region)
        requests = list_requests(region)
    except (QuotaLookupUnavailable, AwsPermissionError, TransientAwsError, ClientError, ValueError) as exc:
        logger.warning("quota lookup unavailable", extra={"reason": str(exc)})
        return QuotaContext(unknown_reason=str(exc))
    by_code = {q["QuotaCode"]: q for q in listed}
    names = [(q["QuotaCode"], q["QuotaName"]) for q in listed]
    registered = {k: v for k, v in (model_entry(model_id).get("quota_codes") or {}).items() if v}
    chosen = registered or overrides().get(model_id) or overrides().get(quota_id) or {}
    quotas = []
    for kind in ("rpm", "tpm"):
        code = match_quota(quota_id, kind, names, chosen)
        if code is None or code not in by_code:
            continue
        q = by_code[code]
        quotas.append(
            QuotaInfo(
                kind=kind,
                quota_code=code,
                quota_name=q["QuotaName"],
                value=q["Value"],
                default_value=defaults.get(code),
                adjustable=q.get("Adjustable", False),
                inference_type=parse_model_id(quota_id).inference_type,
            )
        )
    codes = {q.quota_code for q in quotas}
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
    reason = None if quotas else f"no RPM/TPM quota found for {quota_id}"
    return QuotaContext(quotas=quotas, pending_requests=pending, history=history, unknown_reason=reason)


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    bind_execution(event)
    incident = parse(Incident, state_part(event, "state", "incident"), "incident")
    return quota_context(incident.model_id, incident.region).to_json()
