"""No import circles among deepfx's modules, counting imports inside functions too.

A circle (``model`` imports ``store`` which imports ``model``) makes a module's meaning
depend on import order; a function-level import only hides one. This reads every module's
``import`` statements (top level, inside functions and under ``TYPE_CHECKING``) and
finds the strongly connected parts of the graph with Tarjan's algorithm.
"""

from __future__ import annotations

import ast
from pathlib import Path

import deepfx

PACKAGE = Path(deepfx.__file__).resolve().parent


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """``module -> modules it imports`` for every module of ``package``."""
    mods: dict[str, Path] = {}
    for p in package.rglob("*.py"):
        parts = list(p.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = p
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for mod, path in mods.items():
        pkg = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                    base = ".".join(parts + ([base] if base else []))
                targets = [base] + [f"{base}.{a.name}" for a in node.names]
            for target in targets:
                while target and target not in mods:  # a name inside a module
                    target = target.rsplit(".", 1)[0] if "." in target else ""
                if target and target != mod:
                    graph[mod].add(target)
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that import each other (directly or round a circle)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_counter_finds_a_circle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert import_cycles(graph) == [["a", "b", "c"]]


def test_no_import_circles_among_deepfx_modules() -> None:
    graph = import_graph()
    assert "deepfx.store" in graph and "deepfx.folder" in graph["deepfx.store"]
    assert import_cycles(graph) == []


if __name__ == "__main__":  # python tests/test_import_cycles.py: print the circles
    for group in import_cycles(import_graph()):
        print(len(group), " -> ".join(group))
