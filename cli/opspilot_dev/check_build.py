"""``make build`` ends here: the package ``sam build`` made is the one the cold-start budget assumes.

For every function of the template: its handler module is in the package with unchecked-hash
bytecode for Python 3.13 (functions/Makefile), and nothing the package must not carry (the
simulator, moto) came along.
"""

from __future__ import annotations

import sys
from pathlib import Path

from opspilot_sim.template import load_template, resources_of_type

UNCHECKED_HASH = 0b01  # PEP 552: hash-based, source not checked
NOT_SHIPPED = ("opspilot_cli", "opspilot_sim", "opspilot_dev", "moto", "yaml")


def problems(build_dir: Path) -> list[str]:
    found = []
    for logical, fn in sorted(resources_of_type(load_template(), "AWS::Serverless::Function").items()):
        package = build_dir / logical
        module = fn["Properties"]["Handler"].rpartition(".")[0]
        *parents, name = module.split(".")
        pyc = package.joinpath(*parents, "__pycache__", f"{name}.cpython-313.pyc")
        if not pyc.is_file():
            found.append(f"{logical}: no bytecode for {module} ({pyc})")
        elif int.from_bytes(pyc.read_bytes()[4:8], "little") != UNCHECKED_HASH:
            found.append(f"{logical}: {pyc.name} is not unchecked-hash bytecode")
        found += [f"{logical}: ships {extra}" for extra in NOT_SHIPPED if (package / extra).exists()]
    return found


def main() -> int:
    build_dir = Path(sys.argv[1] if len(sys.argv) > 1 else ".aws-sam/build")
    found = problems(build_dir)
    for problem in found:
        print(problem, file=sys.stderr)
    print(f"checked the package of every function in {build_dir}: {'OK' if not found else 'FAILED'}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
