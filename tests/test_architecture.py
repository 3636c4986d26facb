"""The layout the code promises: no import circles, and doors that change nothing themselves.

Imports are read from the source (module level and inside functions alike), so
a circle hidden in a function-level import is found too.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOORS = ("jobs.views", "jobs.api", "jobs.cli")
# Services that change jobs: a door reaches them only through a catalog action.
STATE_CHANGING = {
    "jobs.services.lifecycle",
    "jobs.services.dlq",
    "jobs.services.approvals",
    "jobs.services.jsonl",
    "jobs.services.system",
    "jobs.services.config",
}
# What a door may still take from those modules: reads, not changes.
READS = {("jobs.services.config", "config_get")}


def modules() -> dict[str, Path]:
    found = {}
    for path in (ROOT / "jobs").rglob("*.py"):
        if "migrations" in path.parts:
            continue
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        found[name] = path
    return found


def imports(path: Path, known: dict[str, Path]) -> set[tuple[str, str]]:
    """(module, name) pairs a file imports from this project; name is "" for a whole module."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                found.add((full, "") if full in known else (node.module, alias.name))
        elif isinstance(node, ast.Import):
            found |= {(alias.name, "") for alias in node.names}
    return {(module, name) for module, name in found if module in known}


def import_graph() -> dict[str, set[str]]:
    known = modules()
    return {name: {module for module, _ in imports(path, known)} - {name} for name, path in known.items()}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_no_module_imports_itself_through_others():
    assert circles(import_graph()) == []


def test_the_circle_finder_finds_a_circle():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_doors_change_state_only_through_the_catalog():
    known = modules()
    offending = []
    for name, path in known.items():
        if not name.startswith(DOORS):
            continue
        for module, imported in imports(path, known):
            if module in STATE_CHANGING and (module, imported) not in READS:
                offending.append(f"{name} imports {module}{'.' + imported if imported else ''}")
    assert offending == []


def test_doors_read_through_the_selectors_only():
    """No door queries a model itself: selectors are the one read path (jobs.selectors)."""
    querying = []
    for name, path in modules().items():
        if not name.startswith(DOORS):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr == "objects":
                querying.append(f"{name}:{node.lineno}")
    assert querying == []


def test_the_status_and_priority_names_of_the_inputs_are_the_models():
    from typing import get_args

    from jobs.actions.inputs import PriorityName, StatusName
    from jobs.models import Priority, Status

    assert list(get_args(StatusName)) == list(Status.values)
    assert list(get_args(PriorityName)) == [priority.label for priority in Priority]
