"""The package's layers: imports flow one way and no module imports itself back, lazily or not.

errors/_units/_columns/_validation -> data -> clv -> segment -> experiment -> tracking -> cli.
Every import statement of every module counts, including those inside functions; only
``if TYPE_CHECKING:`` blocks (never run) are left out.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SEGML = Path(__file__).resolve().parents[1] / "segml"

#: Layer of each top-level part, lowest first.
LAYERS = {
    "errors": 0,
    "_version": 0,
    "_validation": 0,
    "_lazy": 0,
    "_setops": 0,
    "_units": 0,
    "_columns": 0,
    "data": 1,
    "clv": 2,
    "segment": 3,
    "experiment": 4,
    "tracking": 5,
    "export": 5,  # the segml.export name kept for scripts, a re-export of tracking.export
    "spark": 6,
    "cli": 6,
    "__init__": 7,
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SEGML.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(SEGML.rglob("*.py"))}


def layer(module: str) -> int:
    parts = module.split(".")
    return LAYERS["__init__"] if len(parts) == 1 else LAYERS[parts[1]]


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(node: ast.AST):
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child):
            yield from (n for n in child.orelse for n in [n, *_walk(n)])
            continue
        yield child
        yield from _walk(child)


def imports(module: str) -> set[str]:
    """The segml modules that ``module`` imports (the most specific module of each name)."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in _walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            names = [f"{base}.{a.name}" for a in node.names] + [base]
        for name in names:
            while name and name not in MODULES:
                name = name.rpartition(".")[0]
            if name.startswith("segml") and name != module:
                found.add(name)
    # a from-import of a submodule also names its package: keep the most specific only
    return {n for n in found if not any(m.startswith(f"{n}.") for m in found)}


GRAPH = {module: imports(module) for module in MODULES}


def test_every_module_has_a_layer() -> None:
    assert all(layer(m) >= 0 for m in MODULES)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_flow_down_the_layers(module: str) -> None:
    upward = sorted(m for m in GRAPH[module] if layer(m) > layer(module))
    assert not upward, f"{module} (layer {layer(module)}) imports higher layers: {upward}"


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles of ``graph`` found by a depth-first search (each as a path)."""
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    return cycles


def test_no_import_cycle() -> None:
    cycles = find_cycles(GRAPH)
    assert not cycles, f"import cycles: {cycles}"


def test_the_checker_sees_lazy_imports_not_type_checking_ones() -> None:
    """An import inside a function counts, a TYPE_CHECKING one does not."""
    code = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from segml.tracking.log import log_result\n"
        "def f():\n    from segml.experiment.run import run_experiment\n"
    )
    seen = [n for n in _walk(ast.parse(code)) if isinstance(n, ast.ImportFrom)]
    assert [n.module for n in seen] == ["typing", "segml.experiment.run"]


def test_the_checker_finds_a_cycle_through_a_third_module() -> None:
    """A cycle through a third module is found, and a graph without one has none."""
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []


def test_no_module_over_600_lines() -> None:
    long = {m: n for m, p in MODULES.items() if (n := len(p.read_text().splitlines())) > 600}
    assert not long, long


def test_mlflow_is_imported_only_by_tracking() -> None:
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if any(n == "mlflow" or n.startswith("mlflow.") for n in names):
                assert module.startswith("segml.tracking."), module
