"""`kind: python` end to end: a plugin package installed with an entry point, named in the
catalog, lands rows with checks and an incremental cursor; a plugin that raises fails its table
only and moves nothing; a plugin that is missing or given wrong options is a catalog error."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from platform_assets.catalog import CatalogError
from tests.conftest import Project
from tests.tributary.plugin_package import (
    forget_plugin_modules,
    install_plugin_package,
    write_events,
)

EVENTS = [
    {"id": 1, "kind": "event", "amount": 1.5, "updated_at": "2026-03-01T10:00:00Z"},
    {"id": 2, "kind": "event", "amount": 2.25, "updated_at": "2026-03-02T10:00:00Z"},
    {"id": 3, "kind": "event", "amount": 4.0, "updated_at": "2026-03-03T10:00:00Z"},
    {"id": 9, "kind": "signup", "amount": 0.0, "updated_at": "2026-03-01T09:00:00Z"},
]
NEWER = [
    {"id": 4, "kind": "event", "amount": 8.0, "updated_at": "2026-03-04T10:00:00Z"},
    {"id": 5, "kind": "event", "amount": 16.0, "updated_at": "2026-03-05T10:00:00Z"},
]


@pytest.fixture
def plugin(project: Project, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The `events` plugin package, installed, and a catalog source using it; yields the events
    file it reads."""
    install_plugin_package(project.root / "site", monkeypatch)
    events = write_events(project.root / "events.json", EVENTS)
    events_source(project, events)
    yield events
    forget_plugin_modules()


def asked() -> list[tuple[str, str | None]]:
    """What the plugin's fetch was asked for: (table, state.cursor) per call."""
    return list(sys.modules["events_plugin"].ASKED)


def events_source(project: Project, events: Path, options: str = "", table: str = "") -> Path:
    return project.source(
        "vendor",
        f"""
        name: vendor
        kind: python
        plugin: events
        options:
          path: {events}
          {options}
        tables:
          - name: events
            primary_key: id
            write: merge
            incremental: {{cursor_field: updated_at}}
            checks:
              columns:
                id: {{nullable: false, unique: true}}
                amount: {{min: 0}}
            {table}
          - name: signups
            options: {{kind: signup}}
        """,
    )


def cursor(project: Project) -> str | None:
    rows = project.query(
        "SELECT cursor_value FROM _tributary.state"
        " WHERE source = 'vendor' AND table_name = 'events'"
    )
    return rows[0][0] if rows else None


def test_an_installed_plugin_named_by_its_entry_point_lands_rows_checks_and_cursor(
    project: Project, plugin: Path
) -> None:
    report = project.run()

    assert report.success, report.failures
    assert project.query("SELECT id, amount, amount_cents FROM vendor.events ORDER BY id") == [
        (1, 1.5, 150),
        (2, 2.25, 225),
        (3, 4.0, 400),
    ]
    assert project.query("SELECT id FROM vendor.signups") == [(9,)]
    assert cursor(project) == "2026-03-03T10:00:00Z"
    checks = project.query(
        "SELECT count(*), bool_and(passed) FROM _tributary.check_results WHERE source = 'vendor'"
    )
    assert checks[0][0] > 0 and checks[0][1] is True
    assert asked() == [("events", None), ("signups", None)]


def test_a_second_run_asks_the_plugin_only_for_records_after_the_cursor(
    project: Project, plugin: Path
) -> None:
    project.run()
    write_events(plugin, [*EVENTS, *NEWER])

    report = project.run()

    assert report.success, report.failures
    assert ("events", "2026-03-03T10:00:00Z") in asked()
    events = next(t for t in report.tables if t["table"] == "vendor.events")
    assert events["rows_in"] == 2
    assert project.scalar("SELECT count(*) FROM vendor.events") == 5
    assert cursor(project) == "2026-03-05T10:00:00Z"


def test_lookback_and_initial_value_set_where_the_plugin_starts(
    project: Project, plugin: Path
) -> None:
    events_source(
        project,
        plugin,
        table='incremental: {cursor_field: updated_at, initial_value: "2026-03-01T12:00:00Z", '
        "lookback: 1d}",
    )
    text = project.catalog_dir.joinpath("vendor.yaml").read_text()
    project.catalog_dir.joinpath("vendor.yaml").write_text(
        text.replace("    incremental: {cursor_field: updated_at}\n", "", 1)
    )
    project.run()
    project.run()

    starts = [start for table, start in asked() if table == "events"]
    assert starts == ["2026-03-01T12:00:00Z", "2026-03-02T10:00:00Z"]
    assert project.query("SELECT id FROM vendor.events ORDER BY id") == [(2,), (3,)]


