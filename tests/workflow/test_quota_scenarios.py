"""Issue 10 end to end: quotas AWS names, resolved by name in the simulated world of the shared
catalog: a daily-token throttle, an application profile read on its id, a model with no quota."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Report = Callable[[str], dict[str, Any]]


def test_a_daily_token_throttle_is_classified_evidenced_and_filed_where_aws_decides(
    scenario_report: Report,
) -> None:
    report = scenario_report("daily-token-throttle")
    (incident,) = report["incidents"]
    assert incident["triggering_alarms"][0]["quota_scope"] == "tpd"
    evidence = incident["evidence"]
    assert evidence["tpd_quota"] == 10_000_000 and evidence["tpd_threshold"] == 8_000_000
    assert evidence["tokens_today"] >= 8_000_000 and incident["scenario"] == "high_usage"
    assert evidence["forecast"]["tpd"].startswith("daily quota")
    sent = [
        c["params"] for c in report["changes_sent_to_aws"] if c["operation"] == "RequestServiceQuotaIncrease"
    ]
    # filed on "Cross-region model inference tokens per minute for Amazon Nova Pro", as the
    # Bedrock user guide asks, naming the daily quota under pressure
    assert [p["QuotaCode"] for p in sent] == ["L-C0326783"]
    (planned,) = incident["planned_actions"]
    assert "TPD quota under pressure (L-D690997B)" in planned["reason"]
    handled = next(n for n in incident["notifications"] if "handled" in n["subject"])
    assert "tokens today (UTC) of a daily quota of 10,000,000" in handled["message"]


def test_a_model_without_a_quota_found_is_named_with_its_fix_and_nothing_is_requested(
    scenario_report: Report,
) -> None:
    report = scenario_report("quota-not-found")
    (incident,) = report["incidents"]
    assert incident["scenario"] == "new_model" and incident["actions"] == []
    assert not [c for c in report["changes_sent_to_aws"] if c["operation"] == "RequestServiceQuotaIncrease"]
    gaps = {g["kind"]: g for g in incident["evidence"]["quota_gaps"]}
    assert gaps["tpm"]["problem"] == "not_found" and "Titan Text Large" in gaps["tpm"]["reason"]
    assert "quota_codes.tpm" in gaps["tpm"]["fix"] and "QuotaCodeOverrides" in gaps["tpm"]["fix"]
    handled = next(n for n in incident["notifications"] if "handled" in n["subject"])
    assert "TPM not found" in handled["message"] and "quota_codes.tpm" in handled["message"]
    assert "TPM quota not found" in handled["message"]  # the plan's summary, in the Why: line


def test_an_application_profile_is_read_on_its_id(scenario_report: Report) -> None:
    report = scenario_report("app-profile-siblings")
    (incident,) = report["incidents"]
    assert incident["model_id"] == "chatprod01"  # the ModelId CloudWatch gives the profile
    assert incident["evidence"]["peak_rpm"] >= 200  # its usage history was found under that id
