"""qps_core's import graph is acyclic, lazy imports included (only `if TYPE_CHECKING:` imports are
left out: they never run). A cycle dodged with a function-level import is still a cycle."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "qps_core"


def module_files() -> dict[str, Path]:
    files: dict[str, Path] = {}
    for path in (ROOT / PACKAGE).rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        files[".".join(parts)] = path
    return files


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for branch in node.orelse:
                visit(branch)
            return
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def import_graph() -> dict[str, set[str]]:
    """module → the qps_core modules it imports (at import time or inside functions)."""
    files = module_files()
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        is_package = path.name == "__init__.py"
        here = name.split(".") if is_package else name.split(".")[:-1]
        targets: set[str] = set()
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
                continue
            base = here[: len(here) - node.level + 1] if node.level else []
            module = ".".join([*base, *(node.module.split(".") if node.module else [])])
            submodules = {f"{module}.{alias.name}" for alias in node.names} & set(files)  # `from . import x`
            targets.update(submodules)
            if len(submodules) < len(node.names):  # names defined in the module itself
                targets.add(module)
        graph[name] = {t for t in targets if t in files and t != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_qps_core_has_no_import_cycle() -> None:
    graph = import_graph()
    assert find_cycle(graph) is None, " → ".join(find_cycle(graph) or [])


def test_the_check_sees_lazy_imports_and_cycles() -> None:
    graph = import_graph()
    # runner imports the packager (through the packaging surface) and the notices only inside functions: still edges
    assert {"qps_core.packaging", "qps_core.notices", "qps_core.outcomes"} <= graph["qps_core.runner"]
    assert "qps_core.packaging.packager" in graph["qps_core.packaging"]  # the lazy surface, written out
    assert "qps_core.models" not in graph["qps_core.outcomes"]  # a TYPE_CHECKING import is no edge
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_result_types_do_not_import_the_runner() -> None:
    graph = import_graph()
    for user in ("qps_core.notices", "qps_core.outcomes"):
        assert "qps_core.runner" not in graph[user], user
