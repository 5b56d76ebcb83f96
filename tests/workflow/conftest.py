"""Workflow tests run the real ASL on moto's interpreter with the real handlers (opspilot simulate).

Each scenario runs once per test session; tests read its report, which is built from what the
simulated AWS holds afterwards (incident table, notification topic, execution history, requests
the simulated Service Quotas and Support received).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from opspilot_sim.runner import run_scenario
from opspilot_sim.scenario import load

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = ROOT / "scenarios"
EXTRA = Path(__file__).resolve().parent / "scenarios"


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
