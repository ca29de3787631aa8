"""The layering rule: the ground floor (`resources/`: writer, readers, clients) never imports a
higher layer (`platform_assets` — the catalog and the kinds —, `checks`, `sensors`) at run time.
It takes plain typed arguments; the kind's asset wiring translates the catalog into them."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HIGHER = ("platform_assets", "checks", "sensors")

# What still imports upward, to be removed as the REST reader and client take plain arguments:
# they still take the catalog's source, table and client models (the client translates `auth`
# into the mechanisms of resources/rest/auth.py). Nothing may be added here.
ALLOWED = {
    "resources/rest/client.py": {"platform_assets.config.rest"},
    "resources/rest/reader.py": {"platform_assets.config", "platform_assets.config.rest"},
}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def runtime_imports(tree: ast.AST) -> set[str]:
    """Modules imported by `tree` outside `if TYPE_CHECKING:` blocks (relative imports skipped:
    they stay inside their package)."""
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
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def upward_imports() -> dict[str, set[str]]:
    """`{module path: higher-layer modules it imports at run time}` for every module under
    resources/ that has any."""
    offenders: dict[str, set[str]] = {}
    for path in sorted((ROOT / "resources").rglob("*.py")):
        imports = runtime_imports(ast.parse(path.read_text(), filename=str(path)))
        upward = {name for name in imports if name.split(".")[0] in HIGHER}
        if upward:
            offenders[path.relative_to(ROOT).as_posix()] = upward
    return offenders


def test_the_ground_floor_imports_no_higher_layer_at_run_time() -> None:
    offenders = upward_imports()

    unexpected = {
        path: sorted(names - ALLOWED.get(path, set()))
        for path, names in offenders.items()
        if names - ALLOWED.get(path, set())
    }
    assert not unexpected, f"resources/ modules importing a higher layer: {unexpected}"


def test_the_allow_list_names_only_imports_that_remain() -> None:
    offenders = upward_imports()

    stale = {
        path: sorted(names - offenders.get(path, set()))
        for path, names in ALLOWED.items()
        if names - offenders.get(path, set())
    }
    assert not stale, f"remove from ALLOWED, these imports are gone: {stale}"


def test_type_checking_imports_do_not_count() -> None:
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from platform_assets.config.files import FileTable\n"
        "import checks.rules\n"
    )

    assert runtime_imports(tree) == {"typing", "checks.rules"}
