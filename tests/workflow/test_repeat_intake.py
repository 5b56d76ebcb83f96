"""The intake's fast path (statemachines/incident.asl.json, RecordRepeatedState): a repeated ALARM
for an alarm its open incident already took in is one DynamoDB transaction made by the state
machine itself, no Lambda, 3 state transitions (issue 2's target). The transaction counts the
repeat on the alarm's pointer (ALARM#<name> / OPEN) and records the event as the alarm's last state
change (ALARM#<name> / STATE), both or neither.

One run of the real ASL on moto's interpreter, Nova Pro's RPM alarm:

0. ALARM: no pointer yet, the transaction is cancelled, Classify opens the incident
1. ALARM, delivered after 3: older than 3, which the fast path recorded as the alarm's state
2. ALARM: a repeat, whose first two transactions DynamoDB throttles
3. ALARM: a repeat
4. OK: Recover releases the alarm's pointer
5. ALARM: the pointer is gone, the transaction is cancelled, Classify takes it in
"""

from __future__ import annotations

from typing import Any

import pytest

from opspilot.adapters.items import from_item
from opspilot_sim import moto_shim
from opspilot_sim.runner import run_scenario
from opspilot_sim.scenario import validate
from opspilot_sim.scenario_run import ScenarioRun
from opspilot_sim.stack import ACCOUNT_ID

ALARM = "opspilot-nova-rpm"
FAST_PATH = ["NoteArrival", "RouteByAlarmState", "RecordRepeatedState"]
THROTTLED = 2  # attempts of event 2's transaction DynamoDB refuses


def _item(run: ScenarioRun, sk: str) -> dict[str, Any] | None:
    item = moto_shim.dynamodb_item(
        ACCOUNT_ID, run.stack.region, run.stack.table_name, {"pk": f"ALARM#{ALARM}", "sk": sk}
    )
    return from_item(item) if item else None


@pytest.fixture(scope="module")
def repeats() -> dict[str, Any]:
    scenario = {
        "name": "repeat-intake",
        "parameters": {"Environment": "experimentation", "DryRun": False},
        "models": [{"model_id": "amazon.nova-pro-v1:0", "usage": {"rpm_steady": 400, "rpm_peak": 950}}],
        "quotas": [{"code": "L-F2717A44", "value": 1000}],
        "alarms": [
            {"name": ALARM, "metric": "Invocations", "model_id": "amazon.nova-pro-v1:0", "threshold": 800}
        ],
        "events": [
            {"alarm": ALARM, "state": "ALARM"},
            {"alarm": ALARM, "state": "ALARM", "delivered_after": 2},
            {"alarm": ALARM, "state": "ALARM"},
            {"alarm": ALARM, "state": "ALARM"},
            {"alarm": ALARM, "state": "OK"},
            {"alarm": ALARM, "state": "ALARM"},
        ],
    }
    after: list[dict[str, Any]] = []  # per execution, in delivery order: what the table held after it
    worlds: list[Any] = []

    def observe(run: ScenarioRun, execution: dict[str, Any]) -> None:
        final = execution["facts"]["final_state"]
        after.append(
            {
                "index": execution["index"],
                "event_id": final.get("id"),
                "output": final,
                "pointer": _item(run, "OPEN"),
                "state": _item(run, "STATE"),
            }
        )
        if execution["index"] == 0:  # the next transactions are event 2's (event 1 is held)
            run.world.faults.add(
                "dynamodb", "TransactWriteItems", error="ThrottlingException", times=THROTTLED
            )
            worlds.append(run.world)

    report = run_scenario(validate(scenario), observe=observe)
    return {
        "report": report,
        "after": after,
        "by_index": {entry["index"]: entry for entry in after},
        "fired": [(f.operation, f.code) for f in worlds[0].faults.fired],
    }


def test_deliveries_are_in_the_order_the_module_docstring_says(repeats: dict[str, Any]) -> None:
    assert [entry["index"] for entry in repeats["after"]] == [0, 2, 3, 1, 4, 5]


