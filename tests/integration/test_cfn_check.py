"""The template as CloudFormation receives it (`make validate`): the check fails on a cycle."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from opspilot_dev.cfn_check import PACKAGED_CODE, packaged
from opspilot_sim.template import load_template

ROOT = Path(__file__).resolve().parents[2]
TOOLS_PYTHON = ROOT / ".venv-sam" / "bin" / "python"

RESUME = 'Action: [states:SendTaskSuccess, states:SendTaskFailure]\n              Resource: "*"'


def test_the_packaged_template_inlines_the_asl_and_points_code_at_s3() -> None:
    out = packaged(load_template(), ROOT)
    machine = out["Resources"]["IncidentStateMachine"]["Properties"]
    assert "DefinitionUri" not in machine
    assert machine["Definition"]["StartAt"] == "NoteArrival"
    assert out["Globals"]["Function"]["CodeUri"] == PACKAGED_CODE
    assert load_template()["Globals"]["Function"]["CodeUri"] == "functions/"  # the input is untouched


def run_check(template: Path) -> subprocess.CompletedProcess[str]:
    if not TOOLS_PYTHON.exists():
        pytest.skip("the tools venv is missing: make .venv-sam/.installed (make test installs it)")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "cli")}
    return subprocess.run(
        [str(TOOLS_PYTHON), "-m", "opspilot_dev.cfn_check", str(template)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=300,
    )


def test_the_check_fails_on_a_circular_dependency_that_sam_validate_does_not_see(tmp_path: Path) -> None:
    """The approval callback's role naming the state machine again makes the cycle of issue 11:
    only the translated template shows it, and the check must exit non-zero naming it."""
    text = (ROOT / "template.yaml").read_text()
    assert text.count(RESUME) == 1
    (tmp_path / "template.yaml").write_text(
        text.replace(RESUME, RESUME.replace('"*"', "!Ref IncidentStateMachine"))
    )
    shutil.copytree(ROOT / "statemachines", tmp_path / "statemachines")
    done = run_check(tmp_path / "template.yaml")
    assert done.returncode == 1, done.stdout + done.stderr
    cycle = [line for line in done.stdout.splitlines() if ":E3004:" in line]
    assert any("IncidentStateMachine" in line for line in cycle), done.stdout
    assert any("ApprovalCallbackFunctionRole" in line for line in cycle), done.stdout
    assert "cfn-lint FAILED" in done.stdout


def test_a_warning_fails_the_check_unless_suppressed_with_its_reason(tmp_path: Path) -> None:
    """cfn-lint-serverless's WS1004 (a function's log group without retention) is a warning, and
    ClassifyFunction's Metadata suppresses it with a reason: without the suppression it fails."""
    text = (ROOT / "template.yaml").read_text()
    suppression = "ignore_checks: [WS1004]"
    assert text.count(suppression) == 1
    (tmp_path / "template.yaml").write_text(text.replace(suppression, "ignore_checks: []"))
    shutil.copytree(ROOT / "statemachines", tmp_path / "statemachines")
    done = run_check(tmp_path / "template.yaml")
    assert done.returncode == 1, done.stdout + done.stderr
    assert any(":WS1004:" in line and "ClassifyFunction" in line for line in done.stdout.splitlines()), (
        done.stdout
    )
    assert "cfn-lint FAILED" in done.stdout


def test_the_check_passes_the_template_whatever_the_length_of_the_workflow(tmp_path: Path) -> None:
    """SAM joins the inlined ASL line by line; cfn-lint validates Fn::Join one stack frame per
    element, so a workflow past ~970 lines used to fail with E1022 (recursion depth), not a finding."""
    shutil.copy(ROOT / "template.yaml", tmp_path / "template.yaml")
    shutil.copytree(ROOT / "statemachines", tmp_path / "statemachines")
    asl = tmp_path / "statemachines" / "incident.asl.json"
    assert len(asl.read_text().splitlines()) > 1000

    done = run_check(tmp_path / "template.yaml")

    assert done.returncode == 0, done.stdout + done.stderr
    assert ":E1022:" not in done.stdout
