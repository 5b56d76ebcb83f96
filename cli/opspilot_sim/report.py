"""The incident report: a JSON document, and the same facts as readable text."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from opspilot.adapters.incidents import IncidentStore
from opspilot.domain.format import number
from opspilot_sim import approval_report, registry_sim
from opspilot_sim.scenario_run import incident_id_of

if TYPE_CHECKING:
    from opspilot_sim.scenario_run import ScenarioRun


# The state-changing calls OpsPilot's actions make, listed in the report as sent.
CHANGES = frozenset(
    {
        ("service-quotas", "RequestServiceQuotaIncrease"),
        ("support", "CreateCase"),
        ("support", "AddCommunicationToCase"),
        ("support", "ResolveCase"),
        ("cloudwatch", "PutMetricAlarm"),
    }
)


def _incident_entry(run: ScenarioRun, store: IncidentStore, item: dict[str, Any]) -> dict[str, Any]:
    facts = item["facts"]
    final = facts.pop("final_state")
    incident_id = incident_id_of(final)
    record = (store.get_incident(incident_id) if incident_id else None) or {}
    incident = record.get("incident") or final.get("incident") or {}
    classified = final.get("incident") or {}
    plan = record.get("plan") or {}
    approval = record.get("approval") or {}
    approval_out = {
        "required": bool(approval.get("required", False)),
        "status": approval.get("status", "not_required") if approval.get("required") else "not_required",
        "by": approval.get("by"),
    }
    attached = "attached_to" in final or bool(classified.get("attached"))
    by_execution = [
        c for c in run.call_log.calls if c[0] and item["execution_arn"].endswith(c[0].rsplit(":", 1)[-1])
    ]
    api_calls = Counter(f"{service}:{op}" for _, service, op in by_execution)
    for resource, count in facts["service_integrations"].items():
        if not resource.startswith("lambda:"):
            api_calls[resource] += count
    return {
        "event": item["event"],
        "incident_id": incident_id,
        "model_id": incident.get("model_id"),
        "region": incident.get("region") or run.stack.region,
        "category": classified.get("category") or incident.get("category"),
        "severity": incident.get("severity"),
        "status": record.get("status"),
        "attached_to_open_incident": attached,
        "scenario": plan.get("scenario"),
        "policy_rule": plan.get("rule"),
        "triggering_alarms": [
            {
                k: s.get(k)
                for k in ("alarm_name", "category", "severity", "quota_scope", "observed_per_minute")
            }
            | {"metric": s.get("metric", {}).get("name")}
            for s in (classified.get("signals") or incident.get("signals") or [])
        ],
        "evidence": plan.get("evidence"),
        "forecast": (plan.get("evidence") or {}).get("forecast"),
        "planned_actions": [
            {"type": a["type"], "reason": a["reason"], "params": a["params"]} for a in plan.get("actions", [])
        ],
        "recommendations": plan.get("recommendations", []),
        "refusals": plan.get("refusals", []),  # quota requests the governor refused, with reasons
        "approval": approval_out,
        "approval_rounds": approval_report.approval_rounds(run, item["execution_arn"]),
        "actions": [
            {"type": a["type"], "status": a["status"], "params": a["params"], "result": a.get("result", {})}
            for a in (record.get("actions") or [])
        ],
        "notifications": [
            {"channel": n["channel"], "subject": n["subject"], "message": n["message"]}
            for n in run.notifications
            if incident_id
            and n.get("incident_id") == incident_id
            and n.get("execution") == item["execution_arn"]
        ],
        "failure": record.get("failure"),
        "execution": {
            "status": facts["status"],
            "state_transitions": facts["state_transitions"],
            "lambda_invocations": facts["lambda_invocations"],
            "api_calls": dict(sorted(api_calls.items())),
            "states": facts["states"],
            "error": facts["error"],
        },
    }


def build_report(
    run: ScenarioRun, handled: list[dict[str, Any]], ignored: list[dict[str, Any]]
) -> dict[str, Any]:
    store = IncidentStore(run.stack.table_name, 30)
    incidents = [_incident_entry(run, store, item) for item in handled]
    return {
        "scenario": run.scenario["name"],
        "description": run.scenario.get("description", ""),
        "parameters": {
            k: run.stack.parameters[k] for k in ("Environment", "DryRun", "ApprovalTimeoutSeconds")
        },
        "registry": run.provisioning.as_report() if run.provisioning else None,
        "incidents": incidents,
        "ignored_events": ignored,
        "pending_approvals": approval_report.pending_approvals(run),
        "pending_approvals_seen": run.pending_seen,
        "chat_messages": approval_report.chat_messages(run),
        "changes_sent_to_aws": [
            {"service": c.service, "operation": c.operation, "params": c.params}
            for c in run.world.calls
            if (c.service, c.operation) in CHANGES
        ],
        "quota_requests": [
            {"id": r.id, "quota_code": r.quota.code, "desired": r.desired, "status": r.status}
            for r in run.world.quota_requests()
        ],
        "support_cases": [
            {
                "case_id": c.case_id,
                "subject": c.subject,
                "status": c.status,
                "communications": len(c.communications),
            }
            for c in run.world.cases()
        ],
    }


def render_text(report: dict[str, Any]) -> str:
    out = [f"== scenario {report['scenario']} ==", report.get("description", "").strip()]
    p = report["parameters"]
    out.append(
        f"   environment={p['Environment']} dry_run={p['DryRun']} "
        f"approval_timeout={p['ApprovalTimeoutSeconds']}s"
    )
    if report.get("registry"):
        out += ["", *registry_sim.render(report["registry"])]
    for inc in report["incidents"]:
        ex = inc["execution"]
        out.append("")
        out.append(f"-- {inc['event']}")
        out.append(
            f"   incident {inc['incident_id']}  model {inc['model_id']}  region {inc['region']}"
            + ("  (attached to the open incident)" if inc["attached_to_open_incident"] else "")
        )
        out.append(
            f"   category {inc['category']}  severity {inc['severity']}  scenario {inc['scenario']}  "
            f"rule {inc['policy_rule']}  status {inc['status']}"
        )
        for signal in inc["triggering_alarms"]:
            seen = signal.get("observed_per_minute")
            per_minute = f", {number(seen)}/min" if seen is not None else ""
            out.append(
                f"   alarm {signal['alarm_name']} ({signal['metric']}): {signal['category']}, "
                f"{signal['severity']}, quota scope {signal['quota_scope']}{per_minute}"
            )
        ev = inc.get("evidence") or {}
        figures = {k: ev[k] for k in ("peak_rpm", "rpm_threshold", "peak_tpm", "tpm_threshold") if k in ev}
        if figures:
            out.append("   evidence " + "  ".join(f"{k}={number(v)}" for k, v in figures.items()))
        usage = ev.get("usage") or {}
        more = {
            k: usage[k] for k in ("avg_input_tokens", "avg_output_tokens", "p99_latency_ms") if k in usage
        }
        if more:
            out.append("            " + "  ".join(f"{k}={number(v)}" for k, v in more.items()))
        for kind, text in (ev.get("forecast") or {}).items():
            out.append(f"   forecast {kind}: {text}")
        for planned in inc["planned_actions"]:
            out.append(f"   planned {planned['type']}: {planned['reason']}")
        for refusal in inc.get("refusals", []):
            out.append(f"   refused ({refusal['reason']}): {refusal['text']}")
        for rec in inc["recommendations"]:
            out.append(f"   recommend {rec['code']}: {rec['text']}")
        a = inc["approval"]
        out.append(
            f"   approval required={a['required']} status={a['status']}"
            + (f" by={a['by']}" if a["by"] else "")
        )
        for act in inc["actions"]:
            target = str(act["params"].get("QuotaCode") or act["params"].get("subject", ""))
            extra = f" -> {number(act['params']['DesiredValue'])}" if "DesiredValue" in act["params"] else ""
            out.append(
                f"   action {act['type']} {target}{extra}: {act['status']} "
                f"({act['result'].get('summary', '')})"
            )
        out.extend(approval_report.render(inc))
        for n in inc["notifications"]:
            out.append(f"   notified {n['channel']}: {n['subject']}")
        if inc.get("failure"):
            out.append(f"   failure {inc['failure']['cause'][:200]}")
        out.append(
            f"   execution {ex['status']}: {ex['state_transitions']} state transitions, "
            f"{ex['lambda_invocations']} Lambda invocations, {sum(ex['api_calls'].values())} AWS API calls"
        )
    for ig in report["ignored_events"]:
        out.append("")
        out.append(f"-- {ig['event']}: ignored ({ig['reason']})")
    out.append("")
    out.extend(approval_report.render_summary(report))
    return "\n".join(out) + "\n"
