"""``make build``'s check of what ``sam build`` made: function packages of our code only, each
under 1 MB zipped, and one layer with the pinned dependencies (checked on a made-up build)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from opspilot_dev.check_build import LAYER, function_problems, layer_problems, pinned, problems
from opspilot_sim.template import load_template, resources_of_type

FUNCTIONS = resources_of_type(load_template(), "AWS::Serverless::Function")
UNCHECKED_PYC = b"\xf3\r\r\n" + (1).to_bytes(4, "little") + bytes(8) + b"code"


def write(path: Path, data: bytes = b"") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


@pytest.fixture
def build(tmp_path: Path) -> Path:
    """A build as functions/Makefile makes it: each handler with its bytecode, and the layer."""
    for logical, fn in FUNCTIONS.items():
        *parents, name = fn["Properties"]["Handler"].rpartition(".")[0].split(".")
        package = tmp_path / logical
        write(package.joinpath(*parents, f"{name}.py"), b"def handler(event, context): ...\n")
        write(package.joinpath(*parents, "__pycache__", f"{name}.cpython-313.pyc"), UNCHECKED_PYC)
    site = tmp_path / LAYER / "python"
    for dist, version in pinned().items():
        (site / f"{dist}-{version}.dist-info").mkdir(parents=True)
        write(site / dist / "__pycache__" / "__init__.cpython-313.pyc", UNCHECKED_PYC)
    write(site / "pydantic_core" / "_pydantic_core.cpython-313-aarch64-linux-gnu.so")
    return tmp_path


def test_a_build_as_the_makefile_makes_it_passes(build: Path) -> None:
    assert problems(build) == []


def test_a_dependency_in_a_function_package_fails(build: Path) -> None:
    write(build / "ClassifyFunction" / "pydantic" / "__init__.py")
    assert function_problems(build)[0] == ["ClassifyFunction: ships more than our code: pydantic"]


def test_a_function_package_of_1_mb_zipped_fails(build: Path) -> None:
    write(build / "DecideFunction" / "opspilot" / "blob.bin", os.urandom(1_000_001))  # does not compress
    found, sizes = function_problems(build)
    assert sizes["DecideFunction"][0] > 1_000_000
    assert found == [
        f"DecideFunction: package is {sizes['DecideFunction'][0]:,} bytes zipped, not under 1,000,000"
    ]


def test_a_layer_without_a_pinned_dependency_or_built_for_another_machine_fails(build: Path) -> None:
    site = build / LAYER / "python"
    next(site.glob("pydantic-*.dist-info")).rename(site / "pydantic-1.0.dist-info")
    (site / "pydantic_core" / "_pydantic_core.cpython-313-aarch64-linux-gnu.so").rename(
        site / "pydantic_core" / "_pydantic_core.cpython-313-x86_64-linux-gnu.so"
    )
    found = layer_problems(build)[0]
    assert f"{LAYER}: pydantic=={pinned()['pydantic']} pinned, layer has 1.0" in found
    assert any("pydantic_core is not built for arm64" in p for p in found)


def test_every_function_uses_the_one_layer_and_requirements_pin_pydantic() -> None:
    template = load_template()
    assert template["Globals"]["Function"]["Layers"] == [{"Ref": LAYER}]
    assert template["Resources"][LAYER]["Metadata"]["BuildMethod"] == "makefile"
    assert {"aws_lambda_powertools", "pydantic"} <= set(pinned())


def test_the_layer_ships_boto3_only_because_it_is_pinned(
    build: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tag propagation needs a botocore newer than the runtime's: requirements.txt pins it. A
    boto3 that came along with something else is still refused, as is moto."""
    assert {"boto3", "botocore"} <= set(pinned())
    write(build / LAYER / "python" / "moto" / "__init__.py")
    assert layer_problems(build)[0] == [f"{LAYER}: ships moto"]

    from opspilot_dev import check_build

    others = {k: v for k, v in pinned().items() if k not in {"boto3", "botocore"}}
    monkeypatch.setattr(check_build, "pinned", lambda: others)
    assert set(layer_problems(build)[0]) == {f"{LAYER}: ships {t}" for t in ("moto", "boto3", "botocore")}
