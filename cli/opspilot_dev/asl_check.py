"""Checks of the ASL file that neither ``sam validate`` nor moto make.

- every ``Next``/``Default``/Catch target names a state of the same scope, and every state is reachable;
- every ``${Name}`` has a DefinitionSubstitution in ``template.yaml`` and vice versa;
- no ``States.ALL`` in a Retry; every Task retries and (outside branches) catches.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from opspilot_sim.template import load_template


def _targets(state: dict[str, Any]) -> list[str]:
    out = [state[k] for k in ("Next", "Default") if k in state]
    out += [c["Next"] for c in state.get("Choices", [])]
    out += [c["Next"] for c in state.get("Catch", [])]
    return out


def _check_scope(machine: dict[str, Any], where: str, top: bool) -> list[str]:
    problems: list[str] = []
    states: dict[str, Any] = machine.get("States", {})
    if machine.get("StartAt") not in states:
        problems.append(f"{where}: StartAt {machine.get('StartAt')!r} is not a state")
    reachable, todo = set(), [machine.get("StartAt")]
    while todo:
        name = todo.pop()
        if name in reachable or name not in states:
            continue
        reachable.add(name)
        todo.extend(_targets(states[name]))
    for name, state in states.items():
        for target in _targets(state):
            if target not in states:
                problems.append(f"{where}.{name}: transition to unknown state {target!r}")
        if name not in reachable:
            problems.append(f"{where}.{name}: unreachable")
        for retry in state.get("Retry", []):
            if "States.ALL" in retry["ErrorEquals"]:
                problems.append(f"{where}.{name}: Retry on States.ALL (retry only transient errors)")
        if state["Type"] == "Task":
            if not state.get("Retry"):
                problems.append(f"{where}.{name}: Task without Retry")
            if top and not state.get("Catch"):
                problems.append(f"{where}.{name}: Task without Catch")
        for branch in state.get("Branches", []):
            problems += _check_scope(branch, f"{where}.{name}", top=False)
        if "ItemProcessor" in state:
            problems += _check_scope(state["ItemProcessor"], f"{where}.{name}", top=False)
    return problems


def check_file(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    try:
        machine = json.loads(text)
    except json.JSONDecodeError as exc:
        return [f"not valid JSON: {exc}"]
    problems = _check_scope(machine, "States", top=True)
    used = set(re.findall(r"\$\{([A-Za-z0-9_]+)\}", text))
    template = load_template()
    declared = set()
    for resource in template["Resources"].values():
        if (
            resource["Type"] == "AWS::Serverless::StateMachine"
            and resource["Properties"].get("DefinitionUri")
            and Path(resource["Properties"]["DefinitionUri"]).name == path.name
        ):
            declared = set(resource["Properties"].get("DefinitionSubstitutions", {}))
    problems += [f"${{{n}}} has no DefinitionSubstitution in template.yaml" for n in sorted(used - declared)]
    problems += [f"DefinitionSubstitution {n} is never used" for n in sorted(declared - used)]
    if '"QueryLanguage": "JSONata"' in text:
        problems.append("JSONata is not supported by the offline interpreter; use JSONPath")
    return problems


def main(argv: list[str] | None = None) -> int:
    """``python -m opspilot_dev.asl_check FILE...``: exit 1 when a file has a problem."""
    status = 0
    for name in argv if argv is not None else sys.argv[1:]:
        problems = check_file(Path(name))
        for problem in problems:
            print(f"{name}: {problem}", file=sys.stderr)
        if not problems:
            print(f"{name}: OK")
        status = status or (1 if problems else 0)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
