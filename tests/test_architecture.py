"""The package's shape, as ARCHITECTURE.md draws it: layers that only import downwards, no import
cycle, each third-party library behind the one module that owns it, and modules of a readable size.

The import graph is read from the source (every ``import`` anywhere in a module, function bodies and
``TYPE_CHECKING`` blocks included), so it holds for code paths no test runs.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "analyzer"

# Lower numbers are lower layers. A module may import its own package and lower layers; packages of
# the same rank are independent of each other (collect | model, advise | bootstrap).
LAYERS: dict[str, int] = {
    "errors": 0, "records": 0, "config": 0, "window": 0, "formatting": 0, "redaction": 0, "cache": 0, "presets": 0,
    "store": 1,
    "parse": 2,
    "collect": 3, "model": 3, "scope": 3,
    "advise": 4, "bootstrap": 4,
    "present": 5,
    "demo": 6,
    "api": 7,
    "cli": 8,
    "__main__": 9,
}  # fmt: skip
FOUNDATION = 0

# Third-party (and private standard-library) imports and the only modules allowed to make them.
OWNERS: dict[str, tuple[str, ...]] = {
    "github": ("analyzer.collect.github",),  # PyGithub
    "requests": ("analyzer.collect.github", "analyzer.collect.transport"),
    "jinja2": ("analyzer.present.html",),
    "typer": ("analyzer.cli", "analyzer.cli.app", "analyzer.cli.coercion", "analyzer.cli.options"),  # the cli package
    "sqlite3": ("analyzer.store.connection", "analyzer.store.frame", "analyzer.store.columns", "analyzer.store.jobcolumns"),
    "psycopg": ("analyzer.store.postgres",),
    "pyarrow": ("analyzer.present.parquet",),
    "ruamel": ("analyzer.advise.workflows",),
    "sklearn": (),  # the runner split and the failure signatures do its arithmetic in numpy and scipy
    # scipy.sparse for the signatures' vectors only: scipy.special, .cluster and .sparse.csgraph cost ~0.4 s of
    # CPU to import (model.normal and model.linkage do that arithmetic)
    "scipy": ("analyzer.model.signatures",),
    "re._parser": ("analyzer.parse.logs.literals",),
    "zstandard": ("analyzer.store.codec",),
    "sre_parse": (),
}
MAX_LINES = 800  # the hard limit of the project's standards
MAX_CLI_LINES = 270  # the commands (cli/__init__.py): options, one library call, printing; 7-20 lines each (15 commands)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(path: Path) -> set[str]:
    """Every module ``path`` imports (``from a.b import c`` is ``a.b.c`` when that is a module), and
    the names of modules it imports by string (``importlib.import_module("re._parser")``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if candidate in MODULES else node.module)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "import_module" and node.args:
            first = node.args[0]
            found.update([first.value] if isinstance(first, ast.Constant) and isinstance(first.value, str) else [])
    return found


GRAPH = {name: imports_of(path) for name, path in MODULES.items()}


def layer_of(module: str) -> str:
    """``analyzer.parse.logs.index`` → ``parse``; the package itself is the foundation."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "errors"


def layer_violations(graph: Mapping[str, Iterable[str]]) -> list[str]:
    """Imports that go up, or across to a package of the same rank (the foundation modules may use
    each other; the cycle check keeps that honest)."""
    out = []
    for module, targets in sorted(graph.items()):
        for target in sorted(t for t in targets if t.startswith("analyzer.") and t != "analyzer"):
            mine, theirs = layer_of(module), layer_of(target)
            downwards = LAYERS[theirs] < LAYERS[mine] or LAYERS[theirs] == LAYERS[mine] == FOUNDATION
            if mine != theirs and not downwards:
                out.append(f"{module} imports {target} ({mine} may not import {theirs})")
    return out


def cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    edges = {m: sorted(t for t in ts if t in graph and t != m) for m, ts in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def owner_violations(graph: Mapping[str, Iterable[str]]) -> list[str]:
    out = []
    for module, targets in sorted(graph.items()):
        for target in sorted(targets):
            for library, owners in OWNERS.items():
                if (target == library or target.startswith(library + ".")) and module not in owners:
                    out.append(f"{module} imports {target} (only {', '.join(owners) or 'nothing'} may)")
    return out


def test_every_package_has_a_layer() -> None:
    """A new subpackage or top-level module must be placed in a layer (and in ARCHITECTURE.md)."""
    assert sorted({layer_of(m) for m in MODULES} - set(LAYERS)) == []
    architecture = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    for layer in LAYERS:
        if layer not in ("__main__", "presets"):
            assert f"{layer}" in architecture, layer


def test_lower_layers_never_import_higher_ones() -> None:
    assert layer_violations(GRAPH) == []


def test_there_is_no_import_cycle() -> None:
    assert cycles(GRAPH) == []


def test_each_library_is_imported_by_its_owner_only() -> None:
    """PyGithub in collect/github, jinja2 in present/html, typer in cli, sqlite3 in store, ..."""
    assert owner_violations(GRAPH) == []


def test_parsing_is_pure_but_for_reparse() -> None:
    """Only ``parse.reparse`` (parsing the stored logs again) touches the store."""
    touching = sorted(m for m, ts in GRAPH.items() if m.startswith("analyzer.parse") and any(t.startswith("analyzer.store") for t in ts))
    assert touching == ["analyzer.parse.reparse"]


@pytest.mark.parametrize("name", sorted(MODULES))
def test_modules_stay_readable(name: str) -> None:
    limit = MAX_CLI_LINES if name == "analyzer.cli" else MAX_LINES
    assert len(MODULES[name].read_text(encoding="utf-8").splitlines()) <= limit


def test_the_checks_catch_what_they_are_for() -> None:
    """An upward import, a sideways one, a cycle and a library outside its owner are all reported."""
    graph = {
        "analyzer.store.store": {"analyzer.api", "analyzer.records"},
        "analyzer.model.km": {"analyzer.collect.fetch", "jinja2"},
        "analyzer.parse.a": {"analyzer.parse.b"},
        "analyzer.parse.b": {"analyzer.parse.a"},
    }
    assert layer_violations(graph) == [
        "analyzer.model.km imports analyzer.collect.fetch (model may not import collect)",
        "analyzer.store.store imports analyzer.api (store may not import api)",
    ]
    assert cycles(graph) == [["analyzer.parse.a", "analyzer.parse.b"]]
    assert owner_violations(graph) == ["analyzer.model.km imports jinja2 (only analyzer.present.html may)"]