@pytest.mark.parametrize(
    ("fail", "line"),
    [
        ("fetch", "plugin 'events' failed in fetch: RuntimeError: vendor API is down"),
        (
            "transform",
            "plugin 'events' failed in transform: ValueError: cannot parse amount 'n/a'",
        ),
        (
            "midstream",
            "plugin 'events' failed in fetch: ConnectionResetError: connection reset after "
            "2 batches",
        ),
        (
            "bad_batch",
            "plugin 'events' yielded an invalid batch: TypeError: a batch must be a pyarrow "
            "Table or RecordBatch, a polars DataFrame or a list of dicts, not str",
        ),
        (
            "no_cursor",
            "plugin 'events': incremental.cursor_field 'updated_at' is not a column of the "
            "batch (columns: id, kind, amount, amount_cents)",
        ),
    ],
)
def test_a_plugin_that_raises_fails_its_table_only_and_moves_nothing(
    project: Project, plugin: Path, fail: str, line: str
) -> None:
    events_source(project, plugin)
    project.run()
    newer = [{**NEWER[0], "id": n, "updated_at": f"2026-03-1{n}T10:00:00Z"} for n in range(4, 10)]
    write_events(plugin, [*EVENTS, *newer, {**NEWER[0], "id": 6, "kind": "signup"}])
    events_source(project, plugin, options=f"fail: {fail}")

    report = project.run()

    assert not report.success
    assert report.failures == [f"source 'vendor', table 'events': {line}"]
    assert project.scalar("SELECT count(*) FROM vendor.events") == 3
    assert cursor(project) == "2026-03-03T10:00:00Z"
    failed = project.query(
        "SELECT error FROM _tributary.loads WHERE table_name = 'events' AND status = 'failed'"
    )
    assert len(failed) == 1 and line in failed[0][0]
    assert project.query("SELECT id FROM vendor.signups ORDER BY id") == [(6,), (9,)]


