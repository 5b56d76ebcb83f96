"""The metrics OpsPilot writes about itself (EMF lines in the functions' output), read from a real
run: the state machine on moto's interpreter, the real handlers, Powertools Metrics switched on."""

from __future__ import annotations

import contextlib
import io
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from opspilot_sim.runner import run_scenario
from opspilot_sim.scenario import load
from opspilot_sim.stack import STACK_NAME

SCENARIO = Path(__file__).resolve().parent / "scenarios" / "own-metrics.yaml"
BUNDLED = Path(__file__).resolve().parents[2] / "scenarios"
NOVA = "amazon.nova-pro-v1:0"


def emf_lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{") and '"_aws"' in line]


def run_writing_metrics(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    capture = pytest.MonkeyPatch()
    capture.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        report = run_scenario(load(path), quiet_logs=False)
    capture.undo()
    return report, emf_lines(out.getvalue())


@pytest.fixture(scope="module")
def written() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    return run_writing_metrics(SCENARIO)


def series(lines: list[dict[str, Any]]) -> dict[tuple[str, tuple[tuple[str, str], ...]], list[float]]:
    """(metric name, its dimensions) -> every value written, in order."""
    found: dict[tuple[str, tuple[tuple[str, str], ...]], list[float]] = defaultdict(list)
    for line in lines:
        (directive,) = line["_aws"]["CloudWatchMetrics"]
        (dimensions,) = directive["Dimensions"]
        dims = tuple((d, str(line[d])) for d in sorted(dimensions))
        for metric in directive["Metrics"]:
            found[(metric["Name"], dims)] += list(line[metric["Name"]])
    return found


def test_every_metric_is_in_the_stacks_own_namespace(
    written: tuple[dict[str, Any], list[dict[str, Any]]],
) -> None:
    _, lines = written
    assert lines
    assert {d["Namespace"] for line in lines for d in line["_aws"]["CloudWatchMetrics"]} == {
        f"OpsPilot/{STACK_NAME}"
    }
    assert all(line["service"] == "opspilot" for line in lines)


def test_incidents_opened_and_resolved_are_counted_once(
    written: tuple[dict[str, Any], list[dict[str, Any]]],
) -> None:
    report, lines = written
    got = series(lines)
    service = (("service", "opspilot"),)
    assert got[("IncidentsOpened", service)] == [1.0]
    assert got[("IncidentsResolved", service)] == [1.0]
    assert ("IncidentsReopened", service) not in got
    assert [r["status"] for r in report["incident_records"]] == ["resolved"]


def test_each_action_is_counted_by_its_kind_and_outcome(
    written: tuple[dict[str, Any], list[dict[str, Any]]],
) -> None:
    report, lines = written
    actions = {k: v for k, v in series(lines).items() if k[0] == "Actions"}
    filed = len(report["quota_requests"])
    assert filed == 2  # the RPM and the TPM quota
    key = ("Actions", (("action", "request_quota_increase"), ("outcome", "filed"), ("service", "opspilot")))
    assert actions == {key: [1.0] * filed}


def test_the_sync_writes_each_registered_models_quotas_and_their_new_values_after_an_increase(
    written: tuple[dict[str, Any], list[dict[str, Any]]],
) -> None:
    _, lines = written
    got = series(lines)
    model = (("ModelId", NOVA), ("service", "opspilot"))
    rpm, tpm = got[("ModelQuotaRPM", model)], got[("ModelQuotaTPM", model)]
    assert rpm[0] == 1000 and tpm[0] == 2_000_000  # as provisioned
    assert rpm[-1] > 1000 and tpm[-1] > 2_000_000  # resynced after AWS approved the increases


def test_a_metric_that_cannot_be_written_fails_no_step(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Powertools refuses a metric (here: every write fails); the step goes on, with a warning."""
    from aws_lambda_powertools.metrics import EphemeralMetrics, Metrics

    from opspilot.handlers import _metrics

    def refuse(*_: Any, **__: Any) -> None:
        raise ValueError("EMF refused")

    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    monkeypatch.setattr(EphemeralMetrics, "flush_metrics", refuse)
    monkeypatch.setattr(Metrics, "add_metric", refuse)
    _metrics.count_by({"action": "open_support_case", "outcome": "filed"}, {"Actions": 1})
    _metrics.count("PendingApprovals", 1)

    @_metrics.publishes_metrics
    def step() -> str:
        return "done"

    assert step() == "done"
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [
        "metric not written",
        "metric not recorded",
    ]


def test_a_throttled_follow_up_write_is_finished_by_the_retry_and_the_opening_counted_once(
    written: tuple[dict[str, Any], list[dict[str, Any]]],
) -> None:
    """Classify opens the incident (its transaction, DynamoDB's second TransactWriteItems attempt
    of the run) and its follow-up audit write (attempts 3 to 5) fails with a 500 on every botocore
    attempt: Step Functions retries Classify, which finishes the follow-up; the facts are the
    control run's, and IncidentsOpened is written once, not lost with the failed attempt (issue 12)."""
    control, _ = written
    doc = load(SCENARIO)
    faults = [
        {
            "service": "dynamodb",
            "operation": "TransactWriteItems",
            "error": "InternalServerError",
            "on_call": n,
        }
        for n in (3, 4, 5)
    ]
    capture = pytest.MonkeyPatch()
    capture.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        report = run_scenario({**doc, "faults": faults}, quiet_logs=False)
    capture.undo()

    opened = report["incidents"][0]
    assert opened["execution"]["states"].count("Classify") == 1
    assert (
        opened["execution"]["lambda_invocations"]
        == control["incidents"][0]["execution"]["lambda_invocations"] + 1
    ), "Classify was retried"
    assert [e["disposition"] for e in report["incidents"]] == [e["disposition"] for e in control["incidents"]]
    assert [r["audit"] for r in report["incident_records"]] == [
        r["audit"] for r in control["incident_records"]
    ]
    assert [r["alarms"] for r in report["incident_records"]] == [
        r["alarms"] for r in control["incident_records"]
    ]
    asked = [
        [(r["quota_code"], r["desired"], r["status"]) for r in run["quota_requests"]]
        for run in (report, control)
    ]
    assert asked[0] == asked[1]
    assert series(emf_lines(out.getvalue()))[("IncidentsOpened", (("service", "opspilot"),))] == [1.0]


def test_the_pending_approval_gauges_fall_when_the_last_round_of_links_expires() -> None:
    """approval-timeout: nobody answers the first approver nor the escalation. Each request
    writes the gauges (one pending); when the escalated round expires, Record Outcome writes them
    again, so the dashboard does not keep showing an approval nobody can answer any more."""
    report, lines = run_writing_metrics(BUNDLED / "approval-timeout.yaml")
    (event,) = report["incidents"]
    assert event["approval"]["status"] == "expired"
    found = series(lines)
    pending = found[("PendingApprovals", (("service", "opspilot"),))]
    oldest = found[("OldestPendingApprovalAge", (("service", "opspilot"),))]
    assert pending == [1.0, 1.0, 0.0], "asked, escalated (the first links superseded), expired"
    assert len(oldest) == 3 and oldest[-1] == 0.0
