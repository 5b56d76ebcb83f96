"""The incident report: a JSON document, and the same facts as readable text."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from opspilot.adapters.incidents import IncidentStore
from opspilot.domain.format import iso, number
from opspilot_sim import approval_report, registry_sim

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


def _incident_id(final_state: dict[str, Any], facts: dict[str, Any]) -> str | None:
    """The incident an execution worked on, as its own state says, or for a repeat the state
    machine attached by itself, as the alarm's pointer said right after it (the runner reads it:
    ``attached_incident_id``); None when there was none (an OK for an alarm with no incident, a
    stale or refused event): no id is made up."""
    if "outcome" in final_state and "plan" not in final_state:  # Recover: its answer says
        answered = (final_state.get("outcome") or {}).get("incident_id")
        return str(answered) if answered else None
    if "attached_to" in final_state:  # RecordRepeatedState
        attached = facts.get("attached_incident_id")
        return str(attached) if attached else None
    for path in (("outcome", "incident_id"), ("incident", "incident_id")):
        value: Any = final_state
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if value:
            return str(value)
    return None


def _disposition(final: dict[str, Any], facts: dict[str, Any]) -> str:
    """What became of the event (domain/lifecycle.Disposition, plus the intake's repeat count and
    the recovery's end): one word per event, so that every event is accounted for."""
    states = facts["states"]
    if "attached_to" in final:
        return "repeat"  # RecordRepeatedState: a repeated ALARM of an alarm its incident owns
    classified = final.get("incident") or {}
    if "Classify" in states and not classified:
        return "failed"
    disposition = str(classified.get("disposition") or "failed")
    if disposition == "recovery":
        outcome = final.get("outcome") or {}
        if outcome.get("notify"):
            return "resolved"
        return "ok_recorded" if outcome.get("incident_id") else "ok_no_incident"
    if facts["status"] != "SUCCEEDED" or "RecordFailure" in states:
        return "failed"
    return disposition


def _by_execution(run: ScenarioRun) -> tuple[dict[str, Counter[str]], dict[str, list[dict[str, Any]]]]:
    """The API calls made inside each execution's Lambda invocations, by execution name, and the
    notifications each execution sent, by execution ARN: read once for the whole report."""
    calls: dict[str, Counter[str]] = {}
    for execution, service, op in run.call_log.calls:
        if execution:
            calls.setdefault(execution.rsplit(":", 1)[-1], Counter())[f"{service}:{op}"] += 1
    notes: dict[str, list[dict[str, Any]]] = {}
    for note in run.notifications:
        notes.setdefault(str(note.get("execution")), []).append(note)
    return calls, notes


def _incident_entry(
    run: ScenarioRun,
    store: IncidentStore,
    item: dict[str, Any],
    calls: dict[str, Counter[str]],
    notes: dict[str, list[dict[str, Any]]],
) -> dict[str, Any]:
    facts = item["facts"]
    final = facts.pop("final_state")
    incident_id = _incident_id(final, facts)
    record = (store.get_incident(incident_id) if incident_id else None) or {}
    incident = record.get("incident") or final.get("incident") or {}
    classified = final.get("incident") or {}
    states = facts["states"]
    # what this execution decided and did, not what the incident holds from other executions
    plan = (final.get("plan") or {}) if "Decide" in states else {}
    mine = {a.get("action_id") for a in plan.get("actions") or []}
    acted = "RecordOutcome" in states
    approval = (record.get("approval") or {}) if acted else {}
    approval_out = {
        "required": bool(approval.get("required", False)),
        "status": approval.get("status", "not_required") if approval.get("required") else "not_required",
        "by": approval.get("by"),
    }
    attached = "attached_to" in final or bool(classified.get("attached"))
    api_calls = Counter(calls.get(item["execution_arn"].rsplit(":", 1)[-1]) or {})
    for resource, count in facts["service_integrations"].items():
        if not resource.startswith("lambda:"):
            api_calls[resource] += count
    return {
        "event": item["event"],
        "disposition": _disposition(final, facts),
        "reason": classified.get("reason"),
        "incident_id": incident_id,
        "model_id": incident.get("model_id"),
        "region": incident.get("region") or run.stack.region,
        "category": classified.get("category") or incident.get("category"),
        "severity": classified.get("severity") or incident.get("severity"),
        "status": record.get("status"),
        "attached_to_open_incident": attached,
        "rose": classified.get("rose") or {},
        "scenario": plan.get("scenario"),
        "policy_rule": plan.get("rule"),
        "triggering_alarms": [
            {
                k: s.get(k)
                for k in ("alarm_name", "category", "severity", "quota_scope", "observed_per_minute")
            }
            | {"metric": s.get("metric", {}).get("name")}
            for s in (classified.get("signals") or [])
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
            if acted and a.get("action_id") in mine
        ],
        "notifications": [
            {"channel": n["channel"], "subject": n["subject"], "message": n["message"]}
            for n in notes.get(item["execution_arn"], [])
            if incident_id and n.get("incident_id") == incident_id
        ],
        "failure": record.get("failure") if "RecordFailure" in states else None,
        "execution": {
            "status": facts["status"],
            "state_transitions": facts["state_transitions"],
            "lambda_invocations": facts["lambda_invocations"],
            "api_calls": dict(sorted(api_calls.items())),
            "states": facts["states"],
            "error": facts["error"],
        },
    }


def _open_intervals(trail: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    """When an incident was open, from its audit trail: opened or reopened, until resolved or failed."""
    intervals: list[tuple[str, str | None]] = []
    start: str | None = None
    for entry in sorted(trail, key=lambda e: str(e.get("at"))):
        kind, at = entry.get("kind"), str(entry.get("at"))
        if kind in {"opened", "reopened"} and start is None:
            start = at
        elif kind in {"resolved", "failed"} and start is not None:
            intervals.append((start, at))
            start = None
    if start is not None:
        intervals.append((start, None))
    return intervals


def max_open_per_model(records: list[dict[str, Any]]) -> dict[str, int]:
    """Per model and Region, the most incidents open at the same time over the run."""
    by_model: dict[str, list[tuple[str, int]]] = {}
    for rec in records:
        key = f"{rec['model_id']} ({rec['region']})"
        for start, end in rec["open_intervals"]:
            marks = by_model.setdefault(key, [])
            marks.append((start, 1))
            marks.append((end or "9999", -1))
    most: dict[str, int] = {}
    for key, marks in by_model.items():
        level = peak = 0
        for _, step in sorted(marks, key=lambda m: (m[0], m[1])):  # an end before a start at the same time
            level += step
            peak = max(peak, level)
        most[key] = peak
    return most


def _incident_records(
    store: IncidentStore, ids: list[str]
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Each incident as the table holds it at the end, and the approval each execution's Record
    Outcome wrote into its ``outcome`` audit entry (keyed by the execution ARN): an incident's
    ``approval`` field holds only its latest round."""
    out = []
    approvals: dict[str, dict[str, Any]] = {}
    for incident_id in ids:
        record = store.get_incident(incident_id) or {}
        trail = store.audit_trail(incident_id)
        for entry in trail:
            if entry.get("kind") == "outcome" and "#arn:" in str(entry.get("sk")):
                approvals[str(entry["sk"]).split("#", 3)[3]] = (entry.get("data") or {}).get("approval") or {}
        incident = record.get("incident") or {}
        out.append(
            {
                "incident_id": incident_id,
                "model_id": incident.get("model_id"),
                "region": incident.get("region"),
                "status": record.get("status"),
                "category": incident.get("category"),
                "severity": incident.get("severity"),
                "alarms": record.get("alarms") or {},
                "reopen_count": int(record.get("reopen_count") or 0),
                "audit": [e.get("kind") for e in sorted(trail, key=lambda e: str(e.get("sk")))],
                "open_intervals": _open_intervals(trail),
            }
        )
    return out, approvals


# What may become of a delivered event; anything else is unaccounted for.
ACCOUNTED = frozenset(
    {
        "opened",
        "joined",
        "revised",
        "reopened",
        "duplicate",
        "repeat",
        "stale",
        "refused",
        "resolved",
        "ok_recorded",
        "ok_no_incident",
        "suppressed",
        "per_contributor",
        "failed",
    }
)


def totals(report: dict[str, Any]) -> dict[str, Any]:
    """The run in numbers: every delivery accounted for by what became of it."""
    entries = report["incidents"]
    by = Counter(e["disposition"] for e in entries)
    records = report["incident_records"]
    executions = len(entries)
    requests = Counter(r["quota_code"] for r in report["quota_requests"])
    # each execution's own approval rounds (its approval requests), not the incident's latest
    # approval, which a later revision or reopening of the incident replaces
    approvals = Counter(
        (r.get("decision") or {}).get("status") or r["status"]
        for e in entries
        for r in e.get("approval_rounds") or []
    )
    return {
        "events": report["events"],
        "executions": executions,
        "by_disposition": dict(sorted(by.items())),
        "ignored": len(report["ignored_events"]),
        "deliveries": report["deliveries"],
        # deliveries that started no execution and were not ignored, or ended in no known way
        "unaccounted": report["deliveries"]
        - executions
        - len(report["ignored_events"])
        + sum(1 for e in entries if e["disposition"] not in ACCOUNTED),
        "incidents_opened": by["opened"],
        "incidents_joined": by["joined"] + by["revised"],
        "incidents_revised": by["revised"],
        "incidents_reopened": by["reopened"],
        "incidents_resolved": sum(1 for r in records if r["status"] == "resolved"),
        "incidents": len(records),
        "stale": by["stale"],
        "refused": by["refused"],
        "duplicates": by["duplicate"] + by["repeat"],
        "failed": by["failed"],
        "max_open_incidents_per_model": max(report["max_open_per_model"].values(), default=0),
        "quota_requests_filed": sum(requests.values()),
        "governor_refusals": dict(
            sorted(Counter(r["reason"] for e in entries for r in e.get("refusals") or []).items())
        ),
        "quota_requests_by_code": dict(sorted(requests.items())),
        "changes_sent": len(report["changes_sent_to_aws"]),
        "changes_failed": len(report["changes_failed"]),
        "approvals": dict(sorted(approvals.items())),
        "state_transitions_per_event": round(
            sum(e["execution"]["state_transitions"] for e in entries) / max(executions, 1), 2
        ),
        "lambda_invocations_per_event": round(
            sum(e["execution"]["lambda_invocations"] for e in entries) / max(executions, 1), 2
        ),
    }


def build_report(
    run: ScenarioRun, handled: list[dict[str, Any]], ignored: list[dict[str, Any]]
) -> dict[str, Any]:
    store = IncidentStore(run.stack.table_name, 30)
    by_execution, notes = _by_execution(run)
    incidents = [_incident_entry(run, store, item, by_execution, notes) for item in handled]
    ids = list(dict.fromkeys(e["incident_id"] for e in incidents if e["incident_id"]))
    records, approvals = _incident_records(store, ids)
    for item, entry in zip(handled, incidents, strict=True):
        own = approvals.get(item["execution_arn"])
        if own is not None:  # what this execution's approver decided, not the incident's latest
            entry["approval"] = {
                "required": bool(own.get("required")),
                "status": own.get("status", "not_required"),
                "by": own.get("by"),
            }
    calls = run.world.calls
    report = {
        "scenario": run.scenario["name"],
        "description": run.scenario.get("description", ""),
        "parameters": {
            k: run.stack.parameters[k] for k in ("Environment", "DryRun", "ApprovalTimeoutSeconds")
        },
        "registry": run.provisioning.as_report() if run.provisioning else None,
        "incidents": incidents,
        "incident_records": records,
        "events": len(run.scenario["events"]),
        "deliveries": sum(1 + int(e.get("duplicates", 0)) for e in run.scenario["events"]),
        "max_open_per_model": max_open_per_model(records),
        "ignored_events": ignored,
        "pending_approvals": approval_report.pending_approvals(run),
        "pending_approvals_seen": run.pending_seen,
        "chat_messages": approval_report.chat_messages(run),
        # a change AWS answered (or whose answer was lost: it may have taken effect); a change AWS
        # refused is listed apart, with its error
        "changes_sent_to_aws": [
            {"service": c.service, "operation": c.operation, "params": c.params}
            for c in calls
            if (c.service, c.operation) in CHANGES and c.outcome in {"ok", "lost", "pending"}
        ],
        "changes_failed": [
            {"service": c.service, "operation": c.operation, "params": c.params, "error": c.outcome}
            for c in calls
            if (c.service, c.operation) in CHANGES and c.outcome not in {"ok", "lost", "pending"}
        ],
        "quota_requests": [
            {
                "id": r.id,
                "quota_code": r.quota.code,
                "desired": r.desired,
                "status": r.status,
                "created": iso(r.created),
            }
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
    report["totals"] = totals(report)
    return report


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
            f"   {inc['disposition']}: incident {inc['incident_id']}  model {inc['model_id']}  "
            f"region {inc['region']}"
            + ("  (attached to the open incident)" if inc["attached_to_open_incident"] else "")
        )
        if inc.get("reason"):
            out.append(f"   {inc['reason']}")
        if inc.get("rose"):
            out.append("   rose " + "  ".join(f"{k} {v}" for k, v in inc["rose"].items()))
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
        daily = {k: ev[k] for k in ("tokens_today", "tpd_threshold", "tpd_quota", "days_near_tpd") if k in ev}
        if daily:
            out.append("   daily    " + "  ".join(f"{k}={number(v)}" for k, v in daily.items()))
        for gap in ev.get("quota_gaps") or []:
            problem = str(gap.get("problem", "")).replace("_", " ")
            out.append(f"   quota    {str(gap.get('kind')).upper()} {problem}: {gap.get('reason')}")
            out.append(f"            fix: {gap.get('fix')}")
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
    for change in report.get("changes_failed") or []:
        out.append(f"   change refused by AWS: {change['service']} {change['operation']} ({change['error']})")
    out.append("")
    out.extend(approval_report.render_summary(report))
    out.extend(render_totals(report))
    return "\n".join(out) + "\n"


def render_totals(report: dict[str, Any]) -> list[str]:
    t = report["totals"]
    by = "  ".join(f"{k} {v}" for k, v in t["by_disposition"].items())
    requests = ", ".join(f"{code} x{n}" for code, n in t["quota_requests_by_code"].items()) or "none"
    approvals = ", ".join(f"{k} {v}" for k, v in t["approvals"].items()) or "none"
    return [
        f"   totals: {t['events']} events, {t['deliveries']} deliveries, {t['executions']} executions, "
        f"{t['ignored']} ignored, {t['unaccounted']} unaccounted",
        f"   events: {by}",
        f"   incidents: {t['incidents']} ({t['incidents_opened']} opened, {t['incidents_joined']} joins "
        f"of which {t['incidents_revised']} revised, {t['incidents_reopened']} reopened, "
        f"{t['incidents_resolved']} resolved at the end); at most {t['max_open_incidents_per_model']} "
        "open per model at a time",
        f"   quota requests filed: {t['quota_requests_filed']} ({requests}); changes sent "
        f"{t['changes_sent']}, refused by AWS {t['changes_failed']}; approvals: {approvals}",
        "   governor refused: "
        + (", ".join(f"{k} {v}" for k, v in t["governor_refusals"].items()) or "none"),
        f"   per event: {t['state_transitions_per_event']} state transitions, "
        f"{t['lambda_invocations_per_event']} Lambda invocations",
    ]


def render_summary(report: dict[str, Any]) -> str:
    """``opspilot simulate --summary``: the totals and one line per incident, for long runs."""
    out = [f"== scenario {report['scenario']} (summary) =="]
    for rec in report["incident_records"]:
        trail = Counter(rec["audit"])
        kinds = ", ".join(f"{k} {n}" if n > 1 else str(k) for k, n in trail.items())
        out.append(
            f"   {rec['incident_id']}  {rec['model_id']}  {rec['status']}  {rec['category']}/"
            f"{rec['severity']}  alarms {len(rec['alarms'])}  reopened {rec['reopen_count']}  [{kinds}]"
        )
    for change in report.get("changes_failed") or []:
        out.append(f"   change refused by AWS: {change['service']} {change['operation']} ({change['error']})")
    out.extend(render_totals(report))
    return "\n".join(out) + "\n"
