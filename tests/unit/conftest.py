"""Shared helpers for the pure-domain tests: the event fixtures under ``events/`` and small factories.

The factories are pytest fixtures that return a builder, so tests never import this module. Every
builder produces a valid domain object with realistic defaults (Claude 3.7 Sonnet through the US
cross-region profile, RPM quota 250 and TPM quota 2,000,000); a test overrides only what it is about.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from opspilot.domain.approvals import ApprovalView, QuotaChange, UsageChart
from opspilot.domain.model import (
    Category,
    Environment,
    Incident,
    MetricRef,
    QuotaContext,
    QuotaInfo,
    QuotaScope,
    Severity,
    Signal,
    UsageSummary,
)

EVENTS_DIR = Path(__file__).parents[2] / "events"

MODEL_ID = "us.anthropic.claude-3-7-sonnet-20250219-v1:0"
RPM_CODE = "L-3D8CC480"
TPM_CODE = "L-6E888CC2"
QUOTA_NAME = "Cross-region model inference {} per minute for Anthropic Claude 3.7 Sonnet V1"


@cache
def _read_event(name: str) -> str:
    return (EVENTS_DIR / name).read_text()


@pytest.fixture
def load_event() -> Callable[[str], dict[str, Any]]:
    """``load_event("alarm-throttles.json")``: a fresh (mutable) copy of a fixture under events/."""

    def load(name: str) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(_read_event(name))
        return copy.deepcopy(document)

    return load


def _signal(
    alarm_name: str,
    category: Category,
    severity: Severity,
    scope: QuotaScope,
    *,
    metric: str = "InvocationThrottles",
    model_id: str = MODEL_ID,
    period: int = 60,
    **overrides: Any,
) -> Signal:
    fields: dict[str, Any] = {
        "alarm_name": alarm_name,
        "state": "ALARM",
        "metric": MetricRef(
            namespace="AWS/Bedrock", name=metric, dimensions={"ModelId": model_id}, stat="Sum", period=period
        ),
        "category": category,
        "severity": severity,
        "quota_scope": scope,
        "reason": "Threshold Crossed: 3 out of the last 3 datapoints were greater than the threshold (0.0)",
    }
    return Signal(**(fields | overrides))


@pytest.fixture
def make_signal() -> Callable[..., Signal]:
    """An AWS/Bedrock Sum alarm's signal in ALARM: ``make_signal(name, category, severity, scope,
    metric=..., model_id=..., period=..., any Signal field=...)``."""
    return _signal


@pytest.fixture
def make_incident() -> Callable[..., Incident]:
    """An incident from a throttles alarm; override any field by keyword."""

    def make(**overrides: Any) -> Incident:
        fields: dict[str, Any] = {
            "incident_id": "inc-0123456789abcdef",
            "model_id": MODEL_ID,
            "region": "us-east-1",
            "account": "123456789012",
            "environment": Environment.PRODUCTION,
            "category": Category.QUOTA_PRESSURE,
            "severity": Severity.CRITICAL,
            "quota_scope": QuotaScope.BOTH,
            "alarm_name": "opspilot-claude-3-7-sonnet-invocation-throttles",
            "opened_at": "2026-11-30T10:00:21.435+0000",
        }
        fields.update(overrides)
        fields.setdefault(
            "signals",
            [_signal(fields["alarm_name"], fields["category"], fields["severity"], fields["quota_scope"])],
        )
        return Incident(**fields)

    return make


@pytest.fixture
def make_usage() -> Callable[..., UsageSummary]:
    """14 days of usage well below the default quotas (RPM 250, TPM 2,000,000); override by keyword."""

    def make(**overrides: Any) -> UsageSummary:
        fields: dict[str, Any] = {
            "model_id": MODEL_ID,
            "days": 14,
            "datapoints": 14 * 24 * 60,
            "steady_rpm": 40.0,
            "peak_rpm": 100.0,
            "steady_tpm": 200_000.0,
            "peak_tpm": 500_000.0,
            "tpm_source": "EstimatedTPMQuotaUsage",
            "avg_input_tokens": 4200.0,
            "avg_output_tokens": 650.0,
            "throttles": 0.0,
            "server_errors": 3.0,
            "client_errors": 12.0,
        }
        fields.update(overrides)
        return UsageSummary(**fields)

    return make


@pytest.fixture
def make_quotas() -> Callable[..., QuotaContext]:
    """The model's quotas: ``make_quotas(rpm=250, tpm=2_000_000)``; pass ``None`` to leave one out."""

    def make(
        rpm: float | None = 250,
        tpm: float | None = 2_000_000,
        unknown_reason: str | None = None,
    ) -> QuotaContext:
        quotas = [
            QuotaInfo(
                kind=kind, quota_code=code, quota_name=QUOTA_NAME.format(unit), value=value, adjustable=True
            )
            for kind, code, unit, value in (
                ("rpm", RPM_CODE, "requests", rpm),
                ("tpm", TPM_CODE, "tokens", tpm),
            )
            if value is not None
        ]
        return QuotaContext(quotas=quotas, unknown_reason=unknown_reason)

    return make


@pytest.fixture
def make_approval_view() -> Callable[..., ApprovalView]:
    """What an approver is asked: the RPM quota raised from 500 to 750, with 14 daily peaks growing
    from 300 to 560 up to 2026-11-30 against a threshold of 400; override any field by keyword."""

    def make(**overrides: Any) -> ApprovalView:
        fields: dict[str, Any] = {
            "incident_id": "inc-fd9ebc8569e4e65b",
            "model_id": MODEL_ID,
            "region": "us-east-1",
            "category": "quota_pressure",
            "severity": "critical",
            "alarm_name": "opspilot-claude37-throttles",
            "scenario": "high_usage",
            "rule": "pilot-approve-every-change",
            "summary": "Pilot: every change needs approval.",
            "quota_changes": [
                QuotaChange(
                    action_id=f"request_quota_increase:{RPM_CODE}",
                    quota_code=RPM_CODE,
                    quota_name=QUOTA_NAME.format("requests"),
                    kind="rpm",
                    current=500,
                    requested=750,
                    reason="RPM quota 500 -> 750 (+50%).",
                )
            ],
            "evidence": [("Peak RPM, 14 days", "560"), ("RPM threshold", "400")],
            "forecast": ["RPM: quota reached in 10.8 days at the current trend"],
            "charts": [
                UsageChart(
                    kind="rpm",
                    unit="requests per minute",
                    daily_peaks=[300.0, 320, 340, 360, 380, 400, 420, 440, 460, 480, 500, 520, 540, 560],
                    quota=500,
                    threshold=400,
                    requested=750,
                )
            ],
            "usage_end": "2026-11-30",
        }
        fields.update(overrides)
        return ApprovalView(**fields)

    return make