def test_a_secret_the_plugin_resolved_never_reaches_the_error(
    project: Project, plugin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VENDOR_TOKEN", "s3cr3t-t0ken")
    events_source(project, plugin, options='token: "${VENDOR_TOKEN}"')

    report = project.run()

    assert (
        "source 'vendor', table 'events': plugin 'events' failed in fetch: PermissionError: "
        "the vendor refused token ***"
    ) in report.failures
    assert not any("s3cr3t" in failure for failure in report.failures)
    options = project.catalog().source("vendor").options  # type: ignore[attr-defined]
    assert options.token.template == "${VENDOR_TOKEN}"  # kept until run time


@pytest.mark.parametrize(
    ("options", "table", "problem"),
    [
        (
            "batch_rows: many",
            "",
            "catalog/vendor.yaml: options.batch_rows: input should be a valid integer, unable "
            "to parse string as an integer (plugin 'events')",
        ),
        ("colour: blue", "", "catalog/vendor.yaml: options.colour: unknown key (plugin 'events')"),
        (
            "",
            "options: {kind: 3}",
            "catalog/vendor.yaml: tables[0].options.kind: input should be a valid string "
            "(plugin 'events')",
        ),
    ],
)
def test_wrong_options_are_a_catalog_error_naming_file_field_and_plugin(
    project: Project, plugin: Path, options: str, table: str, problem: str
) -> None:
    events_source(project, plugin, options=options, table=table)

    with pytest.raises(CatalogError) as error:
        project.catalog()

    assert error.value.problems == [problem]


def test_missing_options_are_a_catalog_error(project: Project, plugin: Path) -> None:
    project.source(
        "vendor",
        """
        name: vendor
        kind: python
        plugin: events
        tables: [{name: events}]
        """,
    )
    with pytest.raises(CatalogError) as error:
        project.catalog()

    assert error.value.problems == ["catalog/vendor.yaml: options: is required (plugin 'events')"]


@pytest.mark.parametrize(
    ("reference", "problem"),
    [
        (
            "broken",
            "plugin 'broken' failed to import: ModuleNotFoundError: No module named "
            "'vendor_sdk_that_is_not_installed'",
        ),
        (
            "nosuch",
            "plugin 'nosuch': no entry point of that name in group tributary.sources "
            "(installed: broken, events); install the plugin's package or write module:Class",
        ),
        (
            "events_plugin:Nope",
            "plugin 'events_plugin:Nope': module 'events_plugin' has no attribute 'Nope'",
        ),
        (
            "events_plugin:ASKED",
            "plugin 'events_plugin:ASKED' is [], not a subclass of tributary.DataSource",
        ),
    ],
)
def test_a_plugin_that_cannot_be_imported_is_a_catalog_error_naming_it(
    project: Project, plugin: Path, reference: str, problem: str
) -> None:
    project.source(
        "vendor",
        f"""
        name: vendor
        kind: python
        plugin: "{reference}"
        tables: [{{name: events}}]
        """,
    )
    with pytest.raises(CatalogError) as error:
        project.catalog()

    assert error.value.problems == [f"catalog/vendor.yaml: plugin: {problem}"]


def test_project_code_is_named_module_colon_class(project: Project, plugin: Path) -> None:
    events_source(project, plugin)
    text = project.catalog_dir.joinpath("vendor.yaml").read_text()
    project.catalog_dir.joinpath("vendor.yaml").write_text(
        text.replace("plugin: events", "plugin: events_plugin:Events")
    )

    assert project.run().success
    assert project.scalar("SELECT count(*) FROM vendor.events") == 3


def test_batches_whose_columns_change_land_together(project: Project, plugin: Path) -> None:
    project.source(
        "vendor",
        """
        name: vendor
        kind: python
        plugin: events_plugin:Evolving
        tables: [{name: items}]
        """,
    )

    assert project.run().success
    assert project.query("SELECT id, size, colour FROM vendor.items ORDER BY id") == [
        (1, 10, None),
        (2, 2**40, "red"),
        (3, 30, "blue"),
    ]


def test_cursors_with_different_utc_offsets_compare_as_instants(
    project: Project, plugin: Path
) -> None:
    """10:00+02:00 is 08:00 UTC, an hour before 09:00Z: as text it would sort later."""
    write_events(
        plugin,
        [
            {"id": 1, "kind": "event", "amount": 1.0, "updated_at": "2024-05-01T10:00:00+02:00"},
            {"id": 2, "kind": "event", "amount": 1.0, "updated_at": "2024-05-01T09:00:00Z"},
            {"id": 9, "kind": "signup", "amount": 0.0, "updated_at": "2024-05-01T09:00:00Z"},
        ],
    )

    report = project.run()

    assert report.success, report.failures
    assert cursor(project) == "2024-05-01T09:00:00Z"


def test_a_null_cursor_fails_the_table_naming_the_field(project: Project, plugin: Path) -> None:
    write_events(
        plugin,
        [
            {"id": 1, "kind": "event", "amount": 1.0, "updated_at": "2024-05-01T09:00:00Z"},
            {"id": 2, "kind": "event", "amount": 1.0, "updated_at": None},
        ],
    )

    report = project.run()

    assert not report.success
    assert any(
        "incremental.cursor_field 'updated_at' is null in 1 of 2 rows" in line
        for line in report.failures
    ), report.failures
    assert cursor(project) is None


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ("write: replace", "write: replace cannot be used with incremental"),
        (
            'incremental: {cursor_field: updated_at, initial_value: "abc", lookback: 1d}',
            "'abc' (initial_value) is neither an ISO-8601 timestamp nor a number",
        ),
    ],
)
def test_incremental_settings_that_cannot_work_are_catalog_errors(
    project: Project, plugin: Path, table: str, problem: str
) -> None:
    events_source(project, plugin, table=table)
    if table.startswith("incremental"):
        text = project.catalog_dir.joinpath("vendor.yaml").read_text()
        project.catalog_dir.joinpath("vendor.yaml").write_text(
            text.replace("    incremental: {cursor_field: updated_at}\n", "", 1)
        )
    if table.startswith("write"):
        text = project.catalog_dir.joinpath("vendor.yaml").read_text()
        project.catalog_dir.joinpath("vendor.yaml").write_text(
            text.replace("    write: merge\n", "", 1)
        )

    with pytest.raises(CatalogError) as error:
        project.catalog()

    assert problem in str(error.value)
