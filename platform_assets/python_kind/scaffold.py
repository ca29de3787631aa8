"""`tributary new-source NAME`: a plugin package that installs and passes its own test as is."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")


class ScaffoldError(ValueError):
    """The name is not usable, or the folder already exists."""


def class_name(name: str) -> str:
    """`weather_station` -> `WeatherStationSource`."""
    return "".join(part.capitalize() for part in name.split("_") if part) + "Source"


def package_files(name: str) -> dict[str, str]:
    """Relative path -> content of the package `new_source(name)` writes."""
    module, cls = f"tributary_{name}", class_name(name)
    files = {
        "pyproject.toml": f"""
            [build-system]
            requires = ["setuptools>=61"]
            build-backend = "setuptools.build_meta"

            [project]
            name = "tributary-{name.replace("_", "-")}"
            version = "0.1.0"
            description = "A Tributary source plugin: {name}."
            requires-python = ">=3.11"
            # Install into the environment Tributary runs in. It is not named as a dependency:
            # a different project holds the name "tributary" on PyPI.
            dependencies = []

            [project.optional-dependencies]
            test = ["pytest"]

            # The catalog names the plugin by this entry point: `plugin: {name}`.
            [project.entry-points."tributary.sources"]
            {name} = "{module}.source:{cls}"

            [tool.setuptools.packages.find]
            where = ["src"]

            [tool.pytest.ini_options]
            testpaths = ["tests"]
            """,
        f"src/{module}/__init__.py": f'''
            """The {name} source plugin for Tributary."""

            from {module}.source import {cls}

            __all__ = ["{cls}"]
            ''',
        f"src/{module}/source.py": f'''
            """Rows of the `{name}` source. Replace `fetch` with calls to your system: the
            platform validates the options, stages each batch, runs the table's checks, lands it
            and stores the cursor."""

            from __future__ import annotations

            from collections.abc import Iterator
            from typing import Any

            import tributary
            from tributary import DataSource, State, TableRequest

            Rows = list[dict[str, Any]]


            class {cls}(DataSource):
                """`rows` new records per run, numbered on from the stored cursor."""

                class Options(tributary.Options):
                    rows: int = 3

                options: Options

                def fetch(self, table: TableRequest, state: State) -> Iterator[Rows]:
                    last = int(state.cursor) if state.cursor is not None else 0
                    numbers = range(last + 1, last + self.options.rows + 1)
                    yield [{{"id": n, "name": f"{{table.name}} {{n}}"}} for n in numbers]
            ''',
        f"catalog/{name}.yaml": f"""
            name: {name}
            kind: python
            description: Records from the {name} plugin.
            plugin: {name}
            options: {{rows: 3}}
            schedule: "0 * * * *"
            freshness: {{warn_after: 2h, fail_after: 1d}}
            tables:
              - name: records
                primary_key: id
                write: merge
                incremental: {{cursor_field: id}}
                checks:
                  columns:
                    id: {{nullable: false, unique: true}}
                    name: {{nullable: false}}
            """,
        f"tests/test_{name}.py": f'''
            """The plugin run by the platform against a temporary warehouse."""

            from pathlib import Path

            from tributary.testing import run_source

            CATALOG = Path(__file__).resolve().parents[1] / "catalog" / "{name}.yaml"


            def test_records_land_and_a_second_run_fetches_only_new_ones(tmp_path: Path) -> None:
                first = run_source(CATALOG, "{name}", tmp_path)
                assert first["records"]["id"].to_list() == [1, 2, 3]

                second = run_source(CATALOG, "{name}", tmp_path)
                assert sorted(second["records"]["id"].to_list()) == [1, 2, 3, 4, 5, 6]
            ''',
        "README.md": f"""
            # tributary-{name.replace("_", "-")}

            A Tributary source plugin. Install it next to Tributary, test it, then copy
            `catalog/{name}.yaml` into the project's catalog folder:

                pip install -e .
                pytest
                cp catalog/{name}.yaml <project>/platform_assets/catalog/
                tributary validate && tributary run {name}
            """,
    }
    return {path: textwrap.dedent(text).lstrip("\n") for path, text in files.items()}


def new_source(name: str, directory: Path) -> Path:
    """Write the plugin package for `name` into `directory/name`; returns that folder. Raises
    `ScaffoldError` when `name` is not a lowercase identifier or the folder exists."""
    if not _NAME.match(name):
        raise ScaffoldError(
            f"{name!r} is not a source name: use lowercase letters, digits and _, "
            "starting with a letter"
        )
    root = directory / name
    if root.exists():
        raise ScaffoldError(f"{root} already exists")
    for relative, content in package_files(name).items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    return root
