"""Workflow tests run the real ASL on moto's interpreter with the real handlers (opspilot simulate).

Each scenario runs once per test session; tests read its report, which is built from what the
simulated AWS holds afterwards (incident table, notification topic, execution history, requests
the simulated Service Quotas and Support received).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from opspilot_sim.runner import run_scenario
from opspilot_sim.scenario import load

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = ROOT / "scenarios"
EXTRA = Path(__file__).resolve().parent / "scenarios"

World = Callable[..., dict[str, Any]]


@pytest.fixture(scope="session")
def scenario_report() -> Callable[[str], dict[str, Any]]:
    cache: dict[str, dict[str, Any]] = {}

    def run(name: str) -> dict[str, Any]:
        if name not in cache:
            path = BUNDLED / f"{name}.yaml"
            if not path.exists():
                path = EXTRA / f"{name}.yaml"
            cache[name] = run_scenario(load(path))
        return cache[name]

    return run


@pytest.fixture
def nova_pro_world() -> World:
    """The world of the workflow tests that are about something else (delivery, notices, request
    errors, the governor): Nova Pro at 400 requests per minute, peaking at 950, against its quota of
    1,000 (L-F2717A44), watched by an RPM alarm at 800. ``sections`` add to the scenario
    (``events``, ``faults``, ``quota_decisions``); ``more_alarms`` watch the model as well."""

    def world(
        name: str,
        environment: str = "production",
        *,
        dry_run: bool = False,
        adjustable: bool | None = None,
        more_alarms: Sequence[dict[str, Any]] = (),
        **sections: Any,
    ) -> dict[str, Any]:
        quota: dict[str, Any] = {
            "code": "L-F2717A44",
            "name": "On-demand model inference requests per minute for Amazon Nova Pro",
            "value": 1000,
        }
        if adjustable is not None:  # the June-2025 General Reference lists it as not adjustable
            quota["adjustable"] = adjustable
        return {
            "name": name,
            "parameters": {"Environment": environment, "DryRun": dry_run},
            "models": [{"model_id": "amazon.nova-pro-v1:0", "usage": {"rpm_steady": 400, "rpm_peak": 950}}],
            "quotas": [quota],
            "alarms": [
                {
                    "name": "opspilot-nova-rpm",
                    "metric": "Invocations",
                    "model_id": "amazon.nova-pro-v1:0",
                    "threshold": 800,
                },
                *more_alarms,
            ],
            **sections,
        }

    return world
