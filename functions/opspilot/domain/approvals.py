"""Human approval, as pure functions.

- Link ids and the keys they are stored under: a link carries only a random id (192 bits); the
  table holds its SHA-256, so a leaked table item does not give a working link.
- One approval request per round (round 1: the approvers, round 2: the escalation group), shared
  by one link per approver. Deciding through any link decides the request for all of them.
- The anti-forgery token: an HMAC over the link's key with a random per-request key that never
  leaves the table. Only someone who opened the page through the link gets it.
- The snapshot an approver decides on (``ApprovalView``), built once when the approval is asked.
- The decision a POST carries, validated: approve or reject, an optional comment, and requested
  values that may be lowered but never raised above what the policy asked for.

No boto3, no clock, no randomness: ids, keys and times are parameters.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from pydantic import Field

from opspilot.domain.base import Record
from opspilot.domain.format import number
from opspilot.domain.kinds import ActionType
from opspilot.domain.labels import label

if TYPE_CHECKING:  # the approval API reads no incident record: it does not build their classes
    from opspilot.domain.model import PlannedAction

LINK_ID = re.compile(r"^[A-Za-z0-9_-]{32}$")
LINK_ID_BYTES = 24  # secrets.token_urlsafe(24): 32 characters, 192 random bits
FORM_KEY_BYTES = 32
ROUNDS = 2  # the approvers, then once the escalation group
MAX_BODY_BYTES = 4096
MAX_COMMENT_CHARS = 500
DEFAULT_APPROVER = "approver"  # the one link sent to the topic when no approver is configured
_TOKEN_CONTEXT = b"opspilot-approval-form:v1:"
_VALUE = re.compile(r"^[0-9]{1,15}(\.[0-9]{1,6})?$")
CASE_PREVIEW_CHARS = 600


# ---------------------------------------------------------------------------------------- ids


def link_key(link_id: str) -> str:
    """What the table stores for a link id: its SHA-256, hex."""
    return hashlib.sha256(link_id.encode()).hexdigest()


def request_ref(execution_id: str, round_: int) -> str:
    """The approval request of one round of one execution. Deterministic, so a retried
    RequestApproval finds its own request and round 2 finds round 1 to supersede it. Not secret:
    nothing can be decided by knowing it."""
    return hashlib.sha256(f"{execution_id}#round-{round_}".encode()).hexdigest()[:32]


def log_label(link_hash: str) -> str:
    """How a link appears in logs and audit entries: a prefix of its hash, never the id."""
    return link_hash[:12]


def form_token(form_key: str, link_hash: str) -> str:
    """The anti-forgery token of one link's form: HMAC-SHA256 keyed by the request's secret."""
    digest = hmac.new(_b64decode(form_key), _TOKEN_CONTEXT + link_hash.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def token_matches(form_key: str, link_hash: str, presented: str | None) -> bool:
    if not presented or len(presented) > 64:
        return False
    return hmac.compare_digest(form_token(form_key, link_hash), presented)


def encode_key(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text.encode())


# ------------------------------------------------------------------------------- who and when


def approver_group(round_: int, approvers: str, escalation_approvers: str) -> list[str]:
    """Round 1 asks ``approvers``; round 2 asks ``escalation_approvers`` (or, when none are
    configured, the same people again with new links). Empty means one link to the topic."""

    def split(text: str) -> list[str]:
        seen: list[str] = []
        for part in text.split(","):
            address = part.strip()
            if address and address.lower() not in (s.lower() for s in seen):
                seen.append(address)
        return seen

    group = split(escalation_approvers) if round_ > 1 else []
    return group or split(approvers) or [DEFAULT_APPROVER]


def parse_time(text: str) -> datetime:
    """ISO-8601 as Step Functions (``...284Z``) or the offline interpreter (``+00:00``) write it."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def deadline(entered_at: str | None, now: datetime, timeout_seconds: int) -> datetime:
    """When the waiting task times out: from the moment Step Functions entered the state, so the
    link stops working no later than the workflow stops waiting."""
    start = now
    if entered_at:
        try:
            start = min(parse_time(entered_at), now)
        except ValueError:
            start = now
    return start + timedelta(seconds=timeout_seconds)


# --------------------------------------------------------------------------------- snapshot


class QuotaChange(Record):
    action_id: str
    quota_code: str
    quota_name: str
    kind: str | None
    current: float | None
    requested: float  # the policy's value: the most an approver may approve
    reason: str


