"""The incident table adapter against moto's DynamoDB."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError

from opspilot.adapters.incidents import IncidentStore
from opspilot_sim.stack import SimulatedStack

NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


def incident(incident_id: str) -> dict[str, object]:
    return {
        "incident_id": incident_id,
        "model_id": "amazon.nova-pro-v1:0",
        "opened_at": "2026-11-30T10:00:00Z",
    }


def test_opening_twice_from_a_retry_returns_the_same_incident(stack: SimulatedStack) -> None:
    store = IncidentStore(stack.table_name, 30)
    assert store.open_incident(incident("inc-1"), "opspilot-a", "exec-1", NOW) == ("inc-1", True)
    assert store.open_incident(incident("inc-1"), "opspilot-a", "exec-1", NOW) == ("inc-1", False)
    assert store.get_incident("inc-1")["status"] == "open"  # type: ignore[index]


def test_a_second_incident_for_an_owned_alarm_joins_the_owner(stack: SimulatedStack) -> None:
    store = IncidentStore(stack.table_name, 30)
    store.open_incident(incident("inc-1"), "opspilot-a", "exec-1", NOW)
    assert store.open_incident(incident("inc-2"), "opspilot-a", "exec-2", NOW) == ("inc-1", False)
    assert store.get_incident("inc-2") is None, "nothing half-written"


def test_an_expired_alarm_pointer_does_not_swallow_new_incidents(stack: SimulatedStack) -> None:
    store = IncidentStore(stack.table_name, 30)
    store.open_incident(incident("inc-1"), "opspilot-a", "exec-1", NOW, pointer_hours=1)
    later = NOW + timedelta(hours=2)
    assert store.open_incident(incident("inc-2"), "opspilot-a", "exec-2", later) == ("inc-2", True)
    assert store.open_incident_for_alarm("opspilot-a") == "inc-2"


def test_an_action_is_claimed_once_and_its_result_returned_after(stack: SimulatedStack) -> None:
    store = IncidentStore(stack.table_name, 30)
    assert store.claim_action("inc-1", "a1", NOW) is None
    assert store.claim_action("inc-1", "a1", NOW)["status"] == "in_progress"  # type: ignore[index]
    store.complete_action("inc-1", "a1", {"status": "executed", "result": {"request_id": "r1"}}, NOW)
    again = store.claim_action("inc-1", "a1", NOW)
    assert again is not None and again["status"] == "executed" and again["result"] == {"request_id": "r1"}


def test_incidents_are_listed_by_model_newest_first(stack: SimulatedStack) -> None:
    store = IncidentStore(stack.table_name, 30)
    for i, hour in enumerate((8, 9, 7)):
        record = incident(f"inc-{i}") | {"opened_at": f"2026-11-30T0{hour}:00:00Z"}
        store.open_incident(record, f"opspilot-{i}", f"exec-{i}", NOW)
    listed = store.list_incidents("amazon.nova-pro-v1:0")
    assert [r["incident_id"] for r in (item["incident"] for item in listed)] == ["inc-1", "inc-0", "inc-2"]


def test_the_status_only_moves_forward_and_a_late_writer_still_records_its_fields(
    stack: SimulatedStack,
) -> None:
    store = IncidentStore(stack.table_name, 30)
    store.open_incident(incident("inc-1"), "opspilot-a", "exec-1", NOW)
    assert store.update_incident("inc-1", NOW, status="awaiting_approval", approval={"status": "pending"})
    assert store.resolve("inc-1", NOW)  # the alarm recovered meanwhile
    assert store.get_incident("inc-1")["status"] == "resolved"  # type: ignore[index]
    # the approver decides later: the outcome is recorded, the incident stays resolved
    assert not store.update_incident("inc-1", NOW, status="acted", actions=[{"action_id": "a1"}])
    record = store.get_incident("inc-1")
    assert (
        record is not None and record["status"] == "resolved" and record["actions"] == [{"action_id": "a1"}]
    )
    assert not store.update_incident("inc-1", NOW, status="failed", failure={"error": "X"})
    assert store.get_incident("inc-1")["failure"] == {"error": "X"}  # type: ignore[index]


def test_a_status_write_to_a_missing_incident_or_an_unknown_status_is_refused(stack: SimulatedStack) -> None:
    store = IncidentStore(stack.table_name, 30)
    with pytest.raises(ClientError, match="ConditionalCheckFailed"):
        store.update_incident("inc-missing", NOW, status="acted", actions=[])
    assert store.get_incident("inc-missing") is None
    with pytest.raises(ValueError, match="unknown incident status 'done'"):
        store.update_incident("inc-missing", NOW, status="done")
