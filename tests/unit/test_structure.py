"""The shape of ``src/sika`` a maintainer can read: no import circle, no module over 500 lines, no
function over 70 (migrations aside).

Every import counts, wherever it stands (inside a function, under ``TYPE_CHECKING``): a circle that
only a lazy import keeps from failing is still a circle to the reader. Importing ``a.b.c`` also
imports the packages ``a`` and ``a.b``, so a submodule that imports its own package's ``__init__``
(which imports the submodule) is a circle too.

``_KNOWN`` lists what is older than this test; it may only shrink.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "sika"
MODULE_LINES_MAX = 500
FUNCTION_LINES_MAX = 70

# Violations that predate the rule (issue 11 removes them); nothing may be added here.
_KNOWN: set[str] = set()


def _modules() -> dict[str, Path]:
    found = {}
    for path in SRC.rglob("*.py"):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _imports(name: str, path: Path, tree: ast.Module, known: dict[str, Path]) -> set[str]:
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    targets: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            targets.add(module)
            targets.update(f"{module}.{alias.name}" for alias in node.names)
    edges: set[str] = set()
    for target in targets:
        if target in known and target != name:
            edges.add(target)  # naming one's own package counts: its __init__ may import us back
        parts = target.split(".")
        for i in range(1, len(parts)):  # importing a.b.c runs a and a.b first
            candidate = ".".join(parts[:i])
            if candidate in known and candidate != name and not name.startswith(candidate + "."):
                edges.add(candidate)
    return edges


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (iterative Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
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
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
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
    return found


def _violations() -> set[str]:
    modules = _modules()
    graph: dict[str, set[str]] = {}
    out: set[str] = set()
    for name, path in modules.items():
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source)
        graph[name] = _imports(name, path, tree, modules)
        if ".migrations" in name:
            continue
        if len(source.splitlines()) > MODULE_LINES_MAX:
            out.add(f"module {name}")
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno is not None
                if node.end_lineno - node.lineno + 1 > FUNCTION_LINES_MAX:
                    out.add(f"function {name}.{node.name}")
    for component in _cycles(graph):
        out.add(f"cycle {component[0]}")
    return out


def test_no_module_function_or_import_circle_grows_past_the_limits() -> None:
    new = _violations() - _KNOWN
    assert not new, "over the limits (see this test's docstring):\n" + "\n".join(sorted(new))


def test_the_list_of_known_violations_only_shrinks() -> None:
    gone = _KNOWN - _violations()
    assert not gone, "fixed, so remove from _KNOWN:\n" + "\n".join(sorted(gone))