class CaseChange(Record):
    action_id: str
    subject: str
    severity: str
    body_preview: str
    body_chars: int


class UsageChart(Record):
    kind: str  # rpm | tpm
    unit: str
    daily_peaks: list[float]
    quota: float | None = None
    threshold: float | None = None
    requested: float | None = None


class ApprovalView(Record):
    """Everything the confirm page and the messages show, frozen when the approval is asked."""

    incident_id: str
    model_id: str
    region: str
    category: str
    severity: str
    alarm_name: str
    scenario: str
    rule: str
    summary: str
    quota_changes: list[QuotaChange] = Field(default_factory=list)
    cases: list[CaseChange] = Field(default_factory=list)
    evidence: list[tuple[str, str]] = Field(default_factory=list)
    forecast: list[str] = Field(default_factory=list)
    charts: list[UsageChart] = Field(default_factory=list)
    usage_end: str  # the day the last daily peak belongs to, YYYY-MM-DD


_UNITS = {"rpm": "requests per minute", "tpm": "tokens per minute", "tpd": "tokens per day"}


def _number(value: Any) -> str:
    return number(float(value))


def _evidence_rows(evidence: Mapping[str, Any], usage: Mapping[str, Any]) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    if "threshold_percent" in evidence:
        rows.append(("High usage threshold", f"{_number(evidence['threshold_percent'])}% of the quota"))
    for kind in ("rpm", "tpm"):
        short = kind.upper()
        for key, text in (
            (f"peak_{kind}", f"Peak {short}, 14 days"),
            (f"{kind}_threshold", f"{short} threshold"),
        ):
            if evidence.get(key) is not None:
                rows.append((text, _number(evidence[key])))
        if evidence.get(f"{kind}_quota") is not None:
            rows.append((f"{short} quota", _number(evidence[f"{kind}_quota"])))
        if usage.get(f"steady_{kind}") is not None:
            rows.append((f"Steady {short}", _number(usage[f"steady_{kind}"])))
    for key, text in (
        ("tokens_today", "Tokens today (UTC, so far)"),
        ("tpd_threshold", "Daily token threshold"),
        ("tpd_quota", "Daily token quota"),
        ("days_near_tpd", "Days at the daily threshold, 14 days"),
    ):
        if evidence.get(key) is not None:
            rows.append((text, _number(evidence[key])))
    for gap in evidence.get("quota_gaps") or []:
        problem = str(gap.get("problem", "")).replace("_", " ")
        rows.append(
            (f"{str(gap.get('kind')).upper()} quota {problem}", f"{gap.get('reason')}. Fix: {gap.get('fix')}")
        )
    for key, text in (
        ("throttles", "Throttled requests, 14 days"),
        ("server_errors", "Server errors, 14 days"),
    ):
        if usage.get(key) is not None:
            rows.append((text, _number(usage[key])))
    if evidence.get("support_plan"):
        rows.append(("Support plan", label("support_plan", evidence["support_plan"])))
    if evidence.get("why"):
        rows.append(("Note", str(evidence["why"])))
    return rows


def _threshold(evidence: Mapping[str, Any], kind: str, quota: float | None) -> float | None:
    if evidence.get(f"{kind}_threshold") is not None:
        return float(evidence[f"{kind}_threshold"])
    percent = evidence.get("threshold_percent")
    if quota is None or percent is None:
        return None
    return float(math.floor(quota * float(percent) / 100))


