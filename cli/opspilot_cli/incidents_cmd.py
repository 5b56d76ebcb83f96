"""``opspilot incidents``: list and show incidents and their audit trail from the incident table.

Against AWS: ``--table`` (or ``--stack``, whose ``IncidentTableName`` output is read). Offline:
``--scenario FILE`` runs the scenario in the simulated world first, then reads that world's
table with the same code.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from opspilot.adapters.incidents import IncidentStore


def _table_from_stack(stack: str, region: str | None) -> str:
    cfn = boto3.client("cloudformation", region_name=region)
    outputs = cfn.describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
    for output in outputs:
        if output["OutputKey"] == "IncidentTableName":
            return str(output["OutputValue"])
    raise SystemExit(f"opspilot: stack {stack} has no IncidentTableName output")


def _line(item: dict[str, Any]) -> str:
    incident = item.get("incident") or {}
    plan = item.get("plan") or {}
    approval = item.get("approval") or {}
    return (
        f"{incident.get('incident_id', '?'):22} {str(incident.get('opened_at', ''))[:19]:19}  "
        f"{item.get('status')!s:17} {incident.get('category')!s:15} {incident.get('severity')!s:8} "
        f"{plan.get('scenario')!s:10} {approval.get('status', '-')!s:12} {incident.get('model_id')}"
    )


def list_incidents(store: IncidentStore, model: str | None, limit: int, as_json: bool) -> str:
    items = store.list_incidents(model, limit)
    if as_json:
        return json.dumps(items, indent=2, default=str)
    header = (
        f"{'incident':22} {'opened':19}  {'status':17} {'category':15} {'severity':8} "
        f"{'scenario':10} {'approval':12} model"
    )
    return "\n".join([header, *(_line(i) for i in items)]) if items else "no incidents"


def show_incident(store: IncidentStore, incident_id: str, as_json: bool) -> str:
    item = store.get_incident(incident_id)
    if item is None:
        raise SystemExit(f"opspilot: no incident {incident_id}")
    trail = store.audit_trail(incident_id)
    actions = store.actions(incident_id)
    if as_json:
        return json.dumps({"incident": item, "actions": actions, "audit": trail}, indent=2, default=str)
    lines = [_line(item), ""]
    if item.get("notice_state"):  # notices SNS refused: delivered later, or given up
        failed = ", ".join(f"{f.get('notice')} ({f.get('error')})" for f in item.get("notice_failures") or [])
        lines += [f"notices {item['notice_state']}; refused: {failed}", ""]
    for action in item.get("actions") or []:
        lines.append(
            f"action  {action['type']}: {action['status']}  {action.get('result', {}).get('summary', '')}"
        )
    lines.append("")
    for entry in trail:
        data = json.dumps(entry.get("data"), default=str)
        lines.append(f"{entry['at']}  {entry['kind']:22} {data[:150]}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    def query(store: IncidentStore) -> str:
        if args.action == "show":
            if not args.incident_id:
                raise SystemExit("opspilot: incidents show needs an INCIDENT_ID")
            return show_incident(store, args.incident_id, args.json)
        return list_incidents(store, args.model, args.limit, args.json)

    if args.scenario:
        from opspilot_sim.runner import run_scenario
        from opspilot_sim.scenario import load

        holder: dict[str, str] = {}

        def inspect(table_name: str) -> None:
            holder["out"] = query(IncidentStore(table_name, 30))

        run_scenario(load(Path(args.scenario)), then=inspect)
        print(holder["out"])
        return 0
    table = args.table or (_table_from_stack(args.stack, args.region) if args.stack else None)
    if not table:
        raise SystemExit(
            "opspilot: say where the incidents are: --table NAME, --stack NAME or --scenario FILE"
        )
    store = IncidentStore(table, 30, boto3.client("dynamodb", region_name=args.region))
    try:
        print(query(store))
    except (BotoCoreError, ClientError) as exc:
        raise SystemExit(f"opspilot: reading {table}: {exc}") from exc
    return 0


def register(sub: Any) -> Callable[[argparse.Namespace], int]:
    parser = sub.add_parser("incidents", help="list or show incidents and their audit trail")
    parser.add_argument("action", choices=["list", "show"])
    parser.add_argument("incident_id", nargs="?")
    parser.add_argument("--table", help="the incident table's name")
    parser.add_argument("--stack", help="read the table name from this stack's outputs")
    parser.add_argument("--region")
    parser.add_argument("--scenario", help="run this scenario offline first and read its table")
    parser.add_argument("--model", help="only this model's incidents (newest first, by-model index)")
    parser.add_argument("--limit", type=int, default=50)
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(func=run)
    return run