def test_a_repeat_costs_three_transitions_one_transaction_and_no_lambda(repeats: dict[str, Any]) -> None:
    report = repeats["report"]
    opened, repeat = report["incidents"][0], report["incidents"][2]
    assert repeat["event"] == f"{ALARM} -> ALARM" and repeat["disposition"] == "repeat"
    assert repeat["execution"]["status"] == "SUCCEEDED"
    assert repeat["execution"]["states"] == FAST_PATH
    assert repeat["execution"]["state_transitions"] == 3
    assert repeat["execution"]["lambda_invocations"] == 0
    assert repeat["execution"]["api_calls"] == {"aws-sdk:dynamodb:transactWriteItems": 1}
    assert repeat["notifications"] == []
    # the report names the incident the pointer says it counted on
    assert repeat["attached_to_open_incident"] and repeat["incident_id"] == opened["incident_id"]


def test_a_repeat_output_names_its_alarm_and_event(repeats: dict[str, Any]) -> None:
    third = repeats["by_index"][3]
    assert third["output"]["attached_to"] == {"alarm_name": ALARM, "event_id": third["event_id"]}


def test_a_repeat_is_counted_on_the_pointer_and_becomes_the_alarms_last_state(
    repeats: dict[str, Any],
) -> None:
    opened, second, third = (repeats["by_index"][i] for i in (0, 2, 3))
    assert opened["pointer"]["repeat_count"] == 0 and "last_event_id" not in opened["pointer"]
    for count, entry in ((1, second), (2, third)):
        pointer, state = entry["pointer"], entry["state"]
        assert pointer["incident_id"] == opened["pointer"]["incident_id"]
        assert (pointer["repeat_count"], pointer["last_event_id"]) == (count, entry["event_id"])
        assert pointer["last_event_at"] == entry["output"]["arrival"]["at"]
        assert (state["state"], state["event_id"]) == ("ALARM", entry["event_id"])
        assert state["changed_at"] == entry["output"]["detail"]["state"]["timestamp"]


def test_a_throttled_transaction_is_retried_by_the_state_machine(repeats: dict[str, Any]) -> None:
    report, second = repeats["report"], repeats["report"]["incidents"][1]
    assert repeats["fired"] == [("TransactWriteItems", "ThrottlingException")] * THROTTLED
    assert second["disposition"] == "repeat" and second["execution"]["states"] == FAST_PATH
    assert second["execution"]["lambda_invocations"] == 0
    # each attempt is a call to DynamoDB; the refused ones wrote nothing (repeat_count is 1)
    assert second["execution"]["api_calls"] == {"aws-sdk:dynamodb:transactWriteItems": 1 + THROTTLED}
    assert repeats["by_index"][2]["pointer"]["repeat_count"] == 1
    assert report["incidents"][1]["incident_id"] == report["incidents"][0]["incident_id"]


def test_a_stale_repeat_changes_neither_the_alarms_state_nor_its_pointer(repeats: dict[str, Any]) -> None:
    """Event 1 arrives after event 3: the pointer's condition holds, the state's does not, and the
    transaction's pointer update is undone with it (both or neither)."""
    before, stale = repeats["by_index"][3], repeats["by_index"][1]
    late = repeats["report"]["incidents"][3]
    assert late["event"] == f"{ALARM} -> ALARM (delivered late)"
    # what makes it stale is the alarm's state, not the pointer: the pointer's condition holds
    # (opened before the event's stamp, as DynamoDB compares the strings)
    stamp = stale["output"]["detail"]["state"]["timestamp"]
    assert before["pointer"]["opened_at"] <= stamp < before["state"]["changed_at"]
    assert late["execution"]["states"][:4] == [*FAST_PATH, "Classify"]
    assert late["disposition"] == "stale" and late["notifications"] == []
    assert stale["pointer"] == before["pointer"], "the pointer did not count the stale event"
    assert stale["state"] == before["state"], "the alarm's last state change is still event 3"


def test_an_alarm_whose_pointer_is_gone_goes_to_classify(repeats: dict[str, Any]) -> None:
    report = repeats["report"]
    after_ok, again = repeats["by_index"][4], report["incidents"][5]
    assert after_ok["pointer"] is None, "Recover released the alarm's pointer"
    assert again["execution"]["states"][:4] == [*FAST_PATH, "Classify"]
    assert again["execution"]["lambda_invocations"] >= 1
    # the incident resolved on the OK: Classify reopens it, and points the alarm at it afresh
    assert (
        again["disposition"] == "reopened" and again["incident_id"] == report["incidents"][0]["incident_id"]
    )
    assert repeats["by_index"][5]["pointer"]["repeat_count"] == 0
