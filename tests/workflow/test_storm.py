"""Storms, flapping and faults (issue 12): one incident per model, taken in by order and age,
and every Lambda step safe to retry after its response was lost."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from opspilot_cli.main import main
from opspilot_sim.runner import run_scenario
from opspilot_sim.scenario import validate

Report = Callable[[str], dict[str, Any]]
SCENARIOS = Path(__file__).resolve().parent / "scenarios"


def dispositions(report: dict[str, Any]) -> list[str]:
    return [e["disposition"] for e in report["incidents"]]


def test_an_alarm_that_fires_while_the_models_incident_is_open_joins_it_and_raises_it(
    scenario_report: Report,
) -> None:
    report = scenario_report("storm-join-and-flap")
    opened, joined = report["incidents"][:2]
    assert (opened["disposition"], joined["disposition"]) == ("opened", "revised")
    assert joined["incident_id"] == opened["incident_id"]
    assert opened["severity"] == "warning"
    assert joined["rose"] == {"severity": ["warning", "critical"], "quota_scope": ["rpm", "both"]}
    # the revision plans only what changed: the TPM increase; the RPM one was filed already
    assert [a["params"]["QuotaCode"] for a in opened["actions"]] == ["L-F2717A44"]
    assert [a["params"]["QuotaCode"] for a in joined["actions"]] == ["L-CE33604C"]
    assert joined["notifications"][0]["subject"].startswith("[OpsPilot] revised (critical)")
    (record,) = report["incident_records"]
    assert set(record["alarms"]) == {"opspilot-nova-pro-rpm", "opspilot-nova-pro-throttles"}
    assert report["totals"]["max_open_incidents_per_model"] == 1


def test_an_alarm_firing_again_within_the_cooldown_reopens_the_same_incident(scenario_report: Report) -> None:
    report = scenario_report("storm-join-and-flap")
    assert dispositions(report)[:5] == ["opened", "revised", "ok_recorded", "resolved", "reopened"]
    resolved, reopened = report["incidents"][3:5]
    assert resolved["incident_id"] == reopened["incident_id"] == report["incidents"][0]["incident_id"]
    assert [n["subject"] for n in resolved["notifications"]] == [
        "[OpsPilot] RESOLVED amazon.nova-pro-v1:0: all alarms OK"
    ]
    assert reopened["planned_actions"] == [] and reopened["approval"]["required"] is False
    (record,) = report["incident_records"]
    assert record["reopen_count"] == 1
    assert record["audit"].index("resolved") < record["audit"].index("reopened")
    assert sorted(r["quota_code"] for r in report["quota_requests"]) == ["L-CE33604C", "L-F2717A44"]


def test_an_event_older_than_what_we_know_is_stale_and_changes_nothing(scenario_report: Report) -> None:
    report = scenario_report("storm-join-and-flap")
    late = next(e for e in report["incidents"] if e["event"].endswith("(delivered late)"))
    assert late["disposition"] == "stale"
    assert "CloudWatch has it in ALARM since" in late["reason"]
    assert late["incident_id"] is None and late["notifications"] == []
    (record,) = report["incident_records"]
    assert record["status"] != "resolved", "the late OK did not resolve the reopened incident"
    repeats = [e for e in report["incidents"] if e["disposition"] == "repeat"]
    assert len(repeats) == 2 and all(e["execution"]["lambda_invocations"] == 0 for e in repeats)


def test_events_stamped_far_in_the_past_or_future_are_refused_with_their_reason(
    scenario_report: Report,
) -> None:
    report = scenario_report("storm-join-and-flap")
    old, future = report["incidents"][-2:]
    assert (old["disposition"], future["disposition"]) == ("refused", "refused")
    assert "stamped 2001-01-01T00:00:00.000Z, more than 15 days before" in old["reason"]
    assert "stamped 2099-01-01T00:00:00.000Z, more than 5 minutes after" in future["reason"]
    assert old["incident_id"] is None and future["incident_id"] is None
    assert report["totals"]["unaccounted"] == 0 and report["totals"]["refused"] == 2


# The first response of every function is lost, and Classify's and Recover's later steps too:
# opening, joining and reopening (Classify calls 1, 3 and 8, counting the retries), marking an
# alarm OK and confirming the resolution after the quiet period (Recover calls 1 and 5).
LOST = [
    {"function": f"{name}Function"}
    for name in (
        "GatherUsage",
        "GatherQuotas",
        "GatherSupport",
        "Decide",
        "ExecuteAction",
        "RecordOutcome",
        "WatchQuotaRequests",
        "RequestApproval",  # the revision's approval request
        "SyncAlarms",  # ResyncThresholds, after the increases were approved
    )
]
LOST += [{"function": "ClassifyFunction", "on_call": n} for n in (1, 3, 8)]
LOST += [{"function": "RecoverFunction", "on_call": n} for n in (1, 5)]


def _facts(report: dict[str, Any]) -> dict[str, Any]:
    """What must not differ between a run with lost responses and one without."""
    (record,) = report["incident_records"]
    return {
        "dispositions": dispositions(report),
        "incident_ids": [e["incident_id"] for e in report["incidents"]],
        "status": record["status"],
        "alarms": record["alarms"],
        "audit": Counter(record["audit"]),
        "requests": sorted(r["quota_code"] for r in report["quota_requests"]),
        "notifications": [[n["subject"] for n in e["notifications"]] for e in report["incidents"]],
        "actions": [[(a["type"], a["status"]) for a in e["actions"]] for e in report["incidents"]],
    }


def _requests(report: dict[str, Any]) -> list[dict[str, Any]]:
    return sorted(report["quota_requests"], key=lambda r: str(r["quota_code"]))


def test_every_lambda_step_retried_after_a_lost_response_finishes_the_first_attempts_work(
    scenario_report: Report,
) -> None:
    control = scenario_report("storm-lifecycle")
    doc = yaml.safe_load((SCENARIOS / "storm-lifecycle.yaml").read_text())
    lossy = run_scenario(validate({**doc, "lost_lambda_responses": LOST}))

    assert _facts(lossy) == _facts(control)
    # The same requests, for the same value: the simulated usage is seeded back from the time of
    # each run and read up to the time of each Gather Usage, so two runs a minute apart may see
    # the newest minute differently (one run asked 1,425 where the other asked 1,424).
    for lost, kept in zip(_requests(lossy), _requests(control), strict=True):
        assert lost["desired"] == pytest.approx(kept["desired"], rel=0.01), lost["quota_code"]
    retried = sum(e["execution"]["lambda_invocations"] for e in lossy["incidents"]) - sum(
        e["execution"]["lambda_invocations"] for e in control["incidents"]
    )
    assert retried == len(LOST), "each lost response was retried once"
    (record,) = lossy["incident_records"]
    # the model's TPM alarm, already in ALARM when the RPM alarm opened the incident, was claimed
    # although that Classify's response was lost (issue 12: the `if created:` block skipped it)
    assert record["alarms"] == dict.fromkeys(
        ["opspilot-nova-pro-rpm", "opspilot-nova-pro-throttles", "opspilot-nova-pro-tpm"], "ALARM"
    ) | {"opspilot-nova-pro-throttles": "OK", "opspilot-nova-pro-tpm": "OK"}
    assert Counter(record["audit"])["opened"] == 1


def test_a_repeated_alarm_attached_without_a_lambda_still_makes_an_older_event_stale(
    scenario_report: Report,
) -> None:
    report = scenario_report("storm-repeat-then-late-ok")
    opened, repeat, late, last = report["incidents"]
    assert (opened["disposition"], repeat["disposition"]) == ("opened", "repeat")
    assert repeat["execution"]["lambda_invocations"] == 0
    # CloudWatch shows OK again by the time the late OK arrives: only the repeat's stamp, recorded
    # on the fast path, says it is older than what we know
    assert late["event"].endswith("-> OK (delivered late)")
    assert late["disposition"] == "stale" and late["incident_id"] is None
    assert "is older than its ALARM stamped" in late["reason"]
    assert late["notifications"] == []
    assert last["disposition"] == "resolved"  # the newest OK, after the quiet period


def test_simulate_summary_prints_the_totals_and_one_line_per_incident_instead_of_every_event(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``opspilot simulate --summary``, the view for long runs: no per-event section, one line per
    incident with its audit trail counted, then the totals the full report ends with."""
    assert main(["simulate", "--summary", str(SCENARIOS / "storm-join-and-flap.yaml")]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "== scenario storm-join-and-flap (summary) =="
    assert not [line for line in lines if line.startswith("-- ")], "no event sections in the summary"
    incident_lines = [line for line in lines if line.strip().startswith("inc-")]
    assert len(incident_lines) == 1, out
    (line,) = incident_lines
    assert "amazon.nova-pro-v1:0" in line and "alarms 2" in line and "reopened 1" in line
    assert "opened" in line and "resolved" in line and "reopened" in line
    totals = lines[lines.index(next(x for x in lines if x.startswith("   totals: "))) :]
    assert totals[0].endswith("0 unaccounted")
    assert "at most 1 open per model at a time" in out
    assert [x.split(":")[0].strip() for x in totals if x] == [
        "totals",
        "events",
        "incidents",
        "quota requests filed",
        "governor refused",
        "per event",
    ]


def test_an_ok_with_no_incident_ever_is_recorded_as_such_and_opens_nothing() -> None:
    doc = yaml.safe_load((SCENARIOS / "storm-lifecycle.yaml").read_text())
    report = run_scenario(
        validate(
            {**doc, "name": "ok-no-incident", "events": [{"alarm": "opspilot-nova-pro-rpm", "state": "OK"}]}
        )
    )
    (event,) = report["incidents"]
    assert event["disposition"] == "ok_no_incident"
    assert event["incident_id"] is None and event["notifications"] == [] and event["actions"] == []
    assert report["incident_records"] == [] and report["quota_requests"] == []
    assert report["totals"]["unaccounted"] == 0
