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
        parse(QuotaContext, ctx.get("quotas"), "context.quotas"),
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
    plan = revise_plan(plan, incident.known_actions)  # revised or reopened: only what changed
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
