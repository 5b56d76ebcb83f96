"""The quota governor through the real workflow: one request per quota and cooldown under a
flapping alarm, and a request AWS filed while every answer was lost recorded and watched."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from opspilot_sim.runner import run_scenario
from opspilot_sim.scenario import validate

Report = Callable[[str], dict[str, Any]]
World = Callable[..., dict[str, Any]]  # the nova_pro_world fixture (conftest.py)
ROOT = Path(__file__).resolve().parents[2]


def test_a_model_held_at_880_to_950_rpm_gets_no_request_beyond_its_first(scenario_report: Report) -> None:
    report = scenario_report("rpm-storm")
    requests = [
        c["params"] for c in report["changes_sent_to_aws"] if c["operation"] == "RequestServiceQuotaIncrease"
    ]
    assert requests == [
        {
            "ServiceCode": "bedrock",
            "QuotaCode": "L-F2717A44",
            "DesiredValue": 1425.0,
            "SupportCaseAllowed": True,
        }
    ]  # 950 / 0.8 x 1.2, not 1,000 + 50 %
    assert [(r["quota_code"], r["status"]) for r in report["quota_requests"]] == [("L-F2717A44", "APPROVED")]
    assert all(i["execution"]["status"] == "SUCCEEDED" for i in report["incidents"])
    # the flaps reopen the one incident (issue 12) and decide again: never another request
    assert {i["incident_id"] for i in report["incidents"] if i["incident_id"]} == {
        report["incidents"][0]["incident_id"]
    }
    later = [i for i in report["incidents"][1:] if i["scenario"]]
    assert later and {i["disposition"] for i in later} == {"reopened"}
    for incident in later:  # each reopening either investigates (low usage) or is refused
        assert not any(a["type"] == "request_quota_increase" for a in incident["planned_actions"])


def test_a_request_whose_answers_are_all_lost_is_recorded_as_filed_and_watched(nova_pro_world: World) -> None:
    report = run_scenario(
        validate(
            nova_pro_world(
                "quota-request-answers-lost",
                adjustable=True,  # so that an increase is requested
                quota_decisions=[{"code": "L-F2717A44", "status": "APPROVED"}],
                # AWS files the first attempt; its answer and both retries' answers are lost
                faults=[
                    {
                        "service": "service-quotas",
                        "operation": "RequestServiceQuotaIncrease",
                        "lost": True,
                        "times": 3,
                    }
                ],
                events=[{"alarm": "opspilot-nova-rpm", "state": "ALARM"}],
            )
        )
    )
    (incident,) = report["incidents"]
    (action,) = incident["actions"]
    assert action["status"] == "executed"
    assert action["result"]["reconciled"] is True
    assert len(report["quota_requests"]) == 1, "filed once"
    assert report["quota_requests"][0]["status"] == "APPROVED", "watched until AWS decided"
    assert any("quota increase approved" in n["subject"] for n in incident["notifications"])


def test_a_daily_quota_increase_passes_the_governor_on_the_quota_it_is_filed_on() -> None:
    doc = yaml.safe_load((ROOT / "scenarios" / "daily-token-throttle.yaml").read_text())
    # a request of ours on Nova Pro's cross-Region TPM quota, where daily increases are filed, is
    # still pending
    doc["quota_requests"] = [{"code": "L-C0326783", "desired": 1_000_000, "status": "PENDING"}]
    report = run_scenario(validate(doc))
    (incident,) = report["incidents"]
    assert incident["planned_actions"] == [] and incident["actions"] == []
    assert not [c for c in report["changes_sent_to_aws"] if c["operation"] == "RequestServiceQuotaIncrease"]
    handled = next(n for n in incident["notifications"] if "handled" in n["subject"])
    refused = [line for line in handled["message"].splitlines() if line.startswith("Refused:")]
    assert len(refused) == 1 and "L-C0326783" in refused[0]
    assert refused[0].endswith("(a request for this quota is pending)")
    assert "is still PENDING; no request is stacked on a pending one." in refused[0]


def test_a_revised_plan_asks_again_for_an_action_whose_value_changed(scenario_report: Report) -> None:
    report = scenario_report("revised-value-asked-again")
    first, _ok, reopened = report["incidents"]
    assert reopened["disposition"] == "reopened" and reopened["incident_id"] == first["incident_id"]
    assert [a["params"]["DesiredValue"] for a in first["planned_actions"]] == [1425.0]  # rejected
    (planned,) = reopened["planned_actions"]
    assert planned["params"]["DesiredValue"] == 1500.0  # 1,150 RPM needs 1,725: capped at +50 %
    assert "Revised: DesiredValue 1,425 -> 1,500" in planned["reason"]
    subjects = [n["subject"] for n in reopened["notifications"]]
    assert any(s.startswith("[OpsPilot] Approval needed") for s in subjects), "asked again"
    requests = [
        c["params"] for c in report["changes_sent_to_aws"] if c["operation"] == "RequestServiceQuotaIncrease"
    ]
    assert requests == [
        {
            "ServiceCode": "bedrock",
            "QuotaCode": "L-F2717A44",
            "DesiredValue": 1500.0,
            "SupportCaseAllowed": True,
        }
    ]
    (action,) = reopened["actions"]
    assert action["status"] == "executed"
    assert "(planned before as request_quota_increase:L-F2717A44)" in planned["reason"]
    # each event's report shows its own execution's decision, not the incident's latest
    assert (first["approval"]["status"], reopened["approval"]["status"]) == ("rejected", "approved")
    assert first["actions"] == [] or all(a["status"] == "skipped" for a in first["actions"])


def test_our_increases_of_a_quota_within_the_window_stop_at_the_policys_ceiling() -> None:
    policy = json.loads((ROOT / "functions/opspilot/policy/default_policy.json").read_text())
    # at most +600 RPM of our increases per 30 days; a cooldown short enough for a second incident
    # (86 microseconds: 0.864 s refused the second request when the simulator ran the events faster)
    policy["governor"] = {"cooldown_days": 1e-9, "window_ceilings": {"L-F2717A44": 600}}
    doc = {
        "name": "window-ceiling",
        "parameters": {
            "Environment": "production",
            "DryRun": False,
            "ReopenCooldownSeconds": 0,  # the second ALARM opens a new incident
            "PolicyDocument": json.dumps(policy),
        },
        "models": [{"model_id": "amazon.nova-pro-v1:0", "usage": {"rpm_steady": 400, "rpm_peak": 950}}],
        # adjustable in this simulated account (the June-2025 General Reference lists it as not)
        "quotas": [{"code": "L-F2717A44", "value": 1000, "adjustable": True}],
        "quota_decisions": [{"code": "L-F2717A44", "status": "APPROVED"}],
        "alarms": [
            {
                "name": "opspilot-nova-rpm",
                "metric": "Invocations",
                "model_id": "amazon.nova-pro-v1:0",
                "threshold": 800,
            }
        ],
        "events": [
            {"alarm": "opspilot-nova-rpm", "state": "ALARM", "datapoints": [950]},
            {"alarm": "opspilot-nova-rpm", "state": "OK"},
            {"alarm": "opspilot-nova-rpm", "state": "ALARM", "datapoints": [1400]},
        ],
    }
    report = run_scenario(validate(doc))
    first, _ok, second = report["incidents"]
    assert first["incident_id"] != second["incident_id"]
    requests = [
        c["params"]["DesiredValue"]
        for c in report["changes_sent_to_aws"]
        if c["operation"] == "RequestServiceQuotaIncrease"
    ]
    # 1,000 -> 1,425 (+425); then 1,400 RPM needs 2,100, +50 % allows 2,137, the window only +175
    assert requests == [1425.0, 1600.0]
    (planned,) = second["planned_actions"]
    assert "capped at what the policy's ceiling for the window leaves" in planned["reason"]
