"""``opspilot``: simulate scenarios offline, manage models, read incidents, resolve quotas,
replay undelivered alarm events."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from opspilot_cli import incidents_cmd, models_cmd, quotas_cmd, replay_cmd
from opspilot_sim.scenario import ScenarioError, load


def _simulate(args: argparse.Namespace) -> int:
    from opspilot_sim.report import render_summary, render_text
    from opspilot_sim.runner import run_scenario

    try:
        scenarios = [load(Path(p)) for p in args.scenarios]
    except ScenarioError as exc:
        print(f"opspilot: {exc}", file=sys.stderr)
        return 2
    if args.interactive:
        from opspilot_sim.interactive import simulate_interactive

        return simulate_interactive(scenarios, args.port, verbose=args.verbose, as_json=args.json)
    reports = []
    for scenario in scenarios:
        report = run_scenario(scenario, quiet_logs=not args.verbose)
        reports.append(report)
        if not args.json:
            print(render_summary(report) if args.summary else render_text(report))
    if args.json:
        doc = reports[0] if len(reports) == 1 else {"scenarios": reports}
        print(json.dumps(doc, indent=2, default=str))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="opspilot", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sim = sub.add_parser("simulate", help="run scenario files offline and print the incident reports")
    sim.add_argument("scenarios", nargs="+", metavar="SCENARIO", help="scenario file (.yaml, .yml or .json)")
    sim.add_argument("--json", action="store_true", help="print the report as JSON")
    sim.add_argument(
        "--summary", action="store_true", help="for long runs: the totals and one line per incident"
    )
    sim.add_argument("--verbose", action="store_true", help="show the handlers' logs")
    sim.add_argument(
        "--interactive",
        action="store_true",
        help="serve the approval API on localhost and wait for a person to decide in a browser",
    )
    sim.add_argument("--port", type=int, default=8765, help="--interactive: port on 127.0.0.1 (0: any free)")
    sim.set_defaults(func=_simulate)
    models_cmd.add_parser(sub)
    incidents_cmd.register(sub)
    replay_cmd.register(sub)
    quotas_cmd.register(sub)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
