"""What the alarm sync keeps between runs: per model, what it applied to each alarm (the registry
table's ``STATE#`` items), and one change record per alarm it changed.

Records only, apart from :mod:`opspilot.domain.threshold_sync` (the plan), so that reading the
registry (DecideFunction, GatherQuotasFunction) does not import the whole sync.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from opspilot.domain.base import Record

Reason = Literal[
    "schedule", "registry_change", "quota_increase", "reconcile", "stack_update", "stack_delete", "manual"
]
Action = Literal["create", "threshold", "update", "retag", "delete"]


class AlarmRecord(Record):
    """What the last sync applied to one alarm."""

    kind: str
    threshold: float | None = None
    quota_code: str | None = None
    quota_value: float | None = None
    percent: float | None = None


class ModelState(Record):
    """What the last sync applied to one model (the registry table's ``STATE#`` item)."""

    model_id: str
    pool: str
    entry_version: int
    tags: dict[str, str] = Field(default_factory=dict)
    alarms: dict[str, AlarmRecord] = Field(default_factory=dict)
    fingerprint: str = ""  # of the definitions last reconciled; "" forces the next run to reconcile
    synced_at: str


class ChangeRecord(Record):
    """One change to one alarm: old -> new, the quota it rests on, when and why."""

    model_id: str
    alarm_name: str
    kind: str
    action: Action
    old_threshold: float | None = None
    new_threshold: float | None = None
    quota_code: str | None = None
    quota_value: float | None = None
    percent: float | None = None
    fields: list[str] = Field(default_factory=list)
    at: str
    reason: Reason
    run_id: str
