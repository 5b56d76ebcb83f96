"""Threshold sync decisions: what is looked at, what is written, what is kept."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from opspilot.domain.alarm_names import alarm_name
from opspilot.domain.errors import InvalidInput
from opspilot.domain.model_alarms import QuotaSnapshot, StackDefaults, create_params
from opspilot.domain.registry import ModelEntry, validate_entry
from opspilot.domain.sync_state import AlarmRecord, ModelState
from opspilot.domain.threshold_sync import (
    Checks,
    ModelPlan,
    SyncRequest,
    anomaly_allowance,
    plan_checks,
    plan_model,
    plan_threshold_changes,
    request_from_event,
)

STACK = StackDefaults("opspilot-", 80, 50, "opspilot")
NOVA = "amazon.nova-pro-v1:0"
RPM, TPM = "L-F2717A44", "L-CE33604C"
AT = "2026-11-30T10:00:00.000Z"


def quotas(rpm: float = 1000, tpm: float = 2_000_000) -> QuotaSnapshot:
    return QuotaSnapshot(
        {
            RPM: ("On-demand model inference requests per minute for Amazon Nova Pro", rpm),
            TPM: ("On-demand model inference tokens per minute for Amazon Nova Pro", tpm),
        }
    )


def nova(**changes: Any) -> ModelEntry:
    raw = {"model_id": NOVA, "display_name": "Nova Pro", "environment": "production", "owner": "claims"}
    return validate_entry(raw | changes)


def run(
    request: SyncRequest,
    entries: dict[str, tuple[ModelEntry, int]],
    states: dict[str, ModelState],
    snapshot: QuotaSnapshot | None,
    existing: dict[str, dict[str, Any]],
) -> tuple[Checks, dict[str, ModelPlan]]:
    """Both steps, with ``existing`` standing in for what DescribeAlarms returns."""
    checks = plan_checks(request, entries, states, snapshot, STACK)
    described = {n: existing[n] for n in checks.names if n in existing}
    plans = {}
    for model_id in sorted(checks.reconcile | checks.quota_checked):
        plans[model_id] = plan_model(
            model_id,
            entry=entries.get(model_id),
            desired=checks.desired.get(model_id, []),
            checked=checks.names,
            described=described,
            state=states.get(model_id),
            reconcile=model_id in checks.reconcile,
            request=request,
            at=AT,
            run_id="r1",
        )
    return checks, plans


def apply(plans: dict[str, ModelPlan], existing: dict[str, dict[str, Any]]) -> dict[str, ModelState]:
    """What CloudWatch and the registry hold after the writes."""
    for plan in plans.values():
        for write in plan.writes:
            if write.op == "put":
                arn = f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{write.alarm_name}"
                existing[write.alarm_name] = {k: v for k, v in write.params.items() if k != "Tags"} | {
                    "AlarmArn": arn
                }
            elif write.op == "delete":
                existing.pop(write.alarm_name)
    return {m: p.state for m, p in plans.items() if p.state is not None}


@pytest.fixture
def provisioned() -> tuple[
    dict[str, tuple[ModelEntry, int]], dict[str, ModelState], dict[str, dict[str, Any]]
]:
    entries = {NOVA: (nova(), 1)}
    existing: dict[str, dict[str, Any]] = {}
    _, plans = run(SyncRequest(reason="registry_change", model_ids=[NOVA]), entries, {}, quotas(), existing)
    return entries, apply(plans, existing), existing


def test_a_new_model_is_provisioned_from_an_empty_account() -> None:
    checks, plans = run(SyncRequest(reason="schedule"), {NOVA: (nova(), 1)}, {}, quotas(), {})
    assert checks.reconcile == {NOVA} and len(checks.names) == 7, "production: 6 alarms and one band"
    writes = plans[NOVA].writes
    assert [w.op for w in writes] == ["put"] * 7
    assert all(w.record and w.record.action == "create" for w in writes)
    rpm = next(w for w in writes if w.alarm_name.endswith("rpm-pressure"))
    assert rpm.params["Threshold"] == 800 and rpm.params["Tags"]
    assert rpm.record and (rpm.record.old_threshold, rpm.record.new_threshold, rpm.record.quota_value) == (
        None,
        800,
        1000,
    )
    state = plans[NOVA].state
    assert state and state.alarms[rpm.alarm_name].threshold == 800 and state.fingerprint


def test_a_run_with_nothing_changed_looks_at_no_alarm(provisioned: Any) -> None:
    entries, states, existing = provisioned
    checks, plans = run(SyncRequest(reason="schedule"), entries, states, quotas(), existing)
    assert checks.names == [] and checks.reconcile == frozenset()
    assert all(not p.writes for p in plans.values())


def test_a_raised_quota_raises_only_its_threshold_keeping_the_rest_of_the_alarm(provisioned: Any) -> None:
    entries, states, existing = provisioned
    rpm_alarm = "opspilot-amazon-nova-pro-v1-0-rpm-pressure"
    existing[rpm_alarm]["AlarmActions"] = ["arn:aws:sns:us-east-1:123456789012:added-by-hand"]
    checks, plans = run(SyncRequest(reason="schedule"), entries, states, quotas(rpm=1500), existing)
    assert checks.names == [rpm_alarm]
    (write,) = plans[NOVA].writes
    assert write.params["Threshold"] == 1200
    assert write.params["AlarmActions"] == ["arn:aws:sns:us-east-1:123456789012:added-by-hand"]
    assert write.record and (write.record.action, write.record.old_threshold, write.record.new_threshold) == (
        "threshold",
        800,
        1200,
    )
    assert (write.record.quota_code, write.record.quota_value, write.record.reason) == (RPM, 1500, "schedule")


def test_a_failed_quota_lookup_keeps_every_threshold(provisioned: Any) -> None:
    entries, states, existing = provisioned
    checks, plans = run(SyncRequest(reason="schedule"), entries, states, None, existing)
    assert checks.names == [] and sorted(checks.kept) == [
        "opspilot-amazon-nova-pro-v1-0-rpm-pressure",
        "opspilot-amazon-nova-pro-v1-0-tpm-pressure",
    ]
    assert not any(p.writes for p in plans.values())


def test_a_reconcile_without_quotas_fixes_the_definition_but_keeps_the_threshold(provisioned: Any) -> None:
    entries, states, existing = provisioned
    rpm_alarm = "opspilot-amazon-nova-pro-v1-0-rpm-pressure"
    existing[rpm_alarm]["EvaluationPeriods"] = 1
    _, plans = run(SyncRequest(reason="reconcile", full=True), entries, states, None, existing)
    (write,) = plans[NOVA].writes
    assert write.params["EvaluationPeriods"] == 5 and write.params["Threshold"] == 800
    assert write.record and write.record.fields == ["EvaluationPeriods"] and rpm_alarm in plans[NOVA].kept


def test_a_new_model_without_quotas_gets_every_alarm_but_the_pressure_ones() -> None:
    _, plans = run(SyncRequest(reason="schedule"), {NOVA: (nova(), 1)}, {}, None, {})
    # the per-minute token alarm waits for its quota; RPM and daily ones exist only where listed
    assert len(plans[NOVA].writes) == 5 and plans[NOVA].pending == [
        "opspilot-amazon-nova-pro-v1-0-tpm-pressure"
    ]


def test_an_owner_change_retags_and_rewrites_only_the_descriptions(provisioned: Any) -> None:
    entries, states, existing = provisioned
    entries = {NOVA: (nova(owner="fraud"), 2)}
    _, plans = run(
        SyncRequest(reason="registry_change", model_ids=[NOVA]), entries, states, quotas(), existing
    )
    ops = [(w.op, w.record.action if w.record else None) for w in plans[NOVA].writes]
    assert ops.count(("tag", "retag")) == 7 and ops.count(("put", "update")) == 7
    assert all(
        w.record and w.record.fields == ["AlarmDescription"] for w in plans[NOVA].writes if w.op == "put"
    )
    tags = next(w.params["Tags"] for w in plans[NOVA].writes if w.op == "tag")
    assert tags["opspilot:owner"] == "fraud"


def test_a_stack_default_change_is_noticed_without_a_registry_change(provisioned: Any) -> None:
    entries, states, _ = provisioned
    checks = plan_checks(SyncRequest(reason="schedule"), entries, states, quotas(), STACK)
    assert not checks.reconcile
    moved = StackDefaults("opspilot-", 90, 50, "opspilot")
    assert plan_checks(SyncRequest(reason="schedule"), entries, states, quotas(), moved).names == [
        "opspilot-amazon-nova-pro-v1-0-rpm-pressure",
        "opspilot-amazon-nova-pro-v1-0-tpm-pressure",
    ]
    renamed = StackDefaults("ops-", 80, 50, "opspilot")
    assert plan_checks(SyncRequest(reason="schedule"), entries, states, quotas(), renamed).reconcile == {NOVA}


def test_a_removed_model_loses_its_alarms(provisioned: Any) -> None:
    _, states, existing = provisioned
    _, plans = run(SyncRequest(reason="registry_change", model_ids=[NOVA]), {}, states, quotas(), existing)
    assert [w.op for w in plans[NOVA].writes] == ["delete"] * 7 and plans[NOVA].state is None


def test_switching_an_alarm_off_deletes_it(provisioned: Any) -> None:
    _, states, existing = provisioned
    entries = {NOVA: (nova(alarms={"invocations-anomaly": {"enabled": False}}), 2)}
    _, plans = run(
        SyncRequest(reason="registry_change", model_ids=[NOVA]), entries, states, quotas(), existing
    )
    deletes = [w.alarm_name for w in plans[NOVA].writes if w.op == "delete"]
    assert deletes == ["opspilot-amazon-nova-pro-v1-0-invocations-anomaly"]


def test_a_quota_scoped_sync_only_touches_models_on_that_quota(provisioned: Any) -> None:
    entries, states, existing = provisioned
    request = SyncRequest(reason="quota_increase", quota_codes=["L-99999999"])  # no such quota
    checks, _ = run(request, entries, states, quotas(rpm=2000), existing)
    assert checks.names == []
    checks, _ = run(request.replace(quota_codes=[RPM]), entries, states, quotas(rpm=2000), existing)
    assert checks.names == ["opspilot-amazon-nova-pro-v1-0-rpm-pressure"]


def test_the_pure_threshold_question_for_the_workflow(provisioned: Any) -> None:
    entries, states, _ = provisioned
    assert plan_threshold_changes([e for e, _ in entries.values()], states, quotas(), STACK) == []
    (change,) = plan_threshold_changes([e for e, _ in entries.values()], states, quotas(tpm=3_000_000), STACK)
    assert (change.kind, change.old_threshold, change.new_threshold, change.quota_value) == (
        "tpm-pressure",
        1_600_000,
        2_400_000,
        3_000_000,
    )


def test_creating_an_alarm_needs_a_threshold() -> None:
    checks = plan_checks(SyncRequest(reason="schedule"), {NOVA: (nova(), 1)}, {}, None, STACK)
    rpm = next(a for a in checks.desired[NOVA] if a.kind == "tpm-pressure")
    with pytest.raises(ValueError, match="without a threshold"):
        create_params(rpm)


def stream(*keys: str) -> dict[str, Any]:
    return {
        "Records": [
            {"eventName": "MODIFY", "dynamodb": {"Keys": {"pk": {"S": "REGISTRY"}, "sk": {"S": k}}}}
            for k in keys
        ]
    }


def stack_request(kind: str) -> dict[str, Any]:
    return {
        "RequestType": kind,
        "ResponseURL": "https://s3/x",
        "StackId": "s",
        "RequestId": "r",
        "LogicalResourceId": "ModelAlarms",
    }


@pytest.mark.parametrize(
    ("event", "reason", "model_ids", "stack_request"),
    [
        (stream("ENTRY#a.b-v1", "ENTRY#a.b-v1", "ENTRY#c.d"), "registry_change", ["a.b-v1", "c.d"], None),
        ({"reason": "schedule"}, "schedule", [], None),
        ({"reason": "quota_increase", "quota_codes": [RPM], "execution_id": "x"}, "quota_increase", [], None),
        (
            stack_request("Update"),
            "stack_update",
            [],
            "Update",
        ),
        (
            stack_request("Delete"),
            "stack_delete",
            [],
            "Delete",
        ),
    ],
)
def test_what_started_the_sync(
    event: dict[str, Any], reason: str, model_ids: list[str], stack_request: str | None
) -> None:
    request, stack_event = request_from_event(event)
    assert (request.reason, request.model_ids) == (reason, model_ids)
    assert (stack_event.request_type if stack_event else None) == stack_request


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"reason": "whenever"}, "reason"),
        ({"reason": "schedule", "full": "often"}, "full"),
        (stream("STATE#a.b"), "Records.0.dynamodb.Keys.sk"),
        ({"Records": [{"dynamodb": {}}]}, "Records.0.dynamodb.Keys"),
        ({"Records": {"dynamodb": {}}}, "Records"),
        ({**stack_request("Update"), "RequestId": None}, "RequestId"),
        ({**stack_request("Update"), "RequestType": "Replace"}, "RequestType"),
        ({"request": [], "execution_id": "arn:x"}, "request"),
    ],
)
def test_an_unreadable_trigger_names_the_field(event: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape(f"field '{field}':")) as raised:
        request_from_event(event)
    assert raised.value.__cause__ is None or getattr(raised.value.__cause__, "field", field) == field


def test_a_round_of_the_state_machine_carries_its_execution_id() -> None:
    request, stack = request_from_event(
        {"request": {"reason": "reconcile", "full": True, "continued": True}, "execution_id": "arn:x"}
    )
    assert (request.reason, request.full, request.continued, request.execution_id, stack) == (
        "reconcile",
        True,
        True,
        "arn:x",
        None,
    )


def test_the_event_fixtures_start_the_sync_they_describe(load_event: Callable[[str], dict[str, Any]]) -> None:
    stream, _ = request_from_event(load_event("sync-registry-stream.json"))
    assert (stream.reason, stream.model_ids) == (
        "registry_change",
        ["amazon.nova-pro-v1:0", "us.anthropic.claude-3-7-sonnet-20250219-v1:0"],
    )
    increase, _ = request_from_event(load_event("sync-quota-increase.json"))
    assert (increase.reason, increase.quota_codes) == ("quota_increase", ["L-F2717A44"])
    delete, stack_event = request_from_event(load_event("sync-stack-delete.json"))
    assert delete.reason == "stack_delete" and stack_event is not None
    assert (stack_event.logical_resource_id, stack_event.physical_resource_id) == (
        "ModelAlarms",
        "opspilot-model-alarms",
    )


def many(count: int, environment: str = "production") -> dict[str, tuple[ModelEntry, int]]:
    return {
        f"amazon.bench-{i:02d}-v1:0": (
            nova(
                model_id=f"amazon.bench-{i:02d}-v1:0",
                environment=environment,
                quota_codes={"rpm": RPM, "tpm": TPM},
            ),
            1,
        )
        for i in range(count)
    }


def test_bands_stay_within_the_anomaly_budget_and_keep_the_ones_that_exist() -> None:
    budget = StackDefaults("opspilot-", 80, 50, "opspilot", anomaly_budget=3)
    entries = many(5)
    checks = plan_checks(SyncRequest(reason="schedule"), entries, {}, quotas(), budget)
    bands = sorted(a.name for alarms in checks.desired.values() for a in alarms if a.kind.endswith("anomaly"))
    assert len(bands) == 3 and len(checks.over_budget) == 2
    assert bands == [f"opspilot-amazon-bench-{i:02d}-v1-0-invocations-anomaly" for i in range(3)]
    # models that have their band keep it when earlier-sorting production models arrive
    later = sorted(entries)[2:]
    states = {
        m: ModelState(
            model_id=m,
            pool=m,
            entry_version=1,
            alarms={
                alarm_name("opspilot-", m, "invocations-anomaly"): AlarmRecord(kind="invocations-anomaly")
            },
            synced_at="2026-11-30T10:00:00.000Z",
        )
        for m in later
    }
    assert anomaly_allowance(entries, states, budget) == {
        alarm_name("opspilot-", m, "invocations-anomaly") for m in later
    }


def test_a_round_covers_only_the_models_after_its_start() -> None:
    entries = many(4)
    request = SyncRequest(reason="reconcile", full=True, start_after="amazon.bench-01-v1:0")
    checks = plan_checks(request, entries, {}, quotas(), STACK)
    assert checks.reconcile == {"amazon.bench-02-v1:0", "amazon.bench-03-v1:0"}
    assert all("bench-00" not in n and "bench-01" not in n for n in checks.names)
