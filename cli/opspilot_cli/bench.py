"""``make bench``: the foundation's cost figures, measured, with the issue's targets.

Per bundled scenario and incident: state transitions, Lambda invocations and AWS API calls by
service. Per handler module: fresh-process import time as a ratio to ``import boto3`` alone
(median of several runs). Targets: a repeated event for an open incident costs at most 3 state
transitions and no Lambda invocation; each handler's import is at most 1.5x the boto3 floor.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from collections import Counter
from pathlib import Path

from opspilot_cli.template import load_template, resources_of_type

REPEAT_MAX_TRANSITIONS = 3
IMPORT_RATIO_MAX = 1.5


def import_seconds(module: str, runs: int) -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    samples = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
        samples.append(float(out.stdout.strip()))
    return statistics.median(samples)


def bench_scenarios(paths: list[str]) -> bool:
    from opspilot_cli.runner import run_scenario
    from opspilot_cli.scenario import load

    ok = True
    print(f"{'scenario / event':58} {'transitions':>11} {'lambdas':>8} {'api calls':>9}  by service")
    for path in paths:
        report = run_scenario(load(Path(path)))
        for inc in report["incidents"]:
            ex = inc["execution"]
            by_service = Counter[str]()
            for call, count in ex["api_calls"].items():
                by_service[call.split(":", 1)[0]] += count
            label = f"{report['scenario']}: {inc['event']}"[:58]
            flag = ""
            if inc["attached_to_open_incident"]:
                within = ex["state_transitions"] <= REPEAT_MAX_TRANSITIONS and ex["lambda_invocations"] == 0
                ok &= within
                flag = "  repeat: " + ("OK" if within else "OVER TARGET")
            services = ", ".join(f"{k} {v}" for k, v in sorted(by_service.items()))
            print(
                f"{label:58} {ex['state_transitions']:>11} {ex['lambda_invocations']:>8} "
                f"{sum(by_service.values()):>9}  {services}{flag}"
            )
    return ok


def bench_imports(runs: int) -> bool:
    """Each handler against the boto3 floor, measured in alternating fresh processes so that
    load on the machine affects both sides of each ratio alike; the median ratio is reported."""
    functions = resources_of_type(load_template(), "AWS::Serverless::Function").values()
    handlers = sorted({f["Properties"]["Handler"].rpartition(".")[0] for f in functions})
    print(f"\nfresh-process import time vs 'import boto3', median of {runs} alternating pairs")
    ok = True
    for module in handlers:
        pairs = [(import_seconds("boto3", 1), import_seconds(module, 1)) for _ in range(runs)]
        ratio = statistics.median(h / b for b, h in pairs)
        floor = statistics.median(b for b, _ in pairs)
        seconds = statistics.median(h for _, h in pairs)
        within = ratio <= IMPORT_RATIO_MAX
        ok &= within
        print(
            f"  {module:42} {seconds * 1000:5.0f} ms (boto3 {floor * 1000:4.0f} ms)  {ratio:4.2f}x  "
            f"{'OK' if within else 'OVER TARGET'}"
        )
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="opspilot-bench", description=__doc__)
    parser.add_argument("scenarios", nargs="+")
    parser.add_argument("--runs", type=int, default=5, help="fresh processes per import measurement")
    args = parser.parse_args(argv)
    scenarios_ok = bench_scenarios(args.scenarios)
    imports_ok = bench_imports(args.runs)
    from opspilot_cli.bench_sync import bench_sync  # threshold sync of 10, 100, 500 models (issue 6)

    sync_ok = bench_sync()
    verdict = {True: "met", False: "MISSED"}
    print(f"\ntargets: repeated event {verdict[scenarios_ok]}; handler imports {verdict[imports_ok]}")
    print(f"         alarm sync cost follows changes, not models {verdict[sync_ok]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
