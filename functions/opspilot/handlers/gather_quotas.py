"""Gather Quotas: the model's RPM and TPM quotas and the open increase requests for them."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from opspilot.adapters.quotas import QuotaLookupUnavailable, list_bedrock_quotas, list_open_requests
from opspilot.domain.model import Incident, PendingRequest, QuotaContext, QuotaInfo
from opspilot.domain.quotas import match_quota
from opspilot.handlers._runtime import bind_execution, logger, parse, state_part


def quota_context(model_id: str, region: str) -> QuotaContext:
    try:
        listed = list_bedrock_quotas(region)
        requests = list_open_requests(region)
    except QuotaLookupUnavailable as exc:
        logger.warning("quota lookup unavailable", extra={"reason": str(exc)})
        return QuotaContext(unknown_reason=str(exc))
    by_code = {q["QuotaCode"]: q for q in listed}
    names = [(q["QuotaCode"], q["QuotaName"]) for q in listed]
    quotas = []
    for kind in ("rpm", "tpm"):
        code = match_quota(model_id, kind, names)
        if code is None or code not in by_code:
            continue
        q = by_code[code]
        quotas.append(
            QuotaInfo(
                kind=kind,
                quota_code=code,
                quota_name=q["QuotaName"],
                value=q["Value"],
                adjustable=q.get("Adjustable", False),
            )
        )
    codes = {q.quota_code for q in quotas}
    pending = [
        PendingRequest(
            request_id=r["Id"],
            quota_code=r["QuotaCode"],
            desired_value=r["DesiredValue"],
            status=r["Status"],
            case_id=r.get("CaseId"),
            created=r["Created"].isoformat() if r.get("Created") else None,
        )
        for r in requests
        if r["QuotaCode"] in codes
    ]
    reason = None if quotas else f"no RPM/TPM quota found for {model_id}"
    return QuotaContext(quotas=quotas, pending_requests=pending, unknown_reason=reason)


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    bind_execution(event)
    incident = parse(Incident, state_part(event, "state", "incident"), "incident")
    return quota_context(incident.model_id, incident.region).model_dump(mode="json")
