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
        "region": "us-east-1",
        "opened_at": "2026-11-30T10:00:00Z",
    }


def open_(
    store: IncidentStore, record: dict[str, object], alarm: str, event: str, **kw: object
) -> str | None:
    intake = {"disposition": "opened", "execution_id": f"exec-{event}", "result": {}}
    return store.open_incident(
        record, [alarm], f"exec-{event}", event, kw.pop("now", NOW), intake=intake, **kw
    )  # type: ignore[arg-type]


def test_an_event_is_taken_in_once_and_a_retry_is_told_so(stack: SimulatedStack) -> None:
    store = IncidentStore(stack.table_name, 30)
    assert open_(store, incident("inc-1"), "opspilot-a", "ev-1") is None
    assert open_(store, incident("inc-1"), "opspilot-a", "ev-1") == "event"
    assert store.get_incident("inc-1")["status"] == "open"  # type: ignore[index]
    assert store.event_intake("ev-1")["execution_id"] == "exec-ev-1"  # type: ignore[index]


def test_a_models_second_incident_is_not_opened_while_one_is_open(stack: SimulatedStack) -> None:
    store = IncidentStore(stack.table_name, 30)
    open_(store, incident("inc-1"), "opspilot-a", "ev-1")
    assert open_(store, incident("inc-2"), "opspilot-b", "ev-2") == "model"
    assert store.get_incident("inc-2") is None, "nothing half-written"
    assert store.event_intake("ev-2") is None
    assert store.model_pointer("amazon.nova-pro-v1:0", "us-east-1")["incident_id"] == "inc-1"  # type: ignore[index]


def test_an_expired_model_pointer_or_a_replaced_incident_lets_a_new_one_open(stack: SimulatedStack) -> None:
    store = IncidentStore(stack.table_name, 30)
    open_(store, incident("inc-1"), "opspilot-a", "ev-1", pointer_hours=1)
    later = NOW + timedelta(hours=2)
    assert open_(store, incident("inc-2"), "opspilot-a", "ev-2", now=later) is None
    assert open_(store, incident("inc-3"), "opspilot-a", "ev-3", now=later) == "model"
    assert open_(store, incident("inc-3"), "opspilot-a", "ev-3", now=later, replaces="inc-2") is None


def test_a_join_is_refused_when_the_incident_changed_since_it_was_read(stack: SimulatedStack) -> None:
    store = IncidentStore(stack.table_name, 30)
    open_(store, incident("inc-1"), "opspilot-a", "ev-1")
    record = store.get_incident("inc-1")
    assert record is not None
    intake = {"disposition": "joined", "execution_id": "exec-2", "result": {}}
    assert store.join_incident(record, incident("inc-1"), ["opspilot-b"], intake, "ev-2", NOW) is None
    # a second writer that read the record before that join must read it again
    assert store.join_incident(record, incident("inc-1"), ["opspilot-c"], intake, "ev-3", NOW) == "incident"
    joined = store.get_incident("inc-1")
    assert joined is not None and joined["alarms"] == {"opspilot-a": "ALARM", "opspilot-b": "ALARM"}
    assert joined["version"] == 2


def test_a_resolved_incident_reopens_only_if_it_resolved_after_the_cutoff(stack: SimulatedStack) -> None:
    store = IncidentStore(stack.table_name, 30)
    open_(store, incident("inc-1"), "opspilot-a", "ev-1")
    assert store.resolve("inc-1", NOW, version=1)
    record = store.get_incident("inc-1")
    assert record is not None and record["version"] == 2
    intake = {"disposition": "reopened", "execution_id": "exec-2", "result": {}}
    cutoff = "2026-11-30T10:00:00.001Z"  # resolved at 10:00:00.000: before the cutoff
    assert (
        store.join_incident(
            record, incident("inc-1"), ["opspilot-a"], intake, "ev-2", NOW, reopen_after=cutoff
        )
        == "incident"
    )
    assert (
        store.join_incident(
            record,
            incident("inc-1"),
            ["opspilot-a"],
            intake,
            "ev-2",
            NOW,
            reopen_after="2026-11-30T09:00:00.000Z",
        )
        is None
    )
    reopened = store.get_incident("inc-1")
    assert reopened is not None and reopened["status"] == "open" and reopened["reopen_count"] == 1
    assert "resolved_at" not in reopened


def test_an_alarm_state_change_older_than_the_recorded_one_is_refused(stack: SimulatedStack) -> None:
    store = IncidentStore(stack.table_name, 30)
    assert store.record_alarm_state("opspilot-a", "ALARM", "2026-11-30T10:00:00.000Z", "ev-1", NOW) is None
    assert store.record_alarm_state("opspilot-a", "ALARM", "2026-11-30T10:00:00.000Z", "ev-1", NOW) is None
    newer = store.record_alarm_state("opspilot-a", "OK", "2026-11-30T09:59:00.000Z", "ev-0", NOW)
    assert newer is not None and newer["event_id"] == "ev-1"
    assert store.record_alarm_state("opspilot-a", "OK", "2026-11-30T10:01:00.000Z", "ev-2", NOW) is None


def test_a_keyed_audit_entry_is_written_once(stack: SimulatedStack) -> None:
    store = IncidentStore(stack.table_name, 30)
    store.append_audit("inc-1", "decided", {"n": 1}, NOW, key="exec-1")
    store.append_audit("inc-1", "decided", {"n": 2}, NOW + timedelta(seconds=3), key="exec-1")
    store.append_audit("inc-1", "decided", {"n": 3}, NOW, key="exec-2")
    assert [e["data"]["n"] for e in store.audit_trail("inc-1")] == [1, 3]


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
        # one after the other: each replaces the one before (resolved, its cooldown over)
        open_(store, record, f"opspilot-{i}", f"ev-{i}", replaces=f"inc-{i - 1}")
    listed = store.list_incidents("amazon.nova-pro-v1:0")
    assert [r["incident_id"] for r in (item["incident"] for item in listed)] == ["inc-1", "inc-0", "inc-2"]


def test_the_status_only_moves_forward_and_a_late_writer_still_records_its_fields(
    stack: SimulatedStack,
) -> None:
    store = IncidentStore(stack.table_name, 30)
    open_(store, incident("inc-1"), "opspilot-a", "ev-1")
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
