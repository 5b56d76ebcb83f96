"""What OpsPilot's own metrics say, decided purely (the handlers write them, docs/operations.md).

- an action's outcome, one of a small fixed set (a dimension: its values are the metric's series);
- each registered model's quotas as the alarm sync resolves them, per CloudWatch ``ModelId``, so a
  dashboard line of the quota sits next to the model's ``AWS/Bedrock`` usage line of the same name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from opspilot.domain.kinds import ActionStatus

if TYPE_CHECKING:  # ExecuteAction reads only action_outcome: it does not import the alarm models
    from opspilot.domain.model_alarms import QuotaSnapshot
    from opspilot.domain.registry import ModelEntry

# The values of the ``outcome`` dimension of the ``Actions`` metric, and nothing else.
ACTION_OUTCOMES = ("filed", "dry_run", "skipped", "refused", "failed")

# The ``ModelQuota*`` metrics: one per quota kind, in the quota's own unit (per minute, per day).
QUOTA_METRICS = {"rpm": "ModelQuotaRPM", "tpm": "ModelQuotaTPM", "tpd": "ModelQuotaTPD"}


def action_outcome(record: Mapping[str, Any]) -> str:
    """An action's record (an ``ActionResult`` as JSON) as one of :data:`ACTION_OUTCOMES`:
    ``filed`` (the request or case went to AWS), ``dry_run``, ``refused`` (the quota governor
    refused it), ``skipped`` (nothing to do: a pending request, a quota not adjustable ...) or
    ``failed`` (AWS refused it or it could not be sent)."""
    status = str(record.get("status", ""))
    reason = str((record.get("result") or {}).get("reason", ""))
    if status == ActionStatus.EXECUTED:
        return "filed"
    if status == ActionStatus.DRY_RUN:
        return "dry_run"
    if status == ActionStatus.SKIPPED:
        return "refused" if reason.startswith("governor_") else "skipped"
    return "failed"


def quota_gauges(entries: Iterable[ModelEntry], quotas: QuotaSnapshot) -> dict[str, dict[str, float]]:
    """Per registered model (its ``AWS/Bedrock`` ``ModelId`` value), the value of each quota the
    sync sizes its pressure alarms from: ``{"ModelQuotaTPM": 800000.0, ...}``. A quota the sync
    cannot resolve for the model is left out, as it has no pressure alarm."""
    from opspilot.domain.model_alarms import quota_code_for
    from opspilot.domain.quotas import metric_model_id

    gauges: dict[str, dict[str, float]] = {}
    for entry in entries:
        values = {}
        for kind, metric in QUOTA_METRICS.items():
            code = quota_code_for(entry, kind, quotas)
            value = quotas.limit(code, entry.pool) if code else None
            if value is not None:
                values[metric] = float(value)
        if values:
            gauges[metric_model_id(entry.model_id)] = values
    return gauges
