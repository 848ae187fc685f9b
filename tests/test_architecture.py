"""The shape of the code, checked: imports flow `schemas` ← `kb_service` ← `workers`, and the domain
packages of `kb_service` do not import each other in circles.

The graph is drawn between packages (`kb_service.<package>`; top-level modules such as `services` or
`deps` are nodes of their own) from every import a module runs, `if TYPE_CHECKING:` blocks excluded.
The data layer — each package's `models.py` and `repository.py` — may reference the tables of other
packages (a team member row points at a resource); it is checked to import no service, router or
portal module, and is left out of the cycle check, which is about the services and the edge above it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA_LAYER = {"models", "repository", "__init__"}
# The edge: HTTP routes, presenters, dependencies, the composition root and the surfaces built on it.
EDGE_MODULES = {"router", "presenters", "deps"}
EDGE_NODES = {
    "kb_service.services",
    "kb_service.deps",
    "kb_service.api",
    "kb_service.portal",
    "kb_service.cli",
    "kb_service.mcp",
    "kb_service.ops",
}
# Modules of the data layer's own foundation, importable from anywhere.
FOUNDATION = {"kb_service.db", "kb_service.errors", "kb_service.clock", "kb_service.config"}


def _modules(root: str) -> Iterator[tuple[str, Path]]:
    for path in sorted((REPO / root).rglob("*.py")):
        if "migrations" in path.parts:
            continue
        parts = path.relative_to(REPO).with_suffix("").parts
        yield ".".join(p for p in parts if p != "__init__") or root, path


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"))
    found: set[str] = set()

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module)
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.stmt):
                    visit([child])
            for field in ("body", "orelse", "finalbody", "handlers"):
                value = getattr(node, field, None)
                if isinstance(value, list):
                    visit([v for v in value if isinstance(v, ast.stmt)])

    visit(tree.body)
    return found


def _node(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "kb_service" and len(parts) > 1 else parts[0]


def _is_data_layer(module: str) -> bool:
    return module.split(".")[-1] in DATA_LAYER


def _is_edge(module: str) -> bool:
    return module.split(".")[-1] in EDGE_MODULES or _node(module) in EDGE_NODES


def test_imports_flow_one_way() -> None:
    offences = []
    for root, forbidden in (("schemas", ("kb_service", "workers")), ("kb_service", ("workers",))):
        for module, path in _modules(root):
            for imported in _imports(path):
                if imported.split(".")[0] in forbidden:
                    offences.append(f"{module} imports {imported}")
    assert offences == []


def test_the_data_layer_imports_no_service_or_edge_module() -> None:
    known = {m for m, _ in _modules("kb_service")}
    offences = []
    for module, path in _modules("kb_service"):
        if not _is_data_layer(module) or module.count(".") < 2:
            continue
        for imported in _imports(path):
            if (
                imported in known
                and not _is_data_layer(imported)
                and imported not in FOUNDATION
                and not imported.startswith(("kb_service.catalog", "kb_service.vectorstores.base"))
            ):
                offences.append(f"{module} imports {imported}")
    assert offences == []


def test_services_import_no_edge_module() -> None:
    known = {m for m, _ in _modules("kb_service")}
    offences = [
        f"{module} imports {imported}"
        for module, path in _modules("kb_service")
        if not _is_edge(module)
        for imported in _imports(path)
        if imported in known and _is_edge(imported)
    ]
    assert offences == []


def test_no_package_cycles() -> None:
    """Between the packages of the service layer (the edge sits on top and may import any of them)."""
    known = {m for m, _ in _modules("kb_service")}
    graph: dict[str, set[str]] = {}
    for module, path in _modules("kb_service"):
        if _is_data_layer(module) or _is_edge(module):
            continue
        source = _node(module)
        for imported in _imports(path):
            if imported not in known or _is_data_layer(imported) or _is_edge(imported):
                continue
            target = _node(imported)
            if target != source:
                graph.setdefault(source, set()).add(target)
    cycles = _cycles(graph)
    assert cycles == [], "\n".join(" -> ".join(c) for c in cycles)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component with more than one package (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph.get(node, ())):
            if successor not in index:
                connect(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return components
