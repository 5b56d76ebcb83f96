"""Gather Support: the account's support plan and OpsPilot's open cases for this model."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from opspilot.adapters.support import open_opspilot_cases
from opspilot.domain.decide import case_subjects
from opspilot.domain.model import Incident, SupportCase, SupportContext
from opspilot.handlers._runtime import bind_execution, logger, now, parse, state_part
from opspilot.settings import core_settings


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    bind_execution(event)
    incident = parse(Incident, state_part(event, "state", "incident"), "incident")
    plan, cases = open_opspilot_cases(now(), core_settings().support_case_lookback_days)
    mine = [
        SupportCase(
            case_id=c["caseId"], display_id=c.get("displayId"), subject=c["subject"], status=c["status"]
        )
        for c in cases
        if c["subject"] in case_subjects(incident.model_id, incident.region)
    ]
    return SupportContext(plan=plan, open_cases=mine).to_json()
