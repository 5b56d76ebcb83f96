"""The import graph of functions/ and cli/: no circles, and imports run one way.

Every ``import`` and ``from ... import`` is read with ast, wherever it stands (module level, inside a
function, under ``if TYPE_CHECKING``), so a circle hidden in a function body is a circle too.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCE_ROOTS = (ROOT / "functions", ROOT / "cli")

# The one direction imports may run: a package may import itself and the packages after it.
LAYERS = ("opspilot_dev", "opspilot_cli", "opspilot_sim", "opspilot")
ALLOWED = {
    "opspilot_dev": {"opspilot_dev", "opspilot_sim", "opspilot"},
    "opspilot_cli": {"opspilot_cli", "opspilot_sim", "opspilot"},
    "opspilot_sim": {"opspilot_sim", "opspilot"},
    "opspilot": {"opspilot"},
}


def module_files(roots: tuple[Path, ...] = SOURCE_ROOTS) -> dict[str, Path]:
    """Dotted module name -> file, for every package under the roots."""
    modules: dict[str, Path] = {}
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[0] not in LAYERS:
                continue
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def _imported_names(module: str, path: Path) -> Iterator[tuple[str, int]]:
    """Every dotted name the module imports (a module, or a module plus one attribute), with its line."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                drop = node.level - 1 if is_package else node.level
                base = base[: len(base) - drop] if drop else base
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            for alias in node.names:
                yield f"{prefix}.{alias.name}", node.lineno
                yield prefix, node.lineno


def import_graph(modules: dict[str, Path]) -> dict[str, dict[str, int]]:
    """Module -> {module of ours it imports: line}. `from a import b` counts as importing a.b when that
    is a module, else as importing a."""
    graph: dict[str, dict[str, int]] = {}
    for module, path in modules.items():
        edges: dict[str, int] = {}
        for name, line in _imported_names(module, path):
            target = name if name in modules else None
            if target is None:
                continue
            if target != module:
                edges.setdefault(target, line)
        graph[module] = edges
    return graph


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for succ in graph.get(node, {}):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component: list[str] = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def against_direction(graph: dict[str, dict[str, int]]) -> list[str]:
    wrong = []
    for module, edges in sorted(graph.items()):
        package = module.split(".")[0]
        for target, line in sorted(edges.items()):
            if target.split(".")[0] not in ALLOWED[package]:
                wrong.append(f"{module} (line {line}) imports {target}")
    return wrong


def test_no_import_circle_in_functions_or_cli() -> None:
    modules = module_files()
    assert "opspilot.handlers.approval_api" in modules and "opspilot_sim.runner" in modules
    assert cycles(import_graph(modules)) == []


def test_imports_run_from_commands_to_simulator_to_functions() -> None:
    assert against_direction(import_graph(module_files())) == []


# The checker itself must be able to fail: a small package with a circle through a function-level
# import, a relative import, and an import against the direction.
@pytest.fixture
def tree(tmp_path: Path) -> Path:
    files = {
        "opspilot/__init__.py": "",
        "opspilot/domain/__init__.py": "",
        "opspilot/domain/a.py": "from opspilot.domain import b\n",
        "opspilot/domain/b.py": "def f():\n    from .c import g\n    return g\n",
        "opspilot/domain/c.py": "import opspilot.domain.a\n",
        "opspilot/domain/d.py": "from opspilot_sim.world import World\n",
        "opspilot_sim/__init__.py": "",
        "opspilot_sim/world.py": "from opspilot.domain.a import x\nWorld = 1\n",
    }
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_checker_finds_a_circle_through_a_function_level_relative_import(tree: Path) -> None:
    modules = module_files((tree,))
    assert cycles(import_graph(modules)) == [["opspilot.domain.a", "opspilot.domain.b", "opspilot.domain.c"]]


def test_checker_finds_an_import_against_the_direction(tree: Path) -> None:
    wrong = against_direction(import_graph(module_files((tree,))))
    assert wrong == ["opspilot.domain.d (line 1) imports opspilot_sim.world"]
