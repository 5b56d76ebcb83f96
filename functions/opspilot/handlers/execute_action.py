"""Execute Action: one planned action, checked before it acts, at most once per incident.

The claim (a conditional write keyed on incident and action) makes a Step Functions retry of an
action that already finished return the recorded result instead of acting again.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from opspilot.adapters import quotas, support
from opspilot.adapters.aws import error_code
from opspilot.adapters.messaging import read_flag
from opspilot.domain.approvals import apply_approved_value
from opspilot.domain.errors import AwsPermissionError, InvalidInput
from opspilot.domain.format import allowed_severity, number
from opspilot.domain.model import ActionResult, ActionStatus, ActionType, PlannedAction
from opspilot.handlers._runtime import bind_execution, logger, now, parse, state_part, store
from opspilot.settings import action_settings

CONSOLE_CREATE_CASE = "https://support.console.aws.amazon.com/support/home#/case/create"
QUOTA_ERRORS_RECORDED = frozenset(
    {
        "QuotaExceededException",
        "IllegalArgumentException",
        "NoSuchResourceException",
        "InvalidResourceStateException",
    }
)


def _quota_increase(action: PlannedAction, region: str) -> tuple[ActionStatus, dict[str, Any]]:
    """Check, then request. A denied call is this action's recorded failure, not the incident's."""
    try:
        return _check_and_request(action, region)
    except AwsPermissionError as exc:
        return ActionStatus.FAILED, {
            "summary": f"AccessDeniedException: {exc}",
            "error": "AccessDeniedException",
        }


def _check_and_request(action: PlannedAction, region: str) -> tuple[ActionStatus, dict[str, Any]]:
    code = action.params["QuotaCode"]
    quota = quotas.get_quota(code, region)
    if not quota.get("Adjustable", False):
        return ActionStatus.SKIPPED, {
            "summary": f"quota {code} is not adjustable",
            "reason": "not_adjustable",
        }
    pending = quotas.open_requests_for(code, region)
    if pending:
        request = pending[0]
        return ActionStatus.SKIPPED, {
            "summary": f"attached to pending request {request['Id']} ({request['Status']})",
            "reason": "pending_request_exists",
            "request_id": request["Id"],
            "case_id": request.get("CaseId"),
        }
    if float(quota["Value"]) >= float(action.params["DesiredValue"]):
        return ActionStatus.SKIPPED, {
            "summary": f"quota {code} is already {number(quota['Value'])}",
            "reason": "already_at_desired_value",
        }
    try:
        requested = quotas.request_increase(action.params, region)
    except ClientError as exc:
        code_name = error_code(exc)
        if code_name == "ResourceAlreadyExistsException":
            return ActionStatus.SKIPPED, {
                "summary": "a request for this quota already exists",
                "reason": code_name,
            }
        if code_name in QUOTA_ERRORS_RECORDED:
            return ActionStatus.FAILED, {
                "summary": f"{code_name}: {exc.response['Error'].get('Message', '')}",
                "error": code_name,
            }
        raise
    return ActionStatus.EXECUTED, {
        "summary": f"requested {code} -> {number(action.params['DesiredValue'])}: {requested['Status']}",
        "request_id": requested["Id"],
        "status": requested["Status"],
        "case_id": requested.get("CaseId"),
    }


def _support_case(action: PlannedAction) -> tuple[ActionStatus, dict[str, Any], dict[str, Any]]:
    """One open case per (region, model, case type): append to it, else open one. Returns the
    outcome and the parameters actually sent (the severity is capped to what the plan offers)."""
    plan, cases = support.open_opspilot_cases(now(), action_settings().support_case_lookback_days)
    manual = {"console_url": CONSOLE_CREATE_CASE, **action.params}
    if plan == "basic":
        return (
            ActionStatus.SKIPPED,
            {
                "summary": "no Business/Enterprise support: the pre-filled case is in this notification",
                "reason": "support_plan_basic",
                "manual_filing": manual,
            },
            action.params,
        )
    existing = next((c for c in cases if c["subject"] == action.params["subject"]), None)
    if existing:
        sent = {"caseId": existing["caseId"], "communicationBody": action.params["communicationBody"]}
        support.add_communication(sent["caseId"], sent["communicationBody"])
        return (
            ActionStatus.EXECUTED,
            {
                "summary": f"added the evidence to open case {existing.get('displayId', existing['caseId'])}",
                "case_id": existing["caseId"],
                "appended": True,
            },
            sent,
        )
    params = {
        **action.params,
        "severityCode": allowed_severity(action.params["severityCode"], support.severity_codes()),
    }
    try:
        case_id = support.create_case(params)
    except ClientError as exc:
        code = error_code(exc)
        if code == "CaseCreationLimitExceeded":  # queue it with people rather than lose it
            return (
                ActionStatus.FAILED,
                {
                    "summary": "AWS Support's case-creation rate was exceeded: "
                    "the pre-filled case is in this notification",
                    "reason": "case_creation_limit",
                    "error": code,
                    "manual_filing": manual,
                },
                params,
            )
        return ActionStatus.FAILED, {"summary": f"CreateCase: {code}", "error": code}, params
    return ActionStatus.EXECUTED, {"summary": f"opened support case {case_id}", "case_id": case_id}, params


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    bind_execution(event)
    incident_id = str(state_part(event, "incident_id"))
    action = parse(PlannedAction, state_part(event, "action"), "action")
    # an approver may have approved a lower value than planned (never a higher one)
    action, planned_value = apply_approved_value(action, event.get("approval"))
    at = now()
    previous = store().claim_action(incident_id, action.action_id, at)
    if previous is not None and previous.get("status") != "in_progress":
        logger.info("action already done; not acting again", extra={"action_id": action.action_id})
        return {k: previous[k] for k in ("action_id", "type", "status", "params", "result")}
    incident = store().get_incident(incident_id) or {}
    region = str((incident.get("incident") or {}).get("region") or "")
    if not region:  # never guess a Region for a change
        raise InvalidInput(f"incident {incident_id}: no Region on record, so no action is taken")
    result: dict[str, Any]
    sent = action.params
    if read_flag(action_settings().dry_run_parameter_name):
        status, result = ActionStatus.DRY_RUN, {"summary": "dry run: request recorded, nothing sent"}
    elif action.type is ActionType.REQUEST_QUOTA_INCREASE:
        status, result = _quota_increase(action, region)
    else:
        status, result, sent = _support_case(action)
    if planned_value is not None:
        result["planned_value"] = planned_value  # the approver approved a lower value
    outcome = ActionResult(
        action_id=action.action_id, type=action.type, status=status, params=sent, result=result
    )
    record = outcome.to_json()
    store().complete_action(incident_id, action.action_id, record, now())
    store().append_audit(incident_id, "action", record, now())
    logger.info("action done", extra={"action_id": action.action_id, "status": status})
    return record
