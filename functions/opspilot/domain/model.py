"""The incident vocabulary shared by every stage of the workflow.

Pure data: no boto3, no Powertools. The closed sets of values (categories, severities, scopes,
environments, action types and statuses, dispositions) live in :mod:`opspilot.domain.kinds` and are
re-exported here. Every object here crosses a Lambda boundary as JSON, so each
is a frozen :class:`~opspilot.domain.base.Record`: ``Cls.parse(raw)`` reads it and names the bad
field, ``to_json()`` is its wire form.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from opspilot.domain.base import Record
from opspilot.domain.kinds import (
    ActionStatus,
    ActionType,
    Category,
    Disposition,
    Environment,
    QuotaScope,
    Scenario,
    Severity,
)

__all__ = [
    "ActionResult",
    "ActionStatus",
    "ActionType",
    "Category",
    "Disposition",
    "Environment",
    "Incident",
    "MetricRef",
    "Outcome",
    "PendingRequest",
    "Plan",
    "PlannedAction",
    "QuotaContext",
    "QuotaGap",
    "QuotaInfo",
    "QuotaScope",
    "Recommendation",
    "Scenario",
    "Severity",
    "Signal",
    "SupportCase",
    "SupportContext",
    "Suppression",
    "UsageSummary",
]


class MetricRef(Record):
    """What an alarm watches, read from its own configuration (never from its name)."""

    namespace: str
    name: str
    dimensions: dict[str, str] = Field(default_factory=dict)
    stat: str
    period: int
    anomaly_band: bool = False
    expression: str | None = None  # metric math over several series of this metric (e.g. SUM)
    inputs: int = 1  # how many series the alarm evaluates


class Signal(Record):
    """One alarm, classified."""

    alarm_name: str
    state: str
    metric: MetricRef
    category: Category
    severity: Severity
    quota_scope: QuotaScope
    reason: str
    # The alarm's own figures, normalised to per minute (a 5-minute Sum divided by 5), so they can
    # be compared with a per-minute quota. None when the event carries no datapoints.
    observed_per_minute: float | None = None
    threshold_per_minute: float | None = None


class Suppression(Record):
    """Why an alarm's actions are held back (events.py: ``muteDetail``, ``actionsSuppressedBy``)."""

    kind: str  # "mute_rule" or "suppressor_alarm"
    by: str  # the mute rule's name, or the suppressor alarm's name
    reason: str  # for people: "muted by alarm mute rule testMute (2026-01-01T10:00 to ...)"
    arn: str | None = None  # the mute rule's ARN
    window_start: str | None = None  # the mute window, as the event gives it
    window_end: str | None = None
    suppressed_by: str | None = None  # WaitPeriod, ExtensionPeriod or Alarm


class Incident(Record):
    """What the Classify step hands to the rest of the workflow."""

    incident_id: str
    model_id: str
    region: str
    account: str
    environment: Environment
    category: Category
    severity: Severity
    quota_scope: QuotaScope
    alarm_name: str  # the alarm whose state change started this execution
    signals: list[Signal]  # every alarm of this model in ALARM, the triggering one first
    categories: list[Category] = Field(default_factory=list)  # every category present, primary first
    owner: str | None = None  # owner / business process, from the alarm's tags
    opened_notice: Outcome | None = None  # the "opened" notification, for a new incident only
    opened_at: str
    attached: bool = False  # True when this event joined an incident another execution owns
    disposition: Disposition = Disposition.INCIDENT
    suppression: Suppression | None = None  # set when disposition is "suppressed"
    rose: dict[str, Any] = Field(default_factory=dict)  # revised: what rose, e.g. {"severity": [...]}
    # revised or reopened: the action ids this incident already planned or acted on; the revised
    # plan leaves them out, so approval is asked again only for what changed
    known_actions: list[str] = Field(default_factory=list)
    # ... and what each asked for (domain/lifecycle.py, ``decisive``): an action planned again
    # with other parameters is a change, asked again under a new version of its id
    known_params: dict[str, dict[str, Any]] = Field(default_factory=dict)