def build_view(
    incident: Mapping[str, Any], plan: Mapping[str, Any], context: Mapping[str, Any], at: datetime
) -> ApprovalView:
    """The snapshot of one approval, from the workflow state RequestApproval receives."""
    usage: Mapping[str, Any] = context.get("usage") or {}
    quotas = {q["quota_code"]: q for q in (context.get("quotas") or {}).get("quotas", [])}
    by_kind = {q["kind"]: q for q in quotas.values()}
    evidence: Mapping[str, Any] = plan.get("evidence") or {}
    changes: list[QuotaChange] = []
    cases: list[CaseChange] = []
    for action in plan.get("actions", []):
        params = action.get("params", {})
        if action.get("type") == ActionType.REQUEST_QUOTA_INCREASE.value:
            quota = quotas.get(params.get("QuotaCode"), {})
            changes.append(
                QuotaChange(
                    action_id=action["action_id"],
                    quota_code=str(params.get("QuotaCode")),
                    quota_name=str(quota.get("quota_name") or "unknown quota"),
                    kind=quota.get("kind"),
                    current=float(quota["value"]) if quota.get("value") is not None else None,
                    requested=float(params["DesiredValue"]),
                    reason=str(action.get("reason", "")),
                )
            )
        elif action.get("type") == ActionType.OPEN_SUPPORT_CASE.value:
            body = str(params.get("communicationBody", ""))
            cases.append(
                CaseChange(
                    action_id=action["action_id"],
                    subject=str(params.get("subject", "")),
                    severity=str(params.get("severityCode", "")),
                    body_preview=body[:CASE_PREVIEW_CHARS],
                    body_chars=len(body),
                )
            )
    kinds = [c.kind for c in changes if c.kind] or ["rpm", "tpm"]
    charts: list[UsageChart] = []
    for kind in dict.fromkeys(kinds):
        peaks = [float(v) for v in usage.get(f"daily_peak_{kind}") or []]
        if not peaks:
            continue
        quota_value = by_kind.get(kind, {}).get("value")
        quota_float = float(quota_value) if quota_value is not None else None
        requested = next((c.requested for c in changes if c.kind == kind), None)
        charts.append(
            UsageChart(
                kind=kind,
                unit=_UNITS[kind],
                daily_peaks=peaks,
                quota=quota_float,
                threshold=_threshold(evidence, kind, quota_float),
                requested=requested,
            )
        )
    return ApprovalView(
        incident_id=str(incident.get("incident_id")),
        model_id=str(incident.get("model_id")),
        region=str(incident.get("region")),
        category=str(incident.get("category")),
        severity=str(incident.get("severity", "warning")),
        alarm_name=str(incident.get("alarm_name", "")),
        scenario=str(plan.get("scenario")),
        rule=str(plan.get("rule")),
        summary=str(plan.get("summary", "")),
        quota_changes=changes,
        cases=cases,
        evidence=_evidence_rows(evidence, usage),
        forecast=[f"{k.upper()}: {v}" for k, v in (evidence.get("forecast") or {}).items()],
        charts=charts,
        usage_end=at.astimezone(UTC).date().isoformat(),
    )


# ------------------------------------------------------------------------------ link states


class LinkState(StrEnum):
    PENDING = "pending"
    DECIDED = "decided"
    EXPIRED = "expired"
    SUPERSEDED = "superseded"  # escalated: the next group got new links
    MOVED_ON = "moved_on"  # decided, but the workflow had stopped waiting (timed out, stopped)


def state_of(request: Mapping[str, Any], now_iso: str) -> LinkState:
    status = request.get("status")
    if status == "DECIDED":
        return LinkState.DECIDED
    if status == "SUPERSEDED":
        return LinkState.SUPERSEDED
    if status == "MOVED_ON":
        return LinkState.MOVED_ON
    if str(request.get("expires_at", "")) <= now_iso:
        return LinkState.EXPIRED
    return LinkState.PENDING


# ------------------------------------------------------------------------------- the request


class Refusal(Exception):
    """A request that is refused, with the page that says why. Nothing was changed."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(f"{status} {title}")
        self.status = status
        self.title = title
        self.message = message


def headers_of(event: Mapping[str, Any]) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}


def check_same_origin(headers: Mapping[str, str]) -> None:
    """A browser says where a form post comes from; refuse posts made by another site's page."""
    if headers.get("sec-fetch-site", "same-origin") not in {"same-origin", "none"}:
        raise Refusal(403, "Refused", "This form can only be sent from its own page.")
    origin = headers.get("origin")
    if origin is None:
        return
    host = headers.get("host", "")
    if origin == "null" or urlsplit(origin).netloc.lower() != host.lower():
        raise Refusal(403, "Refused", "This form can only be sent from its own page.")


def read_form(body: str | None, is_base64: bool, content_type: str) -> dict[str, list[str]]:
    """The fields of a small ``application/x-www-form-urlencoded`` body."""
    if content_type.split(";", 1)[0].strip().lower() != "application/x-www-form-urlencoded":
        raise Refusal(415, "Unsupported form", "Send the decision with the page's buttons.")
    if len(body or "") > MAX_BODY_BYTES * 4 // 3 + 4:
        raise Refusal(413, "Form too large", "The form is larger than a decision can be.")
    if is_base64:
        try:
            raw = base64.b64decode(body or "", validate=True)
        except (binascii.Error, ValueError) as exc:
            raise Refusal(400, "Bad request", "The form could not be read.") from exc
    else:
        raw = (body or "").encode("utf-8", "surrogateescape")
    if len(raw) > MAX_BODY_BYTES:
        raise Refusal(413, "Form too large", "The form is larger than a decision can be.")
    try:
        text = raw.decode("utf-8")
        return parse_qs(text, keep_blank_values=True, strict_parsing=bool(text), max_num_fields=20)
    except (UnicodeDecodeError, ValueError) as exc:
        raise Refusal(400, "Bad request", "The form could not be read.") from exc


