"""The package has no import cycles, counting imports inside functions too.

An import moved into a function to dodge a cycle still makes the two modules depend on each
other; this test reads every `pipeline/**/*.py` with `ast`, builds the graph of `pipeline.*`
imports (module level and function level alike) and fails listing every cycle it finds.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "pipeline"


def module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(name: str, modules: set[str]) -> str | None:
    """The module `name` refers to: itself, or its package when `name` is an attribute of one."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(path: Path, modules: set[str], package: Path = PACKAGE) -> set[str]:
    """The `pipeline.*` modules that `path` imports, anywhere in the file."""
    here = module_name(path, package)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # `from pipeline import sharded_run` imports the module; `from x import f` the module x
            names = [f"{base}.{alias.name}" for alias in node.names] + [base]
            names = [n for n in names if n in modules] or [base]
        else:
            continue
        for name in names:
            target = _resolve(name, modules) if name.startswith("pipeline") else None
            if target is not None and target != here:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(p) for p in paths}
    graph = {module_name(p): imports_of(p, modules) for p in paths}
    # importing pipeline.a.b runs pipeline/__init__.py and pipeline/a/__init__.py first: those
    # parents are not edges of the importer (they would make every package a cycle with itself)
    return {src: {dst for dst in targets if not src.startswith(dst + ".")} for src, targets in graph.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        work = [(node, iter(sorted(graph.get(node, ()))))]
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        while work:
            current, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[current] = min(low[current], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[current])
            if low[current] == index[current]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == current:
                        break
                if len(component) > 1:
                    found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def test_cycle_finder_finds_a_cycle_and_its_members():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_imports_inside_functions_and_relative_imports_count(tmp_path):
    """A function-level import is an edge like any other: moving an import into a function is
    not a way out of a cycle."""
    package = tmp_path / "pipeline"
    (package / "sub").mkdir(parents=True)
    for name in ("__init__.py", "runner.py", "plan.py", "sub/__init__.py", "sub/a.py", "sub/b.py"):
        (package / name).write_text("")
    (package / "sub" / "a.py").write_text(
        "import os\n\ndef f():\n    from pipeline.runner import x\n    import pipeline.plan\n\n"
        "class C:\n    def g(self):\n        from . import b\n        from ..sub.b import y\n"
    )
    modules = {module_name(p, package) for p in package.rglob("*.py")}
    found = imports_of(package / "sub" / "a.py", modules, package)
    # `from . import b` runs pipeline/sub/__init__.py too (import_graph drops an importer's own parents)
    assert found == {"pipeline.runner", "pipeline.plan", "pipeline.sub.b", "pipeline.sub"}


def test_the_package_has_no_import_cycle():
    graph = import_graph()
    assert len(graph) > 50  # the whole package was read
    found = cycles(graph)
    assert not found, "import cycles in the package:\n" + "\n".join(" <-> ".join(c) for c in found)
