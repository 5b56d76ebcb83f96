"""The closed sets of values the incident records use: plain enums, no pydantic.

Kept apart from :mod:`opspilot.domain.model` (which re-exports them) so that code needing only a
value (the settings' environment, an approval's action type, a registry entry's environment) does
not build the incident's record classes at import: those cost about 9 ms of a cold start.
"""

from __future__ import annotations

from enum import StrEnum


class Category(StrEnum):
    FAILURE = "failure"
    QUOTA_PRESSURE = "quota_pressure"
    ANOMALY = "anomaly"
    TRAFFIC_DROP = "traffic_drop"  # requests or tokens below their threshold or band: investigate
    RECOVERY = "recovery"


class Severity(StrEnum):
    CRITICAL = "critical"
    WARNING = "warning"


class QuotaScope(StrEnum):
    """Which quota a signal says something about."""

    NONE = "none"
    RPM = "rpm"
    TPM = "tpm"
    TPD = "tpd"  # the daily token quota (an alarm on tokens summed over hours or a day)
    BOTH = "both"  # undetermined: throttles and client errors can come from any of the quotas


class Scenario(StrEnum):
    NON_QUOTA = "non_quota"
    NEW_MODEL = "new_model"
    HIGH_USAGE = "high_usage"
    LOW_USAGE = "low_usage"


class Environment(StrEnum):
    PRODUCTION = "production"
    PILOT = "pilot"
    EXPERIMENTATION = "experimentation"


class ActionType(StrEnum):
    REQUEST_QUOTA_INCREASE = "request_quota_increase"
    OPEN_SUPPORT_CASE = "open_support_case"


class ActionStatus(StrEnum):
    EXECUTED = "executed"
    SKIPPED = "skipped"
    DRY_RUN = "dry_run"
    FAILED = "failed"


class Disposition(StrEnum):
    """What the workflow does with a classified event (``RouteByCategory`` reads it)."""

    INCIDENT = "incident"  # open (or join) an incident and handle it
    SUPPRESSED = "suppressed"  # a mute rule or a suppressor alarm holds the actions: record, announce once
    PER_CONTRIBUTOR = (
        "per_contributor"  # a Metrics Insights alarm's own change: its contributors' events count
    )
    # what the intake made of the event (issue 12, domain/lifecycle.py, docs/architecture.md#intake)
    OPENED = "opened"  # a new incident
    JOINED = "joined"  # the model's open incident took the alarm; nothing it decided changes
    REVISED = "revised"  # joined, and the classification rose: evidence and plan are revised
    REOPENED = "reopened"  # the model's incident had resolved within the cooldown: reopened
    DUPLICATE = "duplicate"  # the same event again (at-least-once delivery)
    STALE = "stale"  # older than what we know of the alarm: recorded, changes nothing
    REFUSED = "refused"  # stamped far in the past or the future: refused with its reason
    RECOVERY = "recovery"  # an OK: goes to Recover
