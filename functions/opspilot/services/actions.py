"""Execute Action: one planned action, checked before it acts, at most once per incident.

The claim (a conditional write keyed on incident and action) makes a Step Functions retry of an
action that already finished return the recorded result instead of acting again.

Calls per action: the claim, the incident read, the dry-run flag, then for a quota increase
GetServiceQuota, the quota's request history (ListRequestedServiceQuotaChangeHistoryByQuota), and
at most one RequestServiceQuotaIncrease;
for a support case DescribeCases, then AddCommunicationToCase to an open case (a retried action:
DescribeCommunications first) or DescribeSeverityLevels and CreateCase; last the completed action
and its audit entry. No AWS SDK here: the handler passes the adapters in, with the refusals this
module records (of RequestServiceQuotaIncrease and CreateCase) raised as :class:`AwsRefusal`.

Before filing, the quota governor (domain/governor.py) checks again against the history just
read: no request on a pending one, none within the cooldown or past the window's limit, none above
the policy's ceiling. A request found in the history with our value, filed since this action was
claimed, is this action's own (an earlier attempt whose answer was lost): it is recorded as
executed, and watched, instead of filing again or recording a failure. The same reconciliation
runs when RequestServiceQuotaIncrease answers ResourceAlreadyExistsException or not at all
(:class:`ResponseLost`), and when CreateCase gets no answer (the case is looked up by subject).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from opspilot.domain.approvals import apply_approved_value
from opspilot.domain.errors import AwsPermissionError, InvalidInput, ResponseLost, TransientAwsError
from opspilot.domain.format import allowed_severity, number
from opspilot.domain.governor import OPEN_STATUSES, PastRequest, Refusal, check_history, window_room
from opspilot.domain.labels import label
from opspilot.domain.lifecycle import superseded_by
from opspilot.domain.model import ActionResult, ActionStatus, ActionType, PlannedAction
from opspilot.domain.policy import Policy

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
# Service Quotas' clock and ours may differ a little: a request created this long before our claim
# can still be this action's own
CLOCK_SKEW = timedelta(minutes=5)

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
    def record_quota_request(
        self, region: str, quota_code: str, request_id: str, previous: float, desired: float, now: datetime
    ) -> None: ...
    def quota_ledger(self, region: str, quota_code: str) -> dict[str, float]: ...


class Log(Protocol):
    def info(self, msg: str, *, extra: Mapping[str, object]) -> None: ...


@dataclass(frozen=True, kw_only=True)
class ActionDependencies:
    """What an action reads and calls, passed in by the handler (in-memory fakes in tests)."""

    store: ActionStore
    get_quota: Callable[[str, str], dict[str, Any]]  # (quota code, region) -> the applied quota
    # (quota code, region) -> every request for it in Service Quotas' history, any status
    quota_history: Callable[[str, str], list[dict[str, Any]]]
    # (params, region) -> the request; raises AwsRefusal for the codes in QUOTA_REQUEST_REFUSALS,
    # ResponseLost when no answer came back
    request_increase: Callable[[dict[str, Any], str], dict[str, Any]]
    open_cases: Callable[[datetime], tuple[str, list[dict[str, Any]]]]  # now -> (plan, open cases)
    # (case id, body); raises ResponseLost when no answer came back
    add_communication: Callable[[str, str], None]
    # (case id, since) -> the bodies of the case's communications created since then
    case_communications: Callable[[str, datetime], list[str]]
    severity_codes: Callable[[], list[str]]  # the plan's severities
    # params -> case id; raises AwsRefusal when refused, ResponseLost when no answer came back
    create_case: Callable[[dict[str, Any]], str]
    dry_run: Callable[[], bool]  # read on every action: no redeploy needed
    policy: Policy  # the governor's rules and the ceilings (the policy Decide planned with)
    now: Callable[[], datetime]
    log: Log
    # told once per action that finished (not on a retry that returns the recorded result)
    record_outcome: Callable[[dict[str, Any]], None] = lambda record: None


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
    at = deps.now()
    previous = deps.store.claim_action(incident_id, action.action_id, at)
    if previous is not None and previous.get("status") != "in_progress":
        deps.log.info("action already done; not acting again", extra={"action_id": action.action_id})
        return {k: previous[k] for k in RECORD_KEYS}
    claimed_at = _time((previous or {}).get("claimed_at")) or at
    incident = deps.store.get_incident(incident_id) or {}
    region = str((incident.get("incident") or {}).get("region") or "")
    if not region:  # never guess a Region for a change
        raise InvalidInput(f"incident {incident_id}: no Region on record, so no action is taken")
    result: dict[str, Any]
    sent = action.params
    planned_ids = [str(a.get("action_id")) for a in (incident.get("plan") or {}).get("actions") or []]
    if later := superseded_by(action.action_id, planned_ids):
        # a revision asked again for this action with other parameters: the newer one is what a
        # person is asked, and acts; this one does nothing
        wanted = next(a for a in incident["plan"]["actions"] if a.get("action_id") == later)
        status, result = (
            ActionStatus.SKIPPED,
            {
                "summary": f"superseded by the revised plan's {later} ({_asked(wanted.get('params') or {})})",
                "reason": "superseded",
                "superseded_by": later,
            },
        )
    elif deps.dry_run():
        status, result = ActionStatus.DRY_RUN, {"summary": "dry run: request recorded, nothing sent"}
    elif action.type is ActionType.REQUEST_QUOTA_INCREASE:
        status, result = _quota_increase(action, region, deps, claimed_at, at)
    else:
        retried = previous is not None  # an earlier attempt claimed it and did not finish
        status, result, sent = _support_case(incident_id, action, deps, claimed_at, retried)
    if status is ActionStatus.EXECUTED and result.get("request_id") and "previous_value" in result:
        deps.store.record_quota_request(
            region,
            str(action.params["QuotaCode"]),
            str(result["request_id"]),
            float(result["previous_value"]),
            float(action.params["DesiredValue"]),
            at,
        )  # the governor's ledger: what our increases added (its window ceiling)
    if planned_value is not None:
        result["planned_value"] = planned_value  # the approver approved a lower value
    outcome = ActionResult(
        action_id=action.action_id, type=action.type, status=status, params=sent, result=result
    )
    record = outcome.to_json()
    deps.store.complete_action(incident_id, action.action_id, record, deps.now())
    deps.store.append_audit(incident_id, "action", record, deps.now())
    deps.log.info("action done", extra={"action_id": action.action_id, "status": status})
    deps.record_outcome(record)
    return record


def _asked(params: Mapping[str, Any]) -> str:
    if "DesiredValue" in params:
        return f"{params.get('QuotaCode')} -> {number(float(params['DesiredValue']))}"
    return str(params.get("subject", "a support case"))


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value).astimezone()
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None


def _past(history: list[dict[str, Any]], ledger: Mapping[str, float] | None = None) -> list[PastRequest]:
    return [
        PastRequest(
            str(r["Id"]),
            str(r["QuotaCode"]),
            float(r["DesiredValue"]),
            str(r["Status"]),
            created,
            _time(r.get("LastUpdated")),
            (ledger or {}).get(str(r["Id"])),
        )
        for r in history
        if (created := _time(r.get("Created"))) is not None
    ]


def _own_request(
    history: list[dict[str, Any]], code: str, desired: float, claimed_at: datetime
) -> dict[str, Any] | None:
    """The request an earlier attempt of this action filed: our quota and value, created since
    the action was claimed (less the clock skew)."""
    return next(
        (
            r
            for r in history
            if r.get("QuotaCode") == code
            and float(r.get("DesiredValue", -1)) == desired
            and (created := _time(r.get("Created"))) is not None
            and created >= claimed_at - CLOCK_SKEW
        ),
        None,
    )


def _status(request: dict[str, Any]) -> str:
    """A Service Quotas request's status in words (its code stays in the action's ``status``)."""
    return label("quota_request_status", request["Status"])


def _reconciled(request: dict[str, Any], code: str, desired: float, why: str, previous: float) -> Outcome:
    return ActionStatus.EXECUTED, {
        "previous_value": previous,
        "summary": f"requested {code} -> {number(desired)}: {_status(request)} ({why})",
        "request_id": request["Id"],
        "status": request["Status"],
        "case_id": request.get("CaseId"),
        "reconciled": True,
    }


def _quota_increase(
    action: PlannedAction, region: str, deps: ActionDependencies, claimed_at: datetime, at: datetime
) -> Outcome:
    """Check, then request. A denied call is this action's recorded failure, not the incident's."""
    try:
        return _check_and_request(action, region, deps, claimed_at, at)
    except AwsPermissionError as exc:
        return ActionStatus.FAILED, {
            "summary": f"AccessDeniedException: {exc}",
            "error": "AccessDeniedException",
        }


def _check_and_request(
    action: PlannedAction, region: str, deps: ActionDependencies, claimed_at: datetime, at: datetime
) -> Outcome:
    code = action.params["QuotaCode"]
    desired = float(action.params["DesiredValue"])
    quota = deps.get_quota(code, region)
    if not quota.get("Adjustable", False):
        return ActionStatus.SKIPPED, {
            "summary": f"quota {code} is not adjustable",
            "reason": "not_adjustable",
        }
    history = deps.quota_history(code, region)
    if own := _own_request(history, code, desired, claimed_at):
        return _reconciled(
            own, code, desired, "filed by an earlier attempt of this action", float(quota["Value"])
        )
    pending = [r for r in history if r.get("Status") in OPEN_STATUSES]
    if pending:
        request = pending[0]
        return ActionStatus.SKIPPED, {
            "summary": f"attached to pending request {request['Id']} ({_status(request)})",
            "reason": "pending_request_exists",
            "request_id": request["Id"],
            "case_id": request.get("CaseId"),
        }
    if float(quota["Value"]) >= desired:
        return ActionStatus.SKIPPED, {
            "summary": f"quota {code} is already {number(quota['Value'])}",
            "reason": "already_at_desired_value",
        }
    # the governor again: an approval can take hours, and another incident may have filed since
    rules = deps.policy.governor.rules()
    past = _past(history, deps.store.quota_ledger(region, code) if code in rules.window_ceilings else None)
    refusal = check_history(code, "", past, at, rules)
    if refusal is None:
        room, refusal = window_room(code, "", past, at, rules)
        if refusal is None and room is not None and desired - float(quota["Value"]) > room:
            refusal = Refusal(
                code,
                "",
                "window_ceiling",
                f"Quota {code}: {number(float(quota['Value']))} -> {number(desired)} would add more than "
                f"the {number(room)} our increases may still add within {number(rules.window_days)} days.",
            )
    ceiling = deps.policy.guardrails.max_values.get(code)
    if refusal is None and ceiling is not None and desired > ceiling:
        return ActionStatus.SKIPPED, {
            "summary": f"quota {code}: {number(desired)} is above the policy's ceiling of {number(ceiling)}",
            "reason": "governor_at_ceiling",
        }
    if refusal is not None:
        return ActionStatus.SKIPPED, {
            "summary": refusal.text,
            "reason": f"governor_{refusal.reason}",
            "refusal": refusal.to_json(),
        }
    try:
        requested = deps.request_increase(action.params, region)
    except ResponseLost as exc:  # it may have been filed: Service Quotas' history says
        if own := _own_request(deps.quota_history(code, region), code, desired, claimed_at):
            return _reconciled(
                own,
                code,
                desired,
                "the answer was lost; found in Service Quotas' history",
                float(quota["Value"]),
            )
        return ActionStatus.FAILED, {
            "summary": f"RequestServiceQuotaIncrease got no answer ({exc}) and Service Quotas' history "
            f"has no request for {code} -> {number(desired)}",
            "error": "ResponseLost",
        }
    except AwsRefusal as exc:
        if exc.code == "ResourceAlreadyExistsException":
            if own := _own_request(deps.quota_history(code, region), code, desired, claimed_at):
                return _reconciled(
                    own,
                    code,
                    desired,
                    "filed by this action; found in Service Quotas' history",
                    float(quota["Value"]),
                )
            return ActionStatus.SKIPPED, {
                "summary": "a request for this quota already exists",
                "reason": exc.code,
            }
        if exc.code in QUOTA_ERRORS_RECORDED:
            return ActionStatus.FAILED, {"summary": f"{exc.code}: {exc.message}", "error": exc.code}
        raise
    return ActionStatus.EXECUTED, {
        "summary": f"requested {code} -> {number(desired)}: {_status(requested)}",
        "request_id": requested["Id"],
        "status": requested["Status"],
        "case_id": requested.get("CaseId"),
        "previous_value": float(quota["Value"]),
    }


def reference(incident_id: str, action_id: str) -> str:
    """The line that makes the evidence OpsPilot adds to a case its own, once per incident and
    action: a retry finds it on the case instead of adding the evidence again."""
    return f"OpsPilot reference: incident {incident_id}, action {action_id}"


def _appended(case_id: str, ref: str, deps: ActionDependencies, claimed_at: datetime) -> bool:
    """Whether an earlier attempt of this action added its evidence to the case already."""
    return any(ref in body for body in deps.case_communications(case_id, claimed_at - CLOCK_SKEW))


def _support_case(
    incident_id: str,
    action: PlannedAction,
    deps: ActionDependencies,
    claimed_at: datetime,
    retried: bool,
) -> tuple[ActionStatus, dict[str, Any], dict[str, Any]]:
    """One open case per (region, model, case type): append to it, else open one. Returns the
    outcome and the parameters actually sent (the severity is capped to what the plan offers).

    The evidence appended to an open case carries :func:`reference`. AddCommunicationToCase has
    no idempotency token, so it is sent once; a retried action (an earlier attempt claimed it and
    did not finish: its answer or the Lambda's was lost) first looks for its reference among the
    case's communications since the claim, and so does an attempt whose answer was lost."""
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
        ref = reference(incident_id, action.action_id)
        body = f"{action.params['communicationBody']}\n\n{ref}"
        sent = {"caseId": existing["caseId"], "communicationBody": body}
        shown = existing.get("displayId", existing["caseId"])
        done = {"case_id": existing["caseId"], "appended": True}
        if retried and _appended(existing["caseId"], ref, deps, claimed_at):
            summary = f"added the evidence to open case {shown} (an earlier attempt; found on the case)"
            return ActionStatus.EXECUTED, {"summary": summary, **done, "reconciled": True}, sent
        try:
            deps.add_communication(sent["caseId"], body)
        except ResponseLost as exc:  # it may have been added: the case says
            if not _appended(existing["caseId"], ref, deps, claimed_at):
                raise TransientAwsError(f"{exc}; the evidence is not on case {shown} yet") from exc
            summary = f"added the evidence to open case {shown} (the answer was lost; found on the case)"
            return ActionStatus.EXECUTED, {"summary": summary, **done, "reconciled": True}, sent
        return ActionStatus.EXECUTED, {"summary": f"added the evidence to open case {shown}", **done}, sent
    params = {
        **action.params,
        "severityCode": allowed_severity(action.params["severityCode"], deps.severity_codes()),
    }
    try:
        case_id = deps.create_case(params)
    except ResponseLost as exc:  # it may have been opened: look for it by its subject
        _plan, now_open = deps.open_cases(deps.now())
        found = next((c for c in now_open if c["subject"] == params["subject"]), None)
        if found is None:  # not opened (or not listed yet): the workflow retries this action
            raise TransientAwsError(f"{exc}; no open case with the subject yet") from exc
        return (
            ActionStatus.EXECUTED,
            {
                "summary": f"opened support case {found.get('displayId', found['caseId'])} "
                "(the answer was lost; found by its subject)",
                "case_id": found["caseId"],
                "reconciled": True,
            },
            params,
        )
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
