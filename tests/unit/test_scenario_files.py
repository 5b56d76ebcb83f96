"""Scenario files: every bundled one is valid; a broken one is refused naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from opspilot_sim.scenario import ScenarioError, load, validate

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted([*ROOT.glob("scenarios/*.yaml"), *ROOT.glob("tests/workflow/scenarios/*.yaml")])


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_every_scenario_file_is_valid(path: Path) -> None:
    assert load(path)["events"]


def base() -> dict[str, object]:
    return yaml.safe_load((ROOT / "scenarios" / "recovery.yaml").read_text())  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d["events"][1].update(state="OKAY"), "events[1].state"),
        (lambda d: d.update(colour="blue"), "<top level>"),
        (lambda d: d["quotas"][0].update(code="L-nothex"), "quotas[0].code"),  # not a code, in no catalog
        (lambda d: d["models"][0]["usage"].update(rpm_peak=-1), "models[0].usage.rpm_peak"),
        (lambda d: d["events"][0].update(alarm="no-such-alarm"), "events[0].alarm"),
        (lambda d: d["parameters"].update(Environment2="x"), "parameters"),
        (lambda d: d.update(events=[]), "events"),
    ],
)
def test_a_broken_scenario_names_the_field(change, field: str) -> None:  # type: ignore[no-untyped-def]
    doc = base()
    change(doc)
    with pytest.raises(ScenarioError, match=rf"field '{__import__('re').escape(field)}'"):
        validate(doc, "x.yaml")


def test_a_file_that_is_not_yaml_says_so(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ScenarioError, match="not valid YAML"):
        load(bad)


def test_a_scenario_may_override_exactly_the_templates_parameters() -> None:
    from opspilot_sim.scenario import schema
    from opspilot_sim.template import load_template

    allowed = schema()["properties"]["parameters"]["propertyNames"]["enum"]
    assert sorted(allowed) == sorted(load_template()["Parameters"])
