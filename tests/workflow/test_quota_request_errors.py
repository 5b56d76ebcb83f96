"""RequestServiceQuotaIncrease errors, as the simulated Service Quotas returns them (modeled error
shapes of botocore's service-quotas model): each has a recorded outcome, none fails the incident."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from opspilot_sim.runner import run_scenario
from opspilot_sim.scenario import validate

World = Callable[..., dict[str, Any]]  # the nova_pro_world fixture (conftest.py)


def scenario(nova_pro_world: World, fault: str, times: int) -> dict[str, Any]:
    return validate(
        nova_pro_world(
            "quota-request-" + fault.lower().replace("exception", ""),
            adjustable=True,  # so that an increase is requested
            quota_decisions=[{"code": "L-F2717A44", "status": "APPROVED"}],
            faults=[
                {
                    "service": "service-quotas",
                    "operation": "RequestServiceQuotaIncrease",
                    "error": fault,
                    "times": times,
                }
            ],
            events=[{"alarm": "opspilot-nova-rpm", "state": "ALARM"}],
        )
    )


@pytest.mark.parametrize(
    ("fault", "status", "recorded"),
    [
        ("QuotaExceededException", "failed", "QuotaExceededException"),
        ("IllegalArgumentException", "failed", "IllegalArgumentException"),
        ("NoSuchResourceException", "failed", "NoSuchResourceException"),
        ("ResourceAlreadyExistsException", "skipped", "ResourceAlreadyExistsException"),
        ("AccessDeniedException", "failed", "AccessDeniedException"),
    ],
)
def test_each_request_error_is_a_recorded_outcome(
    nova_pro_world: World, fault: str, status: str, recorded: str
) -> None:
    report = run_scenario(scenario(nova_pro_world, fault, times=1))
    (incident,) = report["incidents"]
    (action,) = incident["actions"]
    assert action["status"] == status
    assert recorded in str(action["result"])
    assert incident["execution"]["status"] == "SUCCEEDED", "an action's failure is recorded, not a crash"
    assert any("handled" in n["subject"] for n in incident["notifications"])


def test_throttling_is_retried_then_the_request_goes_through(nova_pro_world: World) -> None:
    # botocore makes 3 attempts (all throttled: one call as recorded), then the workflow's Retry
    # runs ExecuteAction again, which finds no request filed and sends it once more. The report
    # lists the refused call apart, not as a change sent (issue 12)
    report = run_scenario(scenario(nova_pro_world, "TooManyRequestsException", times=3))
    (incident,) = report["incidents"]
    (action,) = incident["actions"]
    assert action["status"] == "executed"
    assert [c["operation"] for c in report["changes_sent_to_aws"]] == ["RequestServiceQuotaIncrease"]
    assert [(c["operation"], c["error"]) for c in report["changes_failed"]] == [
        ("RequestServiceQuotaIncrease", "TooManyRequestsException")
    ]
    assert report["quota_requests"][0]["status"] == "APPROVED"


def test_a_failure_while_watching_keeps_what_was_done(nova_pro_world: World) -> None:
    doc = scenario(nova_pro_world, "QuotaExceededException", times=1)
    doc["name"] = "watch-denied"
    doc["faults"] = [
        {
            "service": "service-quotas",
            "operation": "GetRequestedServiceQuotaChange",
            "error": "AccessDeniedException",
        }
    ]
    report = run_scenario(validate(doc))
    (incident,) = report["incidents"]
    assert incident["execution"]["status"] == "FAILED"
    assert incident["status"] == "acted", "the request was filed: the record must still say so"
    assert incident["failure"]["error"] == "AwsPermissionError"
    assert [a["status"] for a in incident["actions"]] == ["executed"]
    assert any("FAILED" in n["subject"] for n in incident["notifications"])
