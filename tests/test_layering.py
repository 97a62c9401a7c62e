"""The import structure of the pfsim package, read from the source with `ast` (nothing is imported).

Module-level imports are those run when a module is first imported: at the top of the file, and
inside module-level `if`/`try`/`with` blocks and class bodies; imports under `if TYPE_CHECKING:`
are left out. Imports inside a function or lambda run only when it is called; they are kept apart as
"deferred" imports.

- No cycle among module-level imports (test_no_module_level_import_cycle).
- No cycle even counting deferred imports, other than those listed in KNOWN_DEFERRED_CYCLES
  (test_no_new_deferred_import_cycle): a deferred import breaks the cycle at import time, but the
  two modules still depend on each other.
- The numerical layers (kernels, models, physics, solvers) load neither the run driver (runner), the
  config (config), the command line (cli) nor the decomposed runs (parallel) at module level, directly or
  through another module (test_numerical_layers_do_not_import_the_driver).

An import of `pfsim.a.b` also runs `pfsim/a/__init__.py`; the cycle checks leave these implicit
parent-package edges out (a submodule importing a sibling while its package initialises is not a
cycle that can fail), the layering check counts them.
"""

import ast
from pathlib import Path

from conftest import ROOT

PACKAGE = ROOT / "pfsim"

LOWER_LAYERS = ("pfsim.kernels", "pfsim.models", "pfsim.physics", "pfsim.solvers")
DRIVER = ("pfsim.runner", "pfsim.config", "pfsim.cli", "pfsim.parallel")

# Cycles that exist only through a deferred import, each a sorted tuple of module names.
# pfsim.bench raises pfsim.cli's UsageError, which now lives in pfsim.errors: once pfsim.bench
# imports it from there, this entry can go.
KNOWN_DEFERRED_CYCLES: set[tuple[str, str]] = set()


def _modules() -> dict[str, tuple[Path, bool]]:
    """Module name -> (file, is a package)."""
    mods = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        if is_pkg:
            parts = parts[:-1]
        mods[".".join(parts)] = (path, is_pkg)
    return mods


MODULES = _modules()


def _in_package(name: str) -> str | None:
    """The pfsim module that `import name` loads last: name, or the nearest package above it."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _is_type_checking(node) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(module: str) -> list[tuple[str, bool, int]]:
    """(imported pfsim module, deferred, line) for each import of a pfsim module in `module`."""
    path, is_pkg = MODULES[module]
    package = module if is_pkg else module.rpartition(".")[0]
    found = []

    def add(target, deferred, line):
        if target is not None and target != module:
            found.append((target, deferred, line))

    def visit(node, deferred):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for sub in child.orelse:
                    visit(ast.Module(body=[sub], type_ignores=[]), deferred)
                continue
            d = deferred or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name.split(".")[0] == "pfsim":
                        add(_in_package(alias.name), d, child.lineno)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[: len(base) - (child.level - 1)]
                    source = ".".join(base + ([child.module] if child.module else []))
                elif child.module and child.module.split(".")[0] == "pfsim":
                    source = child.module
                else:
                    continue
                for alias in child.names:
                    full = f"{source}.{alias.name}"  # `from pkg import submodule`
                    add(full if full in MODULES else _in_package(source), d, child.lineno)
            visit(child, d)

    visit(ast.parse(path.read_text(), filename=str(path)), False)
    return found


IMPORTS = {m: _imports(m) for m in MODULES}


def _graph(with_deferred: bool) -> dict[str, set[str]]:
    return {m: {t for t, deferred, _ in IMPORTS[m] if with_deferred or not deferred} for m in MODULES}


def _cycles(graph: dict[str, set[str]]) -> list[tuple[str, ...]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index, low, on_stack, stack, out = {}, {}, set(), [], []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, children = work[-1]
            for w in children:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        out.append(tuple(sorted(comp)))
    return sorted(out)


def _describe(cycle, graph) -> str:
    members = set(cycle)
    edges = []
    for m in cycle:
        for t, deferred, line in IMPORTS[m]:
            if t in members and t in graph[m]:
                edge = f"{m}:{line} -> {t}" + (" (deferred)" if deferred else "")
                if edge not in edges:
                    edges.append(edge)
    return "\n  ".join([" <-> ".join(cycle)] + edges)


def _under(name: str, prefixes) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def test_the_walk_sees_the_package():
    assert {"pfsim", "pfsim.cli", "pfsim.errors", "pfsim.runner", "pfsim.models.base"} <= set(MODULES)
    cli = {t for t, deferred, _ in IMPORTS["pfsim.cli"] if not deferred}
    assert "pfsim.errors" in cli
    assert any(t == "pfsim.runner" and deferred for t, deferred, _ in IMPORTS["pfsim.cli"])


def test_cycle_finder():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert _cycles(graph) == [("a", "b", "c")]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_level_import_cycle():
    graph = _graph(with_deferred=False)
    cycles = _cycles(graph)
    assert not cycles, "module-level import cycles:\n" + "\n".join(_describe(c, graph) for c in cycles)


def test_no_new_deferred_import_cycle():
    graph = _graph(with_deferred=True)
    new = [c for c in _cycles(graph) if c not in KNOWN_DEFERRED_CYCLES]
    assert not new, "import cycles through deferred imports:\n" + "\n".join(_describe(c, graph) for c in new)


def test_numerical_layers_do_not_import_the_driver():
    graph = _graph(with_deferred=False)
    problems = []
    for start in sorted(m for m in MODULES if _under(m, LOWER_LAYERS)):
        parent = {start: None}
        todo = [start]
        while todo:
            v = todo.pop()
            # importing v also runs the __init__ of each package above it
            nexts = set(graph[v])
            name = v.rpartition(".")[0]
            while name:
                nexts.add(name)
                name = name.rpartition(".")[0]
            for w in sorted(nexts):
                if w not in parent:
                    parent[w] = v
                    todo.append(w)
        for bad in sorted(m for m in parent if _under(m, DRIVER)):
            chain = [bad]
            while parent[chain[-1]] is not None:
                chain.append(parent[chain[-1]])
            problems.append(" -> ".join(reversed(chain)))
    assert not problems, "module-level imports from the numerical layers into the driver:\n" + "\n".join(problems)


def test_numerical_layers_open_no_store():
    """Models take what they start from in other run stores as arguments (pfsim.build reads
    them): no module of the numerical layers imports pfsim.io or zarr, not even in a function."""
    problems = []
    for m in sorted(m for m in MODULES if _under(m, LOWER_LAYERS)):
        problems += [f"{m}:{line} -> {t}" for t, _, line in IMPORTS[m] if _under(t, ("pfsim.io",))]
        tree = ast.parse(MODULES[m][0].read_text())
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            problems += [f"{m}:{node.lineno} -> {n}" for n in names if n.split(".")[0] == "zarr"]
    assert not problems, "the numerical layers open run stores:\n" + "\n".join(problems)