class UsageSummary(Record):
    """14 days of per-minute usage, reduced to what decisions need. ``None`` means unknown."""

    model_id: str
    days: int
    datapoints: int
    steady_rpm: float | None
    peak_rpm: float | None
    steady_tpm: float | None
    peak_tpm: float | None
    tpm_source: str | None  # "EstimatedTPMQuotaUsage" or "InputTokenCount+OutputTokenCount"
    avg_input_tokens: float | None
    avg_output_tokens: float | None
    throttles: float | None
    server_errors: float | None
    client_errors: float | None
    p99_latency_ms: float | None = None
    error_rate: float | None = None  # server errors per invocation
    throttle_rate: float | None = None  # throttles per attempted invocation
    peak_generated_tpm: float | None = None  # input+output tokens, when TPM comes from the estimate
    daily_peak_rpm: list[float] = Field(default_factory=list)
    daily_peak_tpm: list[float] = Field(default_factory=list)
    daily_invocations: list[float] = Field(default_factory=list)
    daily_tokens_per_request: list[float | None] = Field(default_factory=list)
    missing: list[str] = Field(default_factory=list)
    unknown_reason: str | None = None  # set when usage could not be read at all (e.g. denied)
    # Tokens counted against quotas (the TPM series summed) per UTC day, whole days oldest first,
    # and the current UTC day so far, up to ``as_of``: the daily token quota's evidence.
    daily_token_totals: list[float] = Field(default_factory=list)
    tokens_today: float | None = None
    as_of: str | None = None

    @property
    def daily_peak_tpd(self) -> list[float]:
        """The daily token quota's history: tokens per UTC day (what the governor trends)."""
        return list(self.daily_token_totals)


class QuotaInfo(Record):
    kind: str  # "rpm", "tpm" or "tpd"
    quota_code: str
    quota_name: str
    value: float
    default_value: float | None = None
    adjustable: bool
    inference_type: str = "on_demand"  # on_demand | cross_region | global
    scope: str = "model"  # "model", or "account" for Cross-Model Max Tokens Per Day
    # "Model invocation max tokens per day for X (doubled for cross-region calls)": a cross-Region
    # profile's daily allowance is twice the listed value
    doubled_for_cross_region: bool = False

    @property
    def limit(self) -> float:
        """The figure usage is compared with: the value, doubled where the name says so."""
        doubled = self.doubled_for_cross_region and self.inference_type == "cross_region"
        return self.value * 2 if doubled else self.value


class QuotaGap(Record):
    """A quota kind that did not resolve: not found, ambiguous, or listed without a value."""

    kind: str
    problem: str  # "not_found" | "ambiguous" | "no_value"
    reason: str
    fix: str
    candidates: list[str] = Field(default_factory=list)  # "L-... name" for an ambiguity


class PendingRequest(Record):
    request_id: str
    quota_code: str
    desired_value: float
    status: str
    case_id: str | None = None
    created: str | None = None
    last_updated: str | None = None
    previous_value: float | None = None  # the quota's value when OpsPilot filed it (our ledger)


class QuotaContext(Record):
    quotas: list[QuotaInfo] = Field(default_factory=list)
    pending_requests: list[PendingRequest] = Field(default_factory=list)
    # every request of any status for these quotas in Service Quotas' history (the governor's)
    history: list[PendingRequest] = Field(default_factory=list)
    unknown_reason: str | None = None  # set when quotas could not be read (denied, throttled)
    gaps: list[QuotaGap] = Field(default_factory=list)  # kinds not found, ambiguous, without a value
    quota_model_id: str | None = None  # the id whose quotas apply (an application profile's routing)
    # The model's cross-Region tokens-per-minute quota: where the Bedrock user guide asks for
    # increases to be filed (bedrock-quotas-notes.json, "increase-requests"), whatever the
    # inference type under pressure.
    request_quota: QuotaInfo | None = None

    def model_quota(self, kind: str) -> QuotaInfo | None:
        return next((q for q in self.quotas if q.kind == kind and q.scope == "model"), None)

    def account_quota(self) -> QuotaInfo | None:
        return next((q for q in self.quotas if q.scope == "account"), None)


class SupportCase(Record):
    case_id: str
    display_id: str | None = None
    subject: str
    status: str


class SupportContext(Record):
    plan: str  # "business_or_enterprise" or "basic"
    open_cases: list[SupportCase] = Field(default_factory=list)


class PlannedAction(Record):
    action_id: str
    type: ActionType
    reason: str
    params: dict[str, Any]


class Recommendation(Record):
    """Advice for people, with the numbers it rests on. Never acted on automatically."""

    code: str
    text: str
    evidence: dict[str, Any] = Field(default_factory=dict)


class Plan(Record):
    scenario: Scenario | None
    rule: str  # the policy rule that decided; "a + b" when a mix of signals needed two
    approval_required: bool
    approval_timeout_seconds: int
    actions: list[PlannedAction]
    summary: str
    evidence: dict[str, Any] = Field(default_factory=dict)
    recommendations: list[Recommendation] = Field(default_factory=list)
    # quota requests the governor refused: quota_code, kind, reason, text (domain/governor.py)
    refusals: list[dict[str, Any]] = Field(default_factory=list)


class ActionResult(Record):
    action_id: str
    type: ActionType
    status: ActionStatus
    params: dict[str, Any]
    result: dict[str, Any]


class Outcome(Record):
    """What a notification step publishes."""

    incident_id: str
    severity: Severity
    subject: str
    message: str
    notify: bool = True
