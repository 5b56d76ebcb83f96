"""Read ``template.yaml`` the way CloudFormation would, for the offline stack.

Understands the short intrinsic tags (``!Ref``, ``!GetAtt``, ``!Sub`` ...) and resolves ``Ref``,
``Fn::GetAtt``, ``Fn::Sub`` and ``Fn::Join`` against a table of physical names, so the simulator
wires functions, the state machine and the event pattern exactly as the template says.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = PROJECT_ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that turns ``!Tag value`` into ``{"Fn::Tag": value}`` (``!Ref`` into ``Ref``)."""


def _construct(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {"Ref" if suffix == "Ref" else f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _construct)


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    with path.open(encoding="utf-8") as fh:
        doc = yaml.load(fh, Loader=_CfnLoader)
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: not a template")
    return doc


_SUB_VAR = re.compile(r"\$\{([^}!][^}]*)\}")


@dataclass
class Resolver:
    """Resolves intrinsic functions. ``refs`` maps logical ids, parameters and pseudo parameters
    to their value; ``attrs`` maps ``Logical.Attr`` to its value."""

    refs: dict[str, Any] = field(default_factory=dict)
    attrs: dict[str, Any] = field(default_factory=dict)

    def ref(self, name: str) -> Any:
        if name not in self.refs:
            raise KeyError(f"template: unresolved Ref {name}")
        return self.refs[name]

    def get_att(self, logical: str, attr: str) -> Any:
        key = f"{logical}.{attr}"
        if key not in self.attrs:
            raise KeyError(f"template: unresolved GetAtt {key}")
        return self.attrs[key]

    def _sub_var(self, name: str) -> str:
        if "." in name and not name.startswith("AWS::"):
            logical, attr = name.split(".", 1)
            return str(self.get_att(logical, attr))
        return str(self.ref(name))

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            handlers: Mapping[str, Callable[[Any], Any]] = {
                "Ref": lambda a: self.ref(a),
                "Fn::GetAtt": lambda a: self.get_att(a[0], a[1]),
                "Fn::Sub": self._sub,
                "Fn::Join": lambda a: str(a[0]).join(str(self.resolve(v)) for v in a[1]),
            }
            if key in handlers:
                return handlers[key](arg)
        return {k: self.resolve(v) for k, v in value.items()}

    def _sub(self, arg: Any) -> str:
        text, local = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
        local = {k: self.resolve(v) for k, v in local.items()}
        return _SUB_VAR.sub(
            lambda m: str(local[m.group(1)]) if m.group(1) in local else self._sub_var(m.group(1)), text
        )


def parameter_defaults(template: Mapping[str, Any]) -> dict[str, str]:
    return {name: str(spec.get("Default", "")) for name, spec in template.get("Parameters", {}).items()}


def resources_of_type(template: Mapping[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def substitute_definition(text: str, substitutions: Mapping[str, Any]) -> str:
    """Apply DefinitionSubstitutions to an ASL file; every ``${Name}`` must be known."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in substitutions:
            raise KeyError(f"ASL: no DefinitionSubstitution for ${{{name}}}")
        return str(substitutions[name])

    return re.sub(r"\$\{([A-Za-z0-9_]+)\}", replace, text)


def alarm_rule_pattern(template: Mapping[str, Any], resolver: Resolver) -> dict[str, Any]:
    """The event pattern of the state machine's ``AlarmStateChange`` rule, resolved."""
    machine = template["Resources"]["IncidentStateMachine"]["Properties"]
    pattern = resolver.resolve(machine["Events"]["AlarmStateChange"]["Properties"]["Pattern"])
    if not isinstance(pattern, dict):
        raise ValueError("template.yaml: the AlarmStateChange pattern is not an object")
    return pattern
