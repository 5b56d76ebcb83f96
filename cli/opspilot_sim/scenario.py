"""Scenario files: load YAML or JSON, validate against ``scenario.schema.json``, name the bad field."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from opspilot.domain.alarm_names import alarm_name
from opspilot.domain.model_alarms import enabled_kinds
from opspilot.domain.registry import ModelEntry, RegistryError, validate_entry
from opspilot_sim.template import load_template, parameter_defaults


class ScenarioError(ValueError):
    """A scenario file that cannot be used; the message names the file and the field."""


def schema() -> dict[str, Any]:
    text = resources.files("opspilot_sim").joinpath("scenario.schema.json").read_text()
    return dict(json.loads(text))


def _where(error: jsonschema.ValidationError) -> str:
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    return path.lstrip(".") or "<top level>"


def _specific(error: jsonschema.ValidationError) -> jsonschema.ValidationError:
    """For a ``oneOf`` failure, the error inside the branch the author meant: the one whose
    required keys the object has (an event with ``alarm`` is an alarm event, not a raw one)."""
    if error.validator != "oneOf" or not error.context or not isinstance(error.instance, dict):
        return error
    branches: list[dict[str, Any]] = list(error.validator_value)  # type: ignore[arg-type]
    for index, branch in enumerate(branches):
        if all(key in error.instance for key in branch.get("required", [])):
            inner = [
                e for e in error.context if e.relative_schema_path and e.relative_schema_path[0] == index
            ]
            if inner:
                return _specific(jsonschema.exceptions.best_match(inner) or error)
    return jsonschema.exceptions.best_match(error.context) or error


def check_quota_names(doc: dict[str, Any], source: str) -> None:
    """A scenario cannot pass with a quota name AWS never used: a name given must be the shared
    catalog's name for the code or one of its older aliases; a code the catalog lacks needs a
    name and the source it comes from."""
    from opspilot_sim.catalog import load_catalog

    catalog = load_catalog()
    for i, quota in enumerate(doc.get("quotas") or []):
        known = catalog.quota(quota["code"])
        where = f"{source}: field 'quotas[{i}]"
        if known is None:
            if not (quota.get("name") and quota.get("source")):
                raise ScenarioError(
                    f"{where}.code': {quota['code']} is not in the shared catalog "
                    f"({catalog.directory}); give its name and the source it comes from"
                )
        elif quota.get("name") and quota["name"] not in (known.name, *known.aliases):
            raise ScenarioError(
                f"{where}.name': {quota['name']!r} is not what AWS calls {quota['code']} "
                f"({known.name!r}); leave the name out, it comes from the catalog"
            )


def validate(doc: Any, source: str = "<scenario>") -> dict[str, Any]:
    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(
        validator.iter_errors(doc),
        key=lambda e: (len(list(e.absolute_path)), list(map(str, e.absolute_path))),
    )
    if errors:
        best = _specific(errors[0])
        raise ScenarioError(f"{source}: field '{_where(best)}': {best.message}")
    check_quota_names(doc, source)
    alarms = {a["name"] for a in doc.get("alarms", [])}
    if doc.get("registry"):
        entries_of(doc, source)  # the registry as `opspilot models add` validates it
        alarms |= provisioned_names(doc)
    for i, event in enumerate(doc["events"]):
        if "alarm" in event and event["alarm"] not in alarms:
            raise ScenarioError(
                f"{source}: field 'events[{i}].alarm': no alarm named {event['alarm']!r} in 'alarms'"
                + (" or provisioned from 'registry'" if doc.get("registry") else "")
            )
    return dict(doc)


def load(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"{path}: {exc.strerror}") from exc
    try:
        doc = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ScenarioError(
            f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {exc}"
        ) from exc
    return validate(doc, str(path))


def entries_of(scenario: dict[str, Any], source: str = "<scenario>") -> list[ModelEntry]:
    """The scenario's registry, validated as a whole; errors name ``registry[i].<field>``."""
    prefix = alarm_name_prefix(scenario)
    entries: list[ModelEntry] = []
    for i, raw in enumerate(scenario.get("registry", [])):
        try:
            entries.append(validate_entry(raw, others=entries, alarm_name_prefix=prefix))
        except RegistryError as exc:
            raise ScenarioError(f"{source}: field 'registry[{i}].{exc.field}': {exc.message}") from exc
    return entries


def alarm_name_prefix(scenario: dict[str, Any]) -> str:
    prefix = scenario.get("parameters", {}).get("AlarmNamePrefix")
    return str(prefix) if prefix is not None else parameter_defaults(load_template())["AlarmNamePrefix"]


def provisioned_names(scenario: dict[str, Any]) -> set[str]:
    """The alarm names the sync gives the scenario's registry (pressure alarms need a quota)."""
    prefix = alarm_name_prefix(scenario)
    return {
        alarm_name(prefix, entry.model_id, kind)
        for entry in entries_of(scenario)
        for kind in enabled_kinds(entry)
    }
