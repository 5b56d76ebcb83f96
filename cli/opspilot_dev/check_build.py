"""``make build`` ends here: the packages ``sam build`` made are the ones the cold-start budget
and the deploy size assume.

- Every function of the template: its package is our code only (no third-party package, nothing
  of the simulator or the tools), its deployment package (the zip `sam deploy` uploads) is under
  1 MB, and its handler module has unchecked-hash bytecode for Python 3.13 (functions/Makefile).
- The one layer (``DependenciesLayer``): under ``python/`` it holds every distribution
  functions/requirements.txt pins, at that version, pydantic's compiled core built for Lambda's
  arm64, and unchecked-hash bytecode.
"""

from __future__ import annotations

import io
import re
import sys
import zipfile
from pathlib import Path

from opspilot_sim.template import PROJECT_ROOT, load_template, resources_of_type

UNCHECKED_HASH = 0b01  # PEP 552: hash-based, source not checked
FUNCTION_MAX_BYTES = 1_000_000  # issue 13: each function package under 1 MB
LAYER = "DependenciesLayer"
OURS = {"opspilot"}  # the only top-level entry a function package may have
REQUIREMENTS = PROJECT_ROOT / "functions" / "requirements.txt"


def size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def zipped_size(path: Path) -> int:
    """The folder as a deflated zip, as `sam deploy` uploads it."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(f for f in path.rglob("*") if f.is_file()):
            archive.write(file, file.relative_to(path))
    return len(buffer.getvalue())


def unchecked_hash(pyc: Path) -> bool:
    return int.from_bytes(pyc.read_bytes()[4:8], "little") == UNCHECKED_HASH


def pinned() -> dict[str, str]:
    """functions/requirements.txt as {normalized distribution name: version}."""
    found = {}
    for line in REQUIREMENTS.read_text().splitlines():
        name, sep, version = line.split("#", 1)[0].strip().partition("==")
        if sep:
            found[re.sub(r"[-_.]+", "_", name.split("[", 1)[0]).lower()] = version.strip()
    return found


def function_problems(build_dir: Path) -> tuple[list[str], dict[str, tuple[int, int]]]:
    """Problems, and each package's (zipped, unzipped) size."""
    found: list[str] = []
    sizes: dict[str, tuple[int, int]] = {}
    for logical, fn in sorted(resources_of_type(load_template(), "AWS::Serverless::Function").items()):
        package = build_dir / logical
        if not package.is_dir():
            found.append(f"{logical}: no package in {build_dir}")
            continue
        module = fn["Properties"]["Handler"].rpartition(".")[0]
        *parents, name = module.split(".")
        pyc = package.joinpath(*parents, "__pycache__", f"{name}.cpython-313.pyc")
        if not pyc.is_file():
            found.append(f"{logical}: no bytecode for {module} ({pyc})")
        elif not unchecked_hash(pyc):
            found.append(f"{logical}: {pyc.name} is not unchecked-hash bytecode")
        extra = sorted(p.name for p in package.iterdir() if p.name not in OURS)
        if extra:
            found.append(f"{logical}: ships more than our code: {', '.join(extra)}")
        sizes[logical] = (zipped_size(package), size(package))
        if sizes[logical][0] >= FUNCTION_MAX_BYTES:
            found.append(
                f"{logical}: package is {sizes[logical][0]:,} bytes zipped, not under {FUNCTION_MAX_BYTES:,}"
            )
    return found, sizes


def layer_problems(build_dir: Path) -> tuple[list[str], int]:
    site = build_dir / LAYER / "python"
    if not site.is_dir():
        return [f"{LAYER}: no python/ folder in {build_dir / LAYER}"], 0
    found = []
    installed = {
        re.sub(r"[-_.]+", "_", info.name.removesuffix(".dist-info").rpartition("-")[0]).lower(): (
            info.name.removesuffix(".dist-info").rpartition("-")[2]
        )
        for info in site.glob("*.dist-info")
    }
    for name, version in pinned().items():
        if installed.get(name) != version:
            found.append(f"{LAYER}: {name}=={version} pinned, layer has {installed.get(name, 'nothing')}")
    cores = list(site.glob("pydantic_core/_pydantic_core.cpython-313-*.so"))
    if "pydantic" in pinned() and not any("aarch64" in core.name for core in cores):
        found.append(f"{LAYER}: pydantic_core is not built for arm64 ({[c.name for c in cores]})")
    pycs = list(site.glob("*/__pycache__/*.cpython-313.pyc"))
    if not pycs:
        found.append(f"{LAYER}: no bytecode")
    elif not all(unchecked_hash(pyc) for pyc in pycs):
        found.append(f"{LAYER}: not all bytecode is unchecked-hash")
    # ours, the tools', or the runtime's own SDK unless requirements.txt pins it (a newer one)
    for extra in ("opspilot", "opspilot_cli", "opspilot_sim", "opspilot_dev", "moto", "boto3", "botocore"):
        if (site / extra).exists() and extra not in pinned():
            found.append(f"{LAYER}: ships {extra}")
    return found, size(site)


def problems(build_dir: Path) -> list[str]:
    return function_problems(build_dir)[0] + layer_problems(build_dir)[0]


def main() -> int:
    build_dir = Path(sys.argv[1] if len(sys.argv) > 1 else ".aws-sam/build")
    fn_found, sizes = function_problems(build_dir)
    layer_found, layer_size = layer_problems(build_dir)
    found = fn_found + layer_found
    for problem in found:
        print(problem, file=sys.stderr)
    if sizes:
        largest = max(sizes, key=lambda k: sizes[k])
        zipped, unzipped = sizes[largest]
        print(
            f"{len(sizes)} function packages, {sum(z for z, _ in sizes.values()):,} bytes zipped in all; "
            f"the largest {largest}: {zipped:,} bytes zipped ({unzipped:,} unzipped, limit "
            f"{FUNCTION_MAX_BYTES:,} zipped); layer {LAYER}: {zipped_size(build_dir / LAYER):,} bytes "
            f"zipped ({layer_size:,} unzipped)"
        )
    print(f"checked every function package and the layer in {build_dir}: {'OK' if not found else 'FAILED'}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
