"""The core package's layering, so that it stays true: no package imports one above it, no
import cycle between packages or between modules (function-level imports included), the
HTTP framework only in ``api/`` and the Functions runtime nowhere in the core.

A "unit" is a subpackage (``conversations``) or a top-level module (``clock``). Units of one
layer may import each other, as long as that makes no cycle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE = "messenger_channel"

# Bottom first. A new unit must be placed here (the test says so), which is the point.
LAYERS: list[set[str]] = [
    {"clock", "settings", "logs", "security", "errors", "console_files", "health", "metering",
     "telemetry"},  # telemetry: spans and meters, used by the adapters and the engine
    {"storage", "bus", "live", "facebook", "secrets", "routing"},  # adapters; routing: rules
    {"services", "agent_keys", "queue_messages", "audit"},  # audit: the append-only log
    {"provisioning"},  # accounts, pages, tokens
    {"workforce"},  # queues, agents, workstreams
    {"ingress"},  # the webhook
    {"conversations"},  # the engine: router, distribution, sender, timers
    {"privacy"},  # erasure, export, retention, Meta's data deletion callback
    {"api"},  # HTTP: the only place FastAPI is imported
]
LAYER_OF = {unit: index for index, layer in enumerate(LAYERS) for unit in layer}


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted((ROOT / CORE).rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(path: Path) -> Iterator[str]:
    """Every module ``path`` imports, at any depth of the code (function-level too)."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                yield submodule if submodule in MODULES else node.module


def _graph() -> dict[str, set[str]]:
    return {name: {imported for imported in _imports(path)
                   if imported in MODULES and imported != name}
            for name, path in MODULES.items()}


def _unit(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_every_unit_has_a_layer() -> None:
    units = {_unit(module) for module in MODULES} - {None}
    assert units - set(LAYER_OF) == set(), "place the new unit in LAYERS"


def test_no_unit_imports_one_above_it() -> None:
    upward = [f"{module} imports {imported}"
              for module, targets in _graph().items() for imported in sorted(targets)
              if (a := _unit(module)) and (b := _unit(imported))
              and LAYER_OF.get(b, -1) > LAYER_OF.get(a, -1)]
    assert upward == []


def test_no_import_cycle_between_units() -> None:
    units: dict[str, set[str]] = {}
    for module, targets in _graph().items():
        unit = _unit(module)
        if unit is None:
            continue
        units.setdefault(unit, set()).update(
            b for imported in targets if (b := _unit(imported)) and b != unit)
    assert _cycles(units) == []


def test_no_import_cycle_between_modules() -> None:
    assert _cycles(_graph()) == []


@pytest.mark.parametrize(("framework", "allowed"), [
    ("azure.functions", set()),
    ("fastapi", {"api"}),
    ("starlette", {"api"}),
])
def test_frameworks_stay_at_the_edge(framework: str, allowed: set[str]) -> None:
    offenders = [module for module, path in MODULES.items()
                 if _unit(module) not in allowed
                 and any(name == framework or name.startswith(framework + ".")
                         for name in _imports(path))]
    assert offenders == []


def test_the_checks_see_a_cycle_and_an_upward_import() -> None:
    """The test's own machinery: a made-up graph with both faults."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
    assert LAYER_OF["api"] > LAYER_OF["conversations"] > LAYER_OF["workforce"]
