"""Decide: the scenario and the planned actions, by the configured policy."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from opspilot.domain.decide import DecisionSettings, plan_actions
from opspilot.domain.lifecycle import revise_plan
from opspilot.domain.model import Incident, QuotaContext, SupportContext, UsageSummary
from opspilot.domain.policy import Policy, load_policy
from opspilot.handlers._registry import model_entry
from opspilot.handlers._runtime import bind_execution, logger, now, parse, state_part, store
from opspilot.settings import decide_settings


@cache
def policy() -> Policy:
    return load_policy(decide_settings().policy_document)


def with_our_ledger(quotas: QuotaContext, region: str) -> QuotaContext:
    """Service Quotas' history with the quota's value when we filed each request of ours (the
    window ceiling's sum of our increases), read only for quotas the policy gives one."""
    codes = {r.quota_code for r in quotas.history} & set(policy().governor.window_ceilings)
    if not codes:
        return quotas
    ledger: dict[str, float] = {}
    for code in sorted(codes):
        ledger |= store().quota_ledger(region, code)
    return quotas.replace(
        history=[r.replace(previous_value=ledger.get(r.request_id)) for r in quotas.history]
    )


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    bind_execution(event)
    incident = parse(Incident, state_part(event, "state", "incident"), "incident")
    ctx = state_part(event, "state", "context")
    settings = decide_settings()
    entry = model_entry(incident.model_id)  # a registered model's own percents win
    at = now()
    plan = plan_actions(
        incident,
        parse(UsageSummary, ctx.get("usage"), "context.usage"),
        with_our_ledger(parse(QuotaContext, ctx.get("quotas"), "context.quotas"), incident.region),
        parse(SupportContext, ctx.get("support"), "context.support"),
        policy(),
        DecisionSettings(
            settings.threshold_percent,
            entry.get("increase_percent") or settings.increase_percent,
            settings.approval_timeout_seconds,
            rpm_threshold_percent=entry.get("rpm_threshold_percent"),
            tpm_threshold_percent=entry.get("tpm_threshold_percent"),
        ),
        now=at,
    )
    # revised or reopened: only what is new or changed
    plan = revise_plan(plan, incident.known_actions, incident.known_params)
    body = plan.to_json()
    stored = body
    if incident.known_actions:  # the incident's plan is everything it planned, this revision last
        earlier = (store().get_incident(incident.incident_id) or {}).get("plan") or {}
        mine = {a["action_id"] for a in body["actions"]}  # a retry finds them stored already
        kept = [a for a in earlier.get("actions") or [] if a.get("action_id") not in mine]
        stored = {**body, "actions": [*kept, *body["actions"]]}
    store().update_incident(
        incident.incident_id, at, status="planned", plan=stored, evidence={"usage": ctx.get("usage")}
    )
    store().append_audit(
        incident.incident_id,
        "decided",
        {"scenario": body["scenario"], "rule": plan.rule, "refusals": body["refusals"]},
        at,
        key=event.get("execution_id"),  # once per execution: a retry does not write it again
    )
    logger.info(
        "decided",
        extra={
            "scenario": body["scenario"],
            "rule": plan.rule,
            "actions": len(plan.actions),
            "refused": [r["reason"] for r in plan.refusals],
        },
    )
    return body
