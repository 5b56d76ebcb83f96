"""``opspilot``: developer CLI: simulate scenarios offline, check the ASL, manage models, read incidents,
replay undelivered alarm events."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from opspilot_cli import incidents_cmd, models_cmd, replay_cmd
from opspilot_cli.scenario import ScenarioError, load


def _simulate(args: argparse.Namespace) -> int:
    from opspilot_cli.report import render_text
    from opspilot_cli.runner import run_scenario

    try:
        scenarios = [load(Path(p)) for p in args.scenarios]
    except ScenarioError as exc:
        print(f"opspilot: {exc}", file=sys.stderr)
        return 2
    if args.interactive:
        from opspilot_cli.interactive import simulate_interactive

        return simulate_interactive(scenarios, args.port, verbose=args.verbose, as_json=args.json)
    reports = []
    for scenario in scenarios:
        report = run_scenario(scenario, quiet_logs=not args.verbose)
        reports.append(report)
        if not args.json:
            print(render_text(report))
    if args.json:
        doc = reports[0] if len(reports) == 1 else {"scenarios": reports}
        print(json.dumps(doc, indent=2, default=str))
    return 0


def _validate_asl(args: argparse.Namespace) -> int:
    from opspilot_cli.asl_check import check_file

    problems = check_file(Path(args.path))
    for problem in problems:
        print(f"{args.path}: {problem}", file=sys.stderr)
    if not problems:
        print(f"{args.path}: OK")
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="opspilot", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sim = sub.add_parser("simulate", help="run scenario files offline and print the incident reports")
    sim.add_argument("scenarios", nargs="+", metavar="SCENARIO", help="scenario file (.yaml, .yml or .json)")
    sim.add_argument("--json", action="store_true", help="print the report as JSON")
    sim.add_argument("--verbose", action="store_true", help="show the handlers' logs")
    sim.add_argument(
        "--interactive",
        action="store_true",
        help="serve the approval API on localhost and wait for a person to decide in a browser",
    )
    sim.add_argument("--port", type=int, default=8765, help="--interactive: port on 127.0.0.1 (0: any free)")
    sim.set_defaults(func=_simulate)
    asl = sub.add_parser(
        "validate-asl", help="check an ASL file's references and substitutions against template.yaml"
    )
    asl.add_argument("path")
    asl.set_defaults(func=_validate_asl)
    models_cmd.add_parser(sub)
    incidents_cmd.register(sub)
    replay_cmd.register(sub)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
