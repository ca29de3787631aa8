"""Files are read once: the file ledger (`_tributary.files`) records each file version a table
read, in the transaction that lands its rows; `append` and `merge` read only new or changed
files, and `tributary run --full-refresh` reloads from scratch on purpose."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import Project

SOURCE = """
    name: shop
    kind: files
    tables:
      - name: orders
        path: in/*.csv
        write: {write}
        {key}
        on_fail: quarantine_rows
        checks:
          columns:
            qty: {{min: 1}}
"""


def shop(project: Project, write: str = "append") -> None:
    key = "primary_key: id" if write in ("merge", "scd2") else ""
    project.source("shop", SOURCE.format(write=write, key=key))


def touch_later(path: Path, seconds: int = 5) -> None:
    """Move a file's modification time on, as an edit a moment later would."""
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + seconds * 1_000_000_000))


def test_three_append_runs_over_the_same_file_store_its_rows_once(project: Project) -> None:
    shop(project)
    project.file("in/a.csv", "id,qty\n1,2\n2,0\n3,4\n")

    reports = [project.run() for _ in range(3)]

    assert all(r.success for r in reports), [r.failures for r in reports]
    assert project.query("SELECT id FROM shop.orders ORDER BY id") == [(1,), (3,)]
    assert project.scalar("SELECT count(*) FROM _tributary.quarantine") == 1
    assert project.query("SELECT path, size FROM _tributary.files") == [("in/a.csv", 19)]
    assert [r.tables[0]["rows_in"] for r in reports] == [3, 0, 0]
    assert project.query(
        "SELECT status, rows_in, rows_inserted FROM _tributary.loads ORDER BY finished_at"
    ) == [("succeeded", 3, 2), ("succeeded", 0, 0), ("succeeded", 0, 0)]


def test_a_new_file_is_read_alone_and_a_changed_file_replaces_its_rows(project: Project) -> None:
    shop(project)
    a = project.file("in/a.csv", "id,qty\n1,2\n2,0\n")
    assert project.run().success
    project.file("in/b.csv", "id,qty\n10,1\n")

    second = project.run()

    assert second.tables[0]["rows_in"] == 1
    project.file("in/a.csv", "id,qty\n1,5\n4,0\n5,5\n")
    touch_later(a)

    third = project.run()

    assert third.success, third.failures
    assert (third.tables[0]["rows_in"], third.tables[0]["rows_deleted"]) == (3, 1)
    assert project.query("SELECT id, qty, _source_file FROM shop.orders ORDER BY id") == [
        (1, 5, "in/a.csv"),
        (5, 5, "in/a.csv"),
        (10, 1, "in/b.csv"),
    ]
    assert project.query(  # the bad row of the first version of a.csv went with it
        "SELECT record->>'id' FROM _tributary.quarantine ORDER BY 1"
    ) == [("4",)]
    assert project.query("SELECT path, size FROM _tributary.files ORDER BY 1") == [
        ("in/a.csv", a.stat().st_size),
        ("in/b.csv", 12),
    ]


def test_under_merge_a_changed_file_s_removed_rows_go_and_the_rest_update(
    project: Project,
) -> None:
    shop(project, "merge")
    a = project.file("in/a.csv", "id,qty\n1,2\n2,3\n")
    project.file("in/b.csv", "id,qty\n3,3\n")
    assert project.run().success
    project.file("in/a.csv", "id,qty\n1,9\n")
    touch_later(a)

    report = project.run()

    table = report.tables[0]
    assert (table["rows_in"], table["rows_updated"], table["rows_deleted"]) == (1, 1, 1)
    assert project.query("SELECT id, qty FROM shop.orders ORDER BY id") == [(1, 9), (3, 3)]


def test_a_file_touched_but_not_changed_is_not_read_again(project: Project) -> None:
    shop(project)
    a = project.file("in/a.csv", "id,qty\n1,2\n")
    assert project.run().success
    touch_later(a)

    report = project.run()

    assert report.tables[0]["rows_in"] == 0
    assert project.scalar("SELECT count(*) FROM shop.orders") == 1
    assert project.scalar("SELECT modified_ns FROM _tributary.files") == a.stat().st_mtime_ns


def test_replace_reads_every_file_each_run(project: Project) -> None:
    shop(project, "replace")
    project.file("in/a.csv", "id,qty\n1,2\n2,0\n")

    reports = [project.run() for _ in range(2)]

    assert [r.tables[0]["rows_in"] for r in reports] == [2, 2]
    assert project.scalar("SELECT count(*) FROM shop.orders") == 1
    assert project.scalar("SELECT count(*) FROM _tributary.quarantine") == 1
    assert project.scalar("SELECT count(*) FROM _tributary.files") == 1


def test_a_full_refresh_reloads_from_scratch(project: Project) -> None:
    shop(project)
    project.file("in/a.csv", "id,qty\n1,2\n")
    assert project.run().success
    project.warehouse.transaction(  # rows that no file holds any more
        lambda con: con.execute("INSERT INTO shop.orders (id, qty) VALUES (99, 1)")
    )
    project.file("in/b.csv", "id,qty\n2,2\n")

    catalog = project.catalog()
    from platform_assets.runner import run_sources

    report = run_sources(
        catalog,
        catalog.sources,
        instance=project.instance,
        resources=project.resources(),
        full_refresh=["shop.orders"],
    )

    assert report.success, report.failures
    assert (report.tables[0]["rows_in"], report.tables[0]["rows_deleted"]) == (2, 2)
    assert project.query("SELECT id FROM shop.orders ORDER BY id") == [(1,), (2,)]
    assert project.query("SELECT path FROM _tributary.files ORDER BY 1") == [
        ("in/a.csv",),
        ("in/b.csv",),
    ]


def test_tributary_run_full_refresh_reloads_a_table_from_scratch(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from platform_assets.cli import app

    monkeypatch.setenv("TRIBUTARY_ROOT", str(project.root))
    monkeypatch.setenv("TRIBUTARY_CATALOG", str(project.catalog_dir))
    monkeypatch.setenv("TRIBUTARY_WAREHOUSE", str(project.root / "warehouse.duckdb"))
    monkeypatch.setenv("DAGSTER_HOME", str(project.root / ".dagster"))
    shop(project)
    project.file("in/a.csv", "id,qty\n1,2\n")
    runner = CliRunner()
    assert runner.invoke(app, ["run", "--source", "shop"]).exit_code == 0
    assert runner.invoke(app, ["run", "--source", "shop"]).exit_code == 0  # no new file

    result = runner.invoke(app, ["run", "--full-refresh", "shop.orders"])

    assert result.exit_code == 0, result.output
    assert project.query(
        "SELECT rows_in, rows_inserted, rows_deleted FROM _tributary.loads ORDER BY finished_at"
    ) == [(1, 1, 0), (0, 0, 0), (1, 1, 1)]
    assert project.query("SELECT id FROM shop.orders") == [(1,)]
