"""The package's layout, read from its source with ``ast`` (docs/architecture.md): module size, import cycles,
the direction of imports between folders, and private names imported across modules. Every import counts,
those inside functions too (a lazy import is still a dependency), but for those under ``if TYPE_CHECKING:``."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "fpschema"
MAX_LINES = 700  # a module a reader holds in mind at once (issue I)
MAX_PRIVATE_IMPORTS = 3  # private names (``_x``) a module may take from another (issue I)

# Each folder (or top-level module) may import only from folders of a lower rank; the same rank only within
# itself. ``errors`` sits just above ``contract`` (it masks what it shows); the top rank holds the entry points.
RANK = {"contract": 0, "errors": 1, "reference": 2, "rules": 3, "io": 4, "report": 5, "engine": 6,
        "testdata": 7, "service": 7, "spark": 7, "pandera_schema": 7,
        "console": 8, "docgen": 8, "fixtures": 8, "cli": 9, "__main__": 10, "__init__": 10}


def _name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _resolve(module: str, node: ast.ImportFrom) -> str:
    """The absolute name an ``from X import ...`` refers to."""
    if node.level == 0:
        return node.module or ""
    is_package = MODULES[module].name == "__init__.py"
    base = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(module: str) -> list[tuple[str, str | None]]:
    """(imported module, private name taken from it or None) for every import of ``module`` in the package."""
    found: list[tuple[str, str | None]] = []
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
                   and isinstance(block.test, ast.Name) and block.test.id == "TYPE_CHECKING"
                   for stmt in block.body for n in ast.walk(stmt)}  # for type checkers only, not run
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found += [(a.name, None) for a in node.names if a.name.startswith("fpschema")]
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, node)
            if not target.startswith("fpschema"):
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if sub in MODULES:
                    found.append((sub, None))
                else:
                    private = alias.name.startswith("_") and not alias.name.startswith("__")
                    found.append((target, alias.name if private else None))
    # ``module._x`` where ``module`` names a module of the package: a private name taken all the same
    aliases = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and id(node) not in typing_only:
            target = _resolve(module, node)
            for alias in node.names:
                if f"{target}.{alias.name}" in MODULES:
                    aliases[alias.asname or alias.name] = f"{target}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname and alias.name in MODULES:
                    aliases[alias.asname] = alias.name
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                and node.attr.startswith("_") and not node.attr.startswith("__")):
            found.append((aliases[node.value.id], node.attr))
    return found


# ``from fpschema import __version__`` is left out: the package root is where the version is, not a layer
GRAPH = {m: sorted({t for t, _ in _imports(m) if t in MODULES and t not in (m, "fpschema")}) for m in MODULES}


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_the_graph_is_read():
    # the reader must see the package's real imports, or every other test here passes for nothing
    assert "fpschema.contract" in GRAPH["fpschema.engine.validation"]
    assert len(MODULES) > 30 and all(_room(m) in RANK for m in MODULES)


def test_no_module_is_over_the_size_limit():
    sizes = {m: len(p.read_text(encoding="utf-8").splitlines()) for m, p in MODULES.items()}
    assert {m: n for m, n in sizes.items() if n > MAX_LINES} == {}


def test_no_import_cycle():
    cycles, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for nxt in GRAPH[node]:
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for module in MODULES:
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_imports_flow_one_way_between_folders():
    wrong = [(m, t) for m, targets in GRAPH.items() for t in targets
             if _room(m) != _room(t) and RANK[_room(t)] >= RANK[_room(m)]]
    assert wrong == []


def test_few_private_names_cross_modules():
    taken = sorted({(m, t, name) for m in MODULES for t, name in _imports(m) if name and t != m})
    assert len(taken) <= MAX_PRIVATE_IMPORTS, taken
