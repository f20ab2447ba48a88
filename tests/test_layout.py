"""The package layout of DESIGN.md ("Layout"), read from the source with `ast`: imports
flow one way (each package imports only packages of lower layers), no module import
cycle (imports inside functions count), nothing imports an entry point, and no file
is over 500 lines outside the migrations."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "zhida"
MAX_LINES = 500

#: lowest first; a package may import its own modules and those of lower layers only
LAYERS: list[set[str]] = [
    {"errors", "clock", "suggest", "redact", "csvsafe"},
    {"settings"},
    {"profiles"},
    {"rules"},
    {"matcher", "store"},
    {"ranking"},
    {"publishing"},
    {"ingest"},
    {"runs"},
    {"channels"},
    {"worker"},  # entry points: nothing below imports them
    {"api"},
    {"cli"},
]
ENTRY_POINTS = {"worker", "api", "cli"}


def layer_of(part: str) -> int:
    for i, layer in enumerate(LAYERS):
        if part in layer:
            return i
    raise AssertionError(f"zhida.{part} is in no layer of tests/test_layout.py")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def sources() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts)


def imports_of(path: Path) -> set[str]:
    """Every zhida module this file imports, at any depth (resolved relative imports;
    `from zhida.x import y` names `zhida.x.y` when that is a module, else `zhida.x`)."""
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            found.add(name)
            found.update(f"{name}.{a.name}" for a in node.names)
    return {m for m in found if m.split(".")[0] == "zhida" and is_module(m)}


def is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def graph() -> dict[str, set[str]]:
    return {module_name(p): imports_of(p) - {module_name(p)} for p in sources()}


def top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_imports_flow_one_way() -> None:
    upward = []
    for src, deps in graph().items():
        if not top(src):
            continue
        for dep in deps:
            if top(dep) and top(dep) != top(src) and layer_of(top(dep)) >= layer_of(top(src)):
                upward.append(f"{src} imports {dep}")
    assert not upward, "imports against the layer order:\n" + "\n".join(sorted(upward))


def test_nothing_imports_an_entry_point() -> None:
    lower = {p for p in {top(m) for m in graph()} if p and p not in ENTRY_POINTS}
    bad = [
        f"{src} imports {dep}"
        for src, deps in graph().items()
        if top(src) in lower
        for dep in deps
        if top(dep) in ENTRY_POINTS
    ]
    assert not bad, "\n".join(sorted(bad))


def strongly_connected(g: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative; components of more than one module (or a module
    importing itself) are cycles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = 0
    for root in g:
        if root in index:
            continue
        work = [(root, iter(sorted(g.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        top_ = stack.pop()
                        on_stack.discard(top_)
                        component.append(top_)
                        if top_ == node:
                            break
                    if len(component) > 1:
                        cycles.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = counter
                counter += 1
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(g.get(child, ())))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return cycles


def without_package_inits(g: dict[str, set[str]]) -> dict[str, set[str]]:
    """A package's `__init__` re-exports its modules; a module importing a sibling through
    it is an edge to that sibling, not a cycle through the package."""
    inits = {m for m in g if (ROOT.joinpath(*m.split(".")) / "__init__.py").is_file()}
    return {m: {d for d in deps if d not in inits or m in inits} for m, deps in g.items()}


def test_no_import_cycle() -> None:
    cycles = strongly_connected(without_package_inits(graph()))
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_the_cycle_finder_finds_cycles() -> None:
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert strongly_connected({"a": {"b"}, "b": set()}) == []


def test_no_file_over_500_lines() -> None:
    long = {
        str(p.relative_to(ROOT)): n
        for p in sources()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"over {MAX_LINES} lines: {long}"


def test_every_package_names_its_public_api() -> None:
    missing = [
        str(p.relative_to(ROOT))
        for p in PACKAGE.rglob("__init__.py")
        if "migrations" not in p.parts and not p.read_text(encoding="utf-8").strip()
    ]
    assert not missing, "empty __init__.py (say what the package offers): " + ", ".join(
        sorted(missing)
    )
