"""The layering rule: every module belongs to one floor of the house and imports, at run time,
only modules of its own floor or of floors below it; no module imports itself back through
others (no import cycle), and no two parts of the house import each other.

From the ground up:

    resources   the writer, readers, clients, cursors, redaction: plain typed arguments
    checks      the quality gate (it reads the catalog's check models for their types only)
    sdk         `tributary`, the plugin authors' import
    kinds       platform_assets: the catalog models, the registry, one folder per kind
    sensors     schedules and sensors built from the catalog
    top         definitions assembly, the commands (the demo's publisher too), the runner,
                the testing helper, bench

`if TYPE_CHECKING:` imports do not count: they run only under the type checker."""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("resources", "checks", "tributary", "platform_assets", "sensors", "bench")

# (floor, module prefixes): a module belongs to the floor of its longest matching prefix.
FLOORS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("resources", ("resources",)),
    ("checks", ("checks",)),
    ("sdk", ("tributary",)),
    ("kinds", ("platform_assets",)),
    ("sensors", ("sensors",)),
    (
        "top",
        (
            "platform_assets.platform",
            "platform_assets.definitions",
            "platform_assets.cli",
            "platform_assets.demo_signals",
            "platform_assets.runner",
            "platform_assets.jobs",
            "tributary.testing",
            "bench",
        ),
    ),
)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def runtime_imports(tree: ast.AST) -> set[str]:
    """Names imported by `tree` outside `if TYPE_CHECKING:` blocks, including imports inside
    functions (relative imports skipped: the project uses none). `from a import b` gives
    `a.b` as well as `a`, so that a submodule imported by name counts."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for statement in node.orelse:
                visit(statement)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def project_modules() -> dict[str, Path]:
    """`{dotted module name: file}` for every module of the project's packages."""
    modules: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def import_graph() -> dict[str, set[str]]:
    """`{module: project modules it imports at run time}`; an imported name that is not a
    module (`from a import some_function`) counts as its module `a`."""
    modules = project_modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for imported in runtime_imports(ast.parse(path.read_text(), filename=str(path))):
            while imported and imported not in modules:
                imported = imported.rpartition(".")[0]
            if imported and imported != name:
                targets.add(imported)
        graph[name] = targets
    return graph


def floor_of(module: str) -> int:
    """The index in FLOORS of the floor `module` belongs to."""
    best, length = -1, -1
    for index, (_, prefixes) in enumerate(FLOORS):
        for prefix in prefixes:
            matches = module == prefix or module.startswith(prefix + ".")
            if matches and len(prefix) > length:
                best, length = index, len(prefix)
    assert best >= 0, f"{module} belongs to no floor: add it to FLOORS"
    return best


def cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                connect(target)
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
            connect(node)
    return found


def upward_imports(graph: Mapping[str, Iterable[str]]) -> dict[str, list[str]]:
    """`{module: modules of a higher floor it imports}`."""
    offenders = {
        module: sorted(t for t in targets if floor_of(t) > floor_of(module))
        for module, targets in graph.items()
    }
    return {module: names for module, names in offenders.items() if names}


def floor_graph(graph: Mapping[str, Iterable[str]]) -> dict[str, set[str]]:
    """The import graph between floors (`kinds` and `top` share the platform_assets package,
    so cycles between packages are judged floor by floor)."""
    floors: dict[str, set[str]] = {name: set() for name, _ in FLOORS}
    for module, targets in graph.items():
        here = FLOORS[floor_of(module)][0]
        floors[here].update(FLOORS[floor_of(t)][0] for t in targets)
        floors[here].discard(here)
    return floors


def test_no_module_imports_a_higher_floor_at_run_time() -> None:
    offenders = upward_imports(import_graph())

    assert not offenders, f"modules importing a higher floor: {offenders}"


def test_no_import_cycle_between_modules() -> None:
    found = cycles(import_graph())

    assert not found, f"import cycles: {found}"


def test_no_import_cycle_between_floors() -> None:
    found = cycles(floor_graph(import_graph()))

    assert not found, f"floors importing each other: {found}"


def test_every_module_has_a_floor() -> None:
    for module in project_modules():
        floor_of(module)


def test_the_layer_rules_find_what_they_look_for() -> None:
    graph = {
        "resources.a": {"platform_assets.b"},
        "platform_assets.b": {"platform_assets.c"},
        "platform_assets.c": {"platform_assets.b"},
        "platform_assets.platform": {"sensors.d"},
        "sensors.d": {"platform_assets.b"},
    }

    assert upward_imports(graph) == {"resources.a": ["platform_assets.b"]}
    assert cycles(graph) == [["platform_assets.b", "platform_assets.c"]]
    assert cycles(floor_graph({"checks.x": {"resources.y"}, "resources.y": {"checks.x"}})) == [
        ["checks", "resources"]
    ]
    assert floor_of("platform_assets.platform") > floor_of("sensors.d")


def test_type_checking_imports_do_not_count() -> None:
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from platform_assets.config.files import FileTable\n"
        "import checks.rules\n"
    )

    assert runtime_imports(tree) == {"typing", "typing.TYPE_CHECKING", "checks.rules"}
