"""What a person reads for each value the workflow carries: one table for every text people see
(the approval pages, the approval email, the incident notifications, Slack and Teams).

Support severities: the names the Support Center shows for the API's codes (AWS Support API
reference, SeverityLevel: https://docs.aws.amazon.com/awssupport/latest/APIReference/API_SeverityLevel.html).
"""

from __future__ import annotations

LABELS: dict[str, dict[str, str]] = {
    "category": {
        "failure": "Failure",
        "quota_pressure": "Quota pressure",
        "anomaly": "Anomaly",
        "traffic_drop": "Traffic drop",
        "recovery": "Recovery",
    },
    "severity": {"critical": "Critical", "warning": "Warning"},
    "scenario": {
        "non_quota": "Not about quotas",
        "new_model": "New model",
        "high_usage": "High usage",
        "low_usage": "Low usage",
    },
    "case_severity": {
        "low": "General guidance",
        "normal": "System impaired",
        "high": "Production system impaired",
        "urgent": "Production system down",
        "critical": "Business-critical system down",
    },
    # what adapters/support.py infers; the Support API needs Business, Enterprise On-Ramp or Enterprise
    "support_plan": {
        "business_or_enterprise": "Business, Enterprise On-Ramp or Enterprise",
        "basic": "Basic or Developer (no Support API)",
    },
    "action": {
        "request_quota_increase": "Quota increase request",
        "open_support_case": "Support case",
    },
    "action_status": {
        "executed": "done",
        "dry_run": "dry run, nothing sent",
        "skipped": "skipped",
        "failed": "failed",
    },
    "approval": {
        "not_required": "not required",
        "pending": "pending",
        "approved": "approved",
        "rejected": "rejected",
        "expired": "expired, nobody decided",
        "escalated": "escalated to the second group",
    },
    # which quota a signal presses on (domain/kinds.py QuotaScope), as a revision names it
    "quota_scope": {
        "none": "none",
        "rpm": "requests per minute",
        "tpm": "tokens per minute",
        "tpd": "tokens per day",
        "both": "requests or tokens per minute",
    },
    # an incident's status (domain/lifecycle.py STAGES, and the two written only on a new record)
    "status": {
        "open": "open",
        "planned": "planned",
        "awaiting_approval": "awaiting approval",
        "failed": "failed",
        "acted": "acted on",
        "notified": "people notified",
        "rejected": "rejected by the approver",
        "approval_expired": "approval expired",
        "resolved": "resolved",
        "suppressed": "suppressed",
        "unclassifiable": "unclassifiable",
    },
    # Service Quotas' RequestStatus (botocore's service-quotas model, 2019-06-24)
    "quota_request_status": {
        "PENDING": "pending",
        "CASE_OPENED": "case opened, AWS is reviewing it",
        "APPROVED": "approved",
        "DENIED": "denied",
        "CASE_CLOSED": "case closed",
        "NOT_APPROVED": "not approved",
        "INVALID_REQUEST": "invalid request",
    },
    # why the alarm sync ran (domain/sync_state.py Reason)
    "sync_reason": {
        "schedule": "daily run",
        "registry_change": "registry change",
        "quota_increase": "quota increase",
        "reconcile": "full reconcile",
        "stack_update": "stack update",
        "stack_delete": "stack deletion",
        "manual": "run by hand",
    },
    # the usage figures of a plan's evidence (domain/decide.py usage_evidence)
    "evidence": {
        "steady_rpm": "steady RPM",
        "peak_rpm": "peak RPM",
        "steady_tpm": "steady TPM",
        "peak_tpm": "peak TPM",
        "avg_input_tokens": "average input tokens",
        "avg_output_tokens": "average output tokens",
        "p99_latency_ms": "p99 latency (ms)",
        "error_rate": "error rate",
        "throttle_rate": "throttle rate",
    },
    # the quota governor's reasons (domain/governor.py REASONS)
    "refusal": {
        "pending_request": "a request for this quota is pending",
        "cooldown": "too soon after the last request",
        "window_limit": "too many requests in the window",
        "window_ceiling": "our increases reached the window's ceiling",
        "at_ceiling": "the quota is at its ceiling",
        "no_evidence": "no usage evidence",
        "evidence_within_quota": "usage is within the quota",
    },
}


def label(kind: str, value: object) -> str:
    """The label of one value; an unknown value reads as its words ("quota_pressure" -> "Quota pressure")."""
    text = str(value)
    known = LABELS.get(kind, {}).get(text)
    return known if known is not None else text.replace("_", " ").capitalize()
