"""Issue 11's "done when" as tests: the house layout keeps holding as code is added.

Pure reading of the source tree (no import of the modules): every module stays at or below
500 lines; the subsystem packages import one another without a cycle; no decision is taken
by comparing message text.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
import graphlib
from pathlib import Path
import re

import pytest


PACKAGE = Path(__file__).resolve().parent.parent / "pytest_kisys"
MAX_LINES = 500


def _modules() -> Iterator[Path]:
    yield from sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _subsystem(path: Path) -> str | None:
    """The subsystem package a module belongs to, or None for a top-level module."""
    relative = path.relative_to(PACKAGE)
    return relative.parts[0] if len(relative.parts) > 1 else None


def package_imports() -> dict[str, set[str]]:
    """Subsystem -> the other subsystems it imports anywhere (module level or inside functions)."""
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    edges: dict[str, set[str]] = {name: set() for name in packages}
    for path in _modules():
        source = _subsystem(path)
        if source is None:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                parts = name.split(".")
                if parts[0] == "pytest_kisys" and len(parts) > 1 and parts[1] in packages:
                    if parts[1] != source:
                        edges[source].add(parts[1])
    return edges


def test_no_module_is_over_500_lines() -> None:
    long = {
        str(path.relative_to(PACKAGE)): count
        for path in _modules()
        if (count := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}


def test_subsystem_imports_have_no_cycle() -> None:
    edges = package_imports()
    assert "history" in edges.get("dashboard", set())  # the reader sees real edges
    try:
        order = list(graphlib.TopologicalSorter(edges).static_order())
    except graphlib.CycleError as exc:
        pytest.fail(f"subsystem import cycle: {' -> '.join(exc.args[1])}")
    assert set(order) == set(edges)


_TEXT_DECISION = re.compile(
    r"""(startswith\(\s*["']WARNING|==\s*["']nobody can answer|["']timed out["']\s+in\b)"""
)


def test_no_decision_on_message_text() -> None:
    found = [
        f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}"
        for path in _modules()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if _TEXT_DECISION.search(line)
    ]
    assert found == []
