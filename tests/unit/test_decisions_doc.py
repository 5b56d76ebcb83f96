"""docs/decisions.md: every Python block runs, in order, in one namespace (the examples are true)."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "decisions.md"


def test_every_example_in_the_decisions_doc_holds() -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) >= 8
    namespace: dict[str, object] = {}
    for number, block in enumerate(blocks, start=1):
        try:
            exec(compile(block, f"{DOC.name} block {number}", "exec"), namespace)
        except AssertionError as exc:
            raise AssertionError(f"docs/decisions.md block {number} no longer holds:\n{block}") from exc
