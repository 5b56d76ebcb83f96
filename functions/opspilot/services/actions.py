"""Execute Action: one planned action, checked before it acts, at most once per incident.

The claim (a conditional write keyed on incident and action) makes a Step Functions retry of an
action that already finished return the recorded result instead of acting again.

Calls per action: the claim, the incident read, the dry-run flag, then for a quota increase
GetServiceQuota, the pending requests of that quota and at most one RequestServiceQuotaIncrease;
for a support case DescribeCases, then AddCommunicationToCase to an open case or
DescribeSeverityLevels and CreateCase; last the completed action and its audit entry. No AWS SDK
here: the handler passes the adapters in, with the refusals this module records (of
RequestServiceQuotaIncrease and CreateCase) raised as :class:`AwsRefusal`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from opspilot.domain.approvals import apply_approved_value
from opspilot.domain.errors import AwsPermissionError, InvalidInput
from opspilot.domain.format import allowed_severity, number
from opspilot.domain.model import ActionResult, ActionStatus, ActionType, PlannedAction

CONSOLE_CREATE_CASE = "https://support.console.aws.amazon.com/support/home#/case/create"
QUOTA_ERRORS_RECORDED = frozenset(
    {
        "QuotaExceededException",
        "IllegalArgumentException",
        "NoSuchResourceException",
        "InvalidResourceStateException",
    }
)
# the RequestServiceQuotaIncrease error codes read here; any other error propagates as it is
QUOTA_REQUEST_REFUSALS = QUOTA_ERRORS_RECORDED | {"ResourceAlreadyExistsException"}
RECORD_KEYS = ("action_id", "type", "status", "params", "result")

Outcome = tuple[ActionStatus, dict[str, Any]]


class AwsRefusal(Exception):
    """An AWS call refused with an error code that is this action's outcome to record."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class ActionStore(Protocol):
    """The incident store's at-most-once actions (:class:`opspilot.adapters.incidents.IncidentStore`)."""

    def claim_action(self, incident_id: str, action_id: str, now: datetime) -> dict[str, Any] | None: ...
    def get_incident(self, incident_id: str) -> dict[str, Any] | None: ...
    def complete_action(
        self, incident_id: str, action_id: str, record: dict[str, Any], now: datetime
    ) -> None: ...
    def append_audit(self, incident_id: str, kind: str, data: dict[str, Any], now: datetime) -> None: ...


class Log(Protocol):
    def info(self, msg: str, *, extra: Mapping[str, object]) -> None: ...


@dataclass(frozen=True, kw_only=True)
class ActionDependencies:
    """What an action reads and calls, passed in by the handler (in-memory fakes in tests)."""

    store: ActionStore
    get_quota: Callable[[str, str], dict[str, Any]]  # (quota code, region) -> the applied quota
    open_requests_for: Callable[[str, str], list[dict[str, Any]]]  # (quota code, region) -> still open
    # (params, region) -> the request; raises AwsRefusal for the codes in QUOTA_REQUEST_REFUSALS
    request_increase: Callable[[dict[str, Any], str], dict[str, Any]]
    open_cases: Callable[[datetime], tuple[str, list[dict[str, Any]]]]  # now -> (plan, open cases)
    add_communication: Callable[[str, str], None]  # (case id, body)
    severity_codes: Callable[[], list[str]]  # the plan's severities
    create_case: Callable[[dict[str, Any]], str]  # params -> case id; raises AwsRefusal when refused
    dry_run: Callable[[], bool]  # read on every action: no redeploy needed
    now: Callable[[], datetime]
    log: Log


