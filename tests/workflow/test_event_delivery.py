"""EventBridge delivers at least once and in no set order: the simulator's `duplicates` and
`delivered_after` replay what AWS may do to the same event (docs/scenarios.md#events)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from opspilot_sim.runner import run_scenario
from opspilot_sim.scenario import ScenarioError, validate

World = Callable[..., dict[str, Any]]  # the nova_pro_world fixture (conftest.py)

ERRORS_ALARM = {
    "name": "opspilot-nova-errors",
    "metric": "InvocationServerErrors",
    "model_id": "amazon.nova-pro-v1:0",
}


@pytest.fixture
def world(nova_pro_world: World) -> dict[str, Any]:
    return nova_pro_world("delivery", "experimentation", more_alarms=[ERRORS_ALARM])


def test_duplicates_and_late_events_are_delivered_as_eventbridge_may(world: dict[str, Any]) -> None:
    events = [
        {"alarm": "opspilot-nova-rpm", "state": "ALARM", "duplicates": 1},
        {"alarm": "opspilot-nova-rpm", "state": "OK", "delivered_after": 1},
        {"alarm": "opspilot-nova-errors", "state": "ALARM"},
    ]
    report = run_scenario(validate({**world, "events": events}))

    assert [i["event"] for i in report["incidents"]] == [
        "opspilot-nova-rpm -> ALARM",
        "opspilot-nova-rpm -> ALARM (duplicate 1)",
        "opspilot-nova-errors -> ALARM",
        "opspilot-nova-rpm -> OK (delivered late)",
    ]
    assert all(i["execution"]["status"] == "SUCCEEDED" for i in report["incidents"])


def test_a_late_event_held_past_the_last_one_is_delivered_at_the_end(world: dict[str, Any]) -> None:
    events = [
        {"alarm": "opspilot-nova-rpm", "state": "ALARM", "delivered_after": 5},
        {"alarm": "opspilot-nova-errors", "state": "ALARM"},
    ]
    report = run_scenario(validate({**world, "events": events}))

    assert [i["event"] for i in report["incidents"]] == [
        "opspilot-nova-errors -> ALARM",
        "opspilot-nova-rpm -> ALARM (delivered late)",
    ]


def test_a_fault_is_an_error_or_a_lost_response_never_both(world: dict[str, Any]) -> None:
    fault = {"service": "support", "operation": "CreateCase", "error": "InternalServerError", "lost": True}
    with pytest.raises(ScenarioError, match=r"faults\[0\]"):
        validate({**world, "faults": [fault], "events": [{"alarm": "opspilot-nova-rpm", "state": "ALARM"}]})


def test_a_duplicate_ok_names_no_incident_that_does_not_exist(world: dict[str, Any]) -> None:
    """The OK's first delivery resolves the model's incident through Recover; its second names no
    incident (it once named the id Classify made up for the OK, and the report counted a phantom
    incident with no model: 22 incidents for 20 opened in a 150-event storm)."""
    events = [
        {"alarm": "opspilot-nova-rpm", "state": "ALARM"},
        {"alarm": "opspilot-nova-rpm", "state": "OK", "duplicates": 1},
    ]
    report = run_scenario(validate({**world, "events": events}))

    duplicate = report["incidents"][-1]
    assert (duplicate["event"], duplicate["disposition"]) == (
        "opspilot-nova-rpm -> OK (duplicate 1)",
        "duplicate",
    )
    assert duplicate["incident_id"] is None
    assert [(r["model_id"], r["status"]) for r in report["incident_records"]] == [
        ("amazon.nova-pro-v1:0", "resolved")
    ]
    assert report["totals"]["incidents"] == report["totals"]["incidents_opened"] == 1
