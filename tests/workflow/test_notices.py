"""Notices never block action: SNS refusing a notice is recorded, the notice is carried or tried
again, and the incident goes on (statemachines/incident.asl.json, NotifyOpened and Notify)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opspilot.adapters.incidents import IncidentStore
from opspilot_cli.incidents_cmd import show_incident
from opspilot_sim.runner import run_scenario
from opspilot_sim.scenario import validate

World = Callable[..., dict[str, Any]]  # the nova_pro_world fixture (conftest.py)


def scenario(nova_pro_world: World, times: int) -> dict[str, Any]:
    return validate(
        nova_pro_world(
            f"notice-refused-{times}",
            quota_decisions=[{"code": "L-F2717A44", "status": "APPROVED"}],
            # SNS refuses the first `times` Publish calls: the "opened" notice, then the others
            faults=[
                {"service": "sns", "operation": "Publish", "error": "AuthorizationError", "times": times}
            ],
            events=[{"alarm": "opspilot-nova-rpm", "state": "ALARM"}],
        )
    )


def run(nova_pro_world: World, times: int) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    kept: dict[str, Any] = {}

    def read(table: str) -> None:
        store = IncidentStore(table, 30)
        incident_id = kept["id"] = next(iter(store.list_incidents()))["pk"].removeprefix("INCIDENT#")
        kept["record"] = store.get_incident(incident_id)
        kept["audit"] = store.audit_trail(incident_id)
        kept["shown"] = show_incident(store, incident_id, as_json=False)  # opspilot incidents show

    report = run_scenario(scenario(nova_pro_world, times), then=read)
    (incident,) = report["incidents"]
    kept["record"]["shown"] = kept["shown"]
    return incident, kept["record"], kept["audit"]


def test_a_refused_opened_notice_is_carried_by_the_next_and_the_incident_acts(nova_pro_world: World) -> None:
    incident, record, audit = run(nova_pro_world, times=1)

    assert incident["execution"]["status"] == "SUCCEEDED"
    assert [a["status"] for a in incident["actions"]] == ["executed"], "the remedy went ahead"
    (handled,) = [n for n in incident["notifications"] if "handled" in n["subject"]]
    assert (
        'The "opened" notice of this incident could not be sent (SNS.AuthorizationErrorException)'
        in (handled["message"])
    )
    assert "Subject:  [OpsPilot] opened (warning): amazon.nova-pro-v1:0" in handled["message"]
    assert record["notice_state"] == "delivered"
    assert [(f["notice"], f["error"]) for f in record["notice_failures"]] == [
        ("opened", "SNS.AuthorizationErrorException")
    ]
    assert [a["data"]["notice"] for a in audit if a["kind"] == "notice_failed"] == ["opened"]


def test_notices_refused_every_time_are_given_up_and_recorded_without_failing_the_incident(
    nova_pro_world: World,
) -> None:
    incident, record, _ = run(nova_pro_world, times=20)

    assert incident["execution"]["status"] == "SUCCEEDED"
    assert [a["status"] for a in incident["actions"]] == ["executed"]
    assert "RecordFailure" not in incident["execution"]["states"]
    assert record["notice_state"] == "given_up"
    assert (
        "notices given_up; refused: opened (SNS.AuthorizationErrorException), outcome "
        "(SNS.AuthorizationErrorException)" in record["shown"]
    )
    assert [f["notice"] for f in record["notice_failures"]] == [
        "opened",
        "outcome",
        "outcome",
        "quota_decision",
    ]
    assert "NotifyQuotaDecision" in incident["execution"]["states"]