@dataclass(frozen=True)
class Decision:
    decision: str  # approve | reject
    comment: str
    values: dict[str, float] = field(default_factory=dict)  # action id -> approved lower value

    @property
    def status(self) -> str:
        return "approved" if self.decision == "approve" else "rejected"


def value_field(change: QuotaChange) -> str:
    """The form field that carries an approver's (lower) value for a quota change."""
    return f"desired.{change.quota_code}"


def _one(form: Mapping[str, list[str]], name: str) -> str | None:
    values = form.get(name)
    if values is None:
        return None
    if len(values) != 1:
        raise Refusal(400, "Bad request", f"Field '{name}' must be sent once.")
    return values[0]


def parse_decision(form: Mapping[str, list[str]], view: ApprovalView) -> Decision:
    """Validate a decision form against the approval it decides (the token is checked first)."""
    fields = {value_field(c): c for c in view.quota_changes}
    unknown = sorted(set(form) - {"token", "decision", "comment", *fields})
    if unknown:
        raise Refusal(400, "Bad request", f"Unexpected field '{unknown[0][:40]}'.")
    decision = _one(form, "decision")
    if decision not in {"approve", "reject"}:
        raise Refusal(400, "Bad request", "The decision must be 'approve' or 'reject'.")
    comment = (_one(form, "comment") or "").strip()
    if len(comment) > MAX_COMMENT_CHARS:
        raise Refusal(400, "Bad request", f"The comment is longer than {MAX_COMMENT_CHARS} characters.")
    if any(ord(ch) < 32 and ch not in "\r\n\t" for ch in comment):
        raise Refusal(400, "Bad request", "The comment contains control characters.")
    values: dict[str, float] = {}
    if decision == "approve":
        for name, change in fields.items():
            text = (_one(form, name) or "").strip().replace(",", "")
            if not text:
                continue
            if not _VALUE.match(text):
                raise Refusal(400, "Bad request", f"{change.quota_code}: '{text[:20]}' is not a number.")
            value = float(text)
            if value > change.requested:
                raise Refusal(
                    400,
                    "Value above the policy",
                    f"{change.quota_code}: {_number(value)} is above {_number(change.requested)}, the "
                    "value the policy asked for. An approval may lower a value, never raise it.",
                )
            if change.current is not None and value <= change.current:
                raise Refusal(
                    400,
                    "Value not an increase",
                    f"{change.quota_code}: {_number(value)} is not above the current value "
                    f"{_number(change.current)}. Reject instead if no increase is wanted.",
                )
            if value < change.requested:
                values[change.action_id] = value
    return Decision(decision=decision, comment=comment, values=values)


def workflow_output(decision: Decision, by: str, at: str, round_: int) -> dict[str, Any]:
    """What the waiting task receives: SendTaskSuccess output, or SendTaskFailure cause."""
    out: dict[str, Any] = {
        "status": decision.status,
        "by": by,
        "at": at,
        "comment": decision.comment,
        "round": round_,
    }
    if decision.decision == "approve":
        out["overrides"] = {aid: {"DesiredValue": v} for aid, v in sorted(decision.values.items())}
    return out


# ------------------------------------------------------------------------- after the decision


def apply_approved_value(
    action: PlannedAction, approval: Mapping[str, Any] | None
) -> tuple[PlannedAction, float | None]:
    """The action as approved: an approver's lower DesiredValue replaces the planned one.

    Returns the action to run and the planned value it replaced (None when unchanged). A value
    above the planned one, or anything that is not a positive number, is ignored: an approval can
    only ever lower a request.
    """
    if not approval or approval.get("status") != "approved":
        return action, None
    if action.type is not ActionType.REQUEST_QUOTA_INCREASE:
        return action, None
    override = (approval.get("overrides") or {}).get(action.action_id) or {}
    value = override.get("DesiredValue")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return action, None
    planned = float(action.params["DesiredValue"])
    if not math.isfinite(value) or value <= 0 or value >= planned:
        return action, None
    lowered = action.replace(params={**action.params, "DesiredValue": float(value)})
    return lowered, planned
