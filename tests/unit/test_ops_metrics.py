"""OpsPilot's own metrics, decided purely: an action's outcome and each model's quota values."""

from __future__ import annotations

from typing import Any

import pytest

from opspilot.domain.governor import REASONS
from opspilot.domain.model_alarms import QuotaSnapshot
from opspilot.domain.ops_metrics import ACTION_OUTCOMES, QUOTA_METRICS, action_outcome, quota_gauges
from opspilot.domain.registry import validate_entry

CLAUDE = "us.anthropic.claude-3-7-sonnet-20250219-v1:0"
# Names and codes as ListServiceQuotas gives them (../shared/aws-reference/bedrock-quotas.json).
QUOTAS = QuotaSnapshot(
    {
        "L-3D8CC480": (
            "Cross-region model inference requests per minute for Anthropic Claude 3.7 Sonnet V1",
            500,
        ),
        "L-6E888CC2": (
            "Cross-region model inference tokens per minute for Anthropic Claude 3.7 Sonnet V1",
            1e6,
        ),
        "L-9EB71894": (
            "Model invocation max tokens per day for Anthropic Claude 3.7 Sonnet V1"
            " (doubled for cross-region calls)",
            1_440_000_000,
        ),
    }
)


def entry(model_id: str) -> Any:
    return validate_entry(
        {"model_id": model_id, "display_name": "m", "environment": "production", "owner": "team"}
    )


@pytest.mark.parametrize(
    ("status", "reason", "outcome"),
    [
        ("executed", None, "filed"),
        ("dry_run", None, "dry_run"),
        ("skipped", "pending_request_exists", "skipped"),
        ("skipped", "not_adjustable", "skipped"),
        ("skipped", "governor_at_ceiling", "refused"),
        *[("skipped", f"governor_{reason}", "refused") for reason in REASONS],
        ("failed", "case_creation_limit", "failed"),
        ("failed", None, "failed"),
    ],
)
def test_an_action_outcome_is_one_of_a_few_values(status: str, reason: str | None, outcome: str) -> None:
    result = {"summary": "s", **({"reason": reason} if reason else {})}
    record = {"type": "request_quota_increase", "status": status, "result": result}
    assert action_outcome(record) == outcome
    assert outcome in ACTION_OUTCOMES


def test_each_registered_model_has_its_quota_values_by_its_cloudwatch_model_id() -> None:
    """The daily quota is doubled for a cross-Region profile, as its name says and as the
    pressure alarm's threshold is sized; a model whose quotas are not listed has no values."""
    gauges = quota_gauges([entry(CLAUDE), entry("amazon.nova-pro-v1:0")], QUOTAS)
    assert gauges == {
        CLAUDE: {"ModelQuotaRPM": 500.0, "ModelQuotaTPM": 1_000_000.0, "ModelQuotaTPD": 2_880_000_000.0}
    }
    assert set(QUOTA_METRICS.values()) == set(gauges[CLAUDE])
