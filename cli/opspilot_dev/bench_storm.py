"""The storm benchmark (issue 12): 1,000 alarm events over 20 models, with flapping, duplicate
and out-of-order deliveries and forged stamps, through the real state machine and handlers.

Printed as totals (``opspilot_sim.report.totals``): what became of every delivery, incidents
opened, joined, reopened and resolved, quota requests filed and refused by the quota governor
with reasons, approvals, transitions and Lambda invocations per event. Targets (issue 12): at most
one open incident per model at any time, no delivery unaccounted for, and the model held at
880-950 RPM gets no request beyond its first.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter
from typing import Any

MODELS = 20
HELD = "bench.model-00-v1:0"  # held at 880-950 RPM against an RPM quota of 1,000


def _model(i: int) -> str:
    return f"bench.model-{i:02d}-v1:0"


def _codes(i: int) -> tuple[str, str]:
    return f"L-0000B0{i:02X}", f"L-0000B1{i:02X}"


def storm_scenario(events: int = 1000, models: int = MODELS, seed: int = 12) -> dict[str, Any]:
    """A seeded storm: each event flips one alarm (so alarms flap), some are delivered twice or
    late, a few carry forged stamps."""
    rng = random.Random(seed)
    doc: dict[str, Any] = {
        "name": "storm",
        "description": f"{events} events over {models} models: flapping, duplicates, late deliveries.",
        "parameters": {"Environment": "production", "DryRun": False},
        "models": [],
        "quotas": [],
        "alarms": [],
        "events": [],
        "quota_decisions": [],
    }
    overrides = {}
    for i in range(models):
        model, (rpm, tpm) = _model(i), _codes(i)
        overrides[model] = {"rpm": rpm, "tpm": tpm}
        peak = 950 if model == HELD else rng.choice([300, 600, 850, 950, 990])
        doc["models"].append(
            {
                "model_id": model,
                "usage": {"rpm_steady": 880 if model == HELD else peak // 2, "rpm_peak": peak},
            }
        )
        name = f"Bench Model {i:02d}"
        doc["quotas"] += [
            {"code": rpm, "name": f"On-demand model inference requests per minute for {name}", "value": 1000},
            {
                "code": tpm,
                "name": f"On-demand model inference tokens per minute for {name}",
                "value": 2000000,
            },
        ]
        for quota in doc["quotas"][-2:]:  # not AWS's: the scenario check asks where they come from
            quota["source"] = "synthetic: the storm benchmark's own models, codes and names (no AWS quota)"
        doc["quota_decisions"] += [{"code": rpm, "status": "APPROVED"}, {"code": tpm, "status": "APPROVED"}]
        short = f"bench-{i:02d}"
        doc["alarms"] += [
            {"name": f"opspilot-{short}-rpm", "metric": "Invocations", "model_id": model, "threshold": 800},
            {
                "name": f"opspilot-{short}-throttles",
                "metric": "InvocationThrottles",
                "model_id": model,
                "threshold": 10,
            },
            {
                "name": f"opspilot-{short}-errors",
                "metric": "InvocationServerErrors",
                "model_id": model,
                "threshold": 5,
            },
        ]
    doc["parameters"]["QuotaCodeOverrides"] = json.dumps(overrides)
    states = {a["name"]: "OK" for a in doc["alarms"]}
    names = list(states)
    weights = [6 if "rpm" in n else 3 if "throttles" in n else 1 for n in names]
    for _ in range(events):
        name = rng.choices(names, weights)[0]
        roll = rng.random()
        if roll < 0.01:  # forged or from a broken clock: the alarm does not change
            stamp = rng.choice(["2001-01-01T00:00:00Z", "2099-01-01T00:00:00Z"])
            doc["events"].append({"alarm": name, "state": "ALARM", "stamped": stamp})
            continue
        states[name] = "OK" if states[name] == "ALARM" else "ALARM"
        spec: dict[str, Any] = {"alarm": name, "state": states[name]}
        if roll < 0.09:
            spec["duplicates"] = 1
        elif roll < 0.15:
            spec["delivered_after"] = rng.randint(1, 3)
        doc["events"].append(spec)
    return doc


def bench_storm(events: int = 1000, summary: bool = False) -> bool:
    from opspilot_sim.report import render_summary, render_totals
    from opspilot_sim.runner import run_scenario
    from opspilot_sim.scenario import validate

    started = time.monotonic()
    report = run_scenario(validate(storm_scenario(events)))
    seconds = time.monotonic() - started
    t = report["totals"]
    print(f"\nstorm: {events} events over {MODELS} models, {seconds:.0f} s")
    print(render_summary(report) if summary else "\n".join(render_totals(report)))
    held_rpm = _codes(0)[0]
    held_requests = Counter(r["quota_code"] for r in report["quota_requests"])[held_rpm]
    reopened = Counter(r["model_id"] for r in report["incident_records"] for _ in range(r["reopen_count"]))
    checks = {
        "at most 1 open incident per model at any time": t["max_open_incidents_per_model"] <= 1,
        "0 deliveries unaccounted for": t["unaccounted"] == 0,
        f"{HELD} (880-950 RPM): no RPM request beyond its first ({held_requests})": held_requests <= 1,
    }
    print(f"   {HELD}: {reopened[HELD]} reopenings, {held_requests} RPM request(s)")
    for what, ok in checks.items():
        print(f"   target {what}: {'met' if ok else 'MISSED'}")
    return all(checks.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="opspilot-bench-storm", description=__doc__)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--summary", action="store_true", help="one line per incident as well")
    args = parser.parse_args(argv)
    return 0 if bench_storm(args.events, args.summary) else 1


if __name__ == "__main__":
    sys.exit(main())
