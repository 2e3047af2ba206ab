"""No import cycle among the project's modules (docs/design.md, "Where each fact lives").

The graph has an edge A -> B for every import of B in A, function-local imports included
(``ast``, not a runtime trace), for ``importlib.import_module("B")`` with a literal name and
for the built-in modules a :class:`~search_spaces.registry.Registry` loads lazily
(``builtins=("B", ...)``). Imports under ``if TYPE_CHECKING:`` never run and are left out.
``from P import name`` is an edge to module ``P.name`` when that is a module, else to ``P``.

One pattern is not a cycle: a built-in B that imports the module R whose registry loads B
(to register itself). R is imported completely before it loads B, so that back edge B -> R
is left out; every other path from B back to R still counts.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("dse", "hwmodel", "search_spaces", "dashboard")


def modules(root: Path) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for pkg in PACKAGES:
        for path in (root / pkg).rglob("*.py"):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _walk(node: ast.AST) -> Iterator[ast.AST]:
    """Every node below ``node`` except the bodies of ``if TYPE_CHECKING:``."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child):
            for other in child.orelse:
                yield other
                yield from _walk(other)
            continue
        yield child
        yield from _walk(child)


def _targets(name: str, node: ast.AST, mods: dict[str, Path]) -> Iterator[str]:
    if isinstance(node, ast.Import):
        yield from (a.name for a in node.names)
    elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            pkg = name.split(".")
            if mods[name].name != "__init__.py":
                pkg = pkg[:-1]
            pkg = pkg[:len(pkg) - (node.level - 1)]
            base = ".".join([*pkg, *([node.module] if node.module else [])])
        for alias in node.names:
            yield f"{base}.{alias.name}" if f"{base}.{alias.name}" in mods else base
    elif isinstance(node, ast.Call):
        func = node.func
        fname = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if fname == "import_module" and node.args and isinstance(node.args[0], ast.Constant):
            yield str(node.args[0].value)
        if fname == "Registry":
            for kw in node.keywords:
                if kw.arg == "builtins" and isinstance(kw.value, ast.Tuple | ast.List):
                    yield from (str(e.value) for e in kw.value.elts
                                if isinstance(e, ast.Constant))


def _lazy(node: ast.AST) -> bool:
    return isinstance(node, ast.Call)


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    mods = modules(root)
    graph: dict[str, set[str]] = {}
    lazy: dict[str, set[str]] = {}  # module -> the built-ins it loads lazily
    for name, path in mods.items():
        deps: set[str] = set()
        for node in _walk(ast.parse(path.read_text(encoding="utf-8"))):
            for target in _targets(name, node, mods):
                while target and target not in mods:  # a name inside a module
                    target = target.rpartition(".")[0]
                if target and target != name:
                    deps.add(target)
                    if _lazy(node):
                        lazy.setdefault(name, set()).add(target)
        graph[name] = deps
    for registry, builtins in lazy.items():  # a built-in registering itself: no cycle
        for builtin in builtins:
            graph[builtin].discard(registry)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_project_has_no_import_cycle() -> None:
    graph = import_graph()
    assert "dse.store" in graph["dse.search"]  # a function-local import is an edge
    assert "dse.tasks.compression" in graph["dse.tasks"]  # so is a registry's built-in
    assert "dse.store" not in graph["dse.export"]  # a TYPE_CHECKING import is not
    assert not any(d.startswith("dse.store") for m in graph if m.startswith("dse.tasks")
                   for d in graph[m])  # tasks get the store handed in
    assert cycles(graph) == []
    # a package and its submodules: the implementation lives below, the package re-exports
    assert "search_spaces.spaces" not in graph["search_spaces.spaces.references"]
    assert "search_spaces.spaces.base" not in graph["search_spaces.spaces.accel"]
    assert "hwmodel.sim" not in graph["hwmodel.sim.sweep"]
    # the store's facade forwards to its parts, which never import it back
    assert {"dse.store.reads", "dse.store.writes"} <= graph["dse.store.api"]
    assert not any("dse.store.api" in graph[m] for m in graph if m.startswith("dse.store."))


def test_a_cycle_is_found(tmp_path: Path) -> None:
    """The check can fail: two modules importing each other, one inside a function."""
    pkg = tmp_path / "dse"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from dse.b import x\n")
    (pkg / "b.py").write_text("def x():\n    from dse import a\n")
    for other in PACKAGES[1:]:
        (tmp_path / other).mkdir()
    assert cycles(import_graph(tmp_path)) == [["dse.a", "dse.b"]]