def execute_action(
    incident_id: str,
    planned: PlannedAction,
    approval: Mapping[str, Any] | None,
    deps: ActionDependencies,
) -> dict[str, Any]:
    """Act once on ``planned`` and return the action's record (an :class:`ActionResult` as JSON);
    a retry of an action that finished returns the recorded one without acting again."""
    # an approver may have approved a lower value than planned (never a higher one)
    action, planned_value = apply_approved_value(planned, approval)
    previous = deps.store.claim_action(incident_id, action.action_id, deps.now())
    if previous is not None and previous.get("status") != "in_progress":
        deps.log.info("action already done; not acting again", extra={"action_id": action.action_id})
        return {k: previous[k] for k in RECORD_KEYS}
    incident = deps.store.get_incident(incident_id) or {}
    region = str((incident.get("incident") or {}).get("region") or "")
    if not region:  # never guess a Region for a change
        raise InvalidInput(f"incident {incident_id}: no Region on record, so no action is taken")
    result: dict[str, Any]
    sent = action.params
    if deps.dry_run():
        status, result = ActionStatus.DRY_RUN, {"summary": "dry run: request recorded, nothing sent"}
    elif action.type is ActionType.REQUEST_QUOTA_INCREASE:
        status, result = _quota_increase(action, region, deps)
    else:
        status, result, sent = _support_case(action, deps)
    if planned_value is not None:
        result["planned_value"] = planned_value  # the approver approved a lower value
    outcome = ActionResult(
        action_id=action.action_id, type=action.type, status=status, params=sent, result=result
    )
    record = outcome.to_json()
    deps.store.complete_action(incident_id, action.action_id, record, deps.now())
    deps.store.append_audit(incident_id, "action", record, deps.now())
    deps.log.info("action done", extra={"action_id": action.action_id, "status": status})
    return record


def _quota_increase(action: PlannedAction, region: str, deps: ActionDependencies) -> Outcome:
    """Check, then request. A denied call is this action's recorded failure, not the incident's."""
    try:
        return _check_and_request(action, region, deps)
    except AwsPermissionError as exc:
        return ActionStatus.FAILED, {
            "summary": f"AccessDeniedException: {exc}",
            "error": "AccessDeniedException",
        }


def _check_and_request(action: PlannedAction, region: str, deps: ActionDependencies) -> Outcome:
    code = action.params["QuotaCode"]
    quota = deps.get_quota(code, region)
    if not quota.get("Adjustable", False):
        return ActionStatus.SKIPPED, {
            "summary": f"quota {code} is not adjustable",
            "reason": "not_adjustable",
        }
    pending = deps.open_requests_for(code, region)
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
        requested = deps.request_increase(action.params, region)
    except AwsRefusal as exc:
        if exc.code == "ResourceAlreadyExistsException":
            return ActionStatus.SKIPPED, {
                "summary": "a request for this quota already exists",
                "reason": exc.code,
            }
        if exc.code in QUOTA_ERRORS_RECORDED:
            return ActionStatus.FAILED, {"summary": f"{exc.code}: {exc.message}", "error": exc.code}
        raise
    return ActionStatus.EXECUTED, {
        "summary": f"requested {code} -> {number(action.params['DesiredValue'])}: {requested['Status']}",
        "request_id": requested["Id"],
        "status": requested["Status"],
        "case_id": requested.get("CaseId"),
    }


def _support_case(
    action: PlannedAction, deps: ActionDependencies
) -> tuple[ActionStatus, dict[str, Any], dict[str, Any]]:
    """One open case per (region, model, case type): append to it, else open one. Returns the
    outcome and the parameters actually sent (the severity is capped to what the plan offers)."""
    plan, cases = deps.open_cases(deps.now())
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
        deps.add_communication(sent["caseId"], sent["communicationBody"])
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
        "severityCode": allowed_severity(action.params["severityCode"], deps.severity_codes()),
    }
    try:
        case_id = deps.create_case(params)
    except AwsRefusal as exc:
        if exc.code == "CaseCreationLimitExceeded":  # queue it with people rather than lose it
            return (
                ActionStatus.FAILED,
                {
                    "summary": "AWS Support's case-creation rate was exceeded: "
                    "the pre-filled case is in this notification",
                    "reason": "case_creation_limit",
                    "error": exc.code,
                    "manual_filing": manual,
                },
                params,
            )
        return ActionStatus.FAILED, {"summary": f"CreateCase: {exc.code}", "error": exc.code}, params
    return ActionStatus.EXECUTED, {"summary": f"opened support case {case_id}", "case_id": case_id}, params
