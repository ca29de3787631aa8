"""What each write mode guarantees, end to end: rules judge the rows that would land, counts say
what landed, and write modes that contradict incremental loading are refused."""

from __future__ import annotations

import json

import pytest
from pytest_httpserver import HTTPServer

from platform_assets.catalog import CatalogError
from tests.conftest import Project
from tests.platform_assets.rest_kind.server import api
from tests.platform_assets.rest_kind.test_child_tables import Upstream, github, issue

__all__ = ["api"]

WEBSHOP = """
    name: webshop
    kind: files
    tables:
      - name: orders
        path: in/orders-*.jsonl
        primary_key: order_id
        write: merge
        on_fail: quarantine_rows
        checks:
          columns:
            order_id: {nullable: false, unique: true}
            status: {isin: [paid, shipped, cancelled]}
"""


def jsonl(*records: dict[str, object]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def test_an_order_paid_then_shipped_in_one_batch_lands_once_as_shipped(project: Project) -> None:
    """Merge keeps the latest row of a key, so `unique` judges the batch after that: the order
    is not quarantined twice, and it lands."""
    project.source("webshop", WEBSHOP)
    project.file(
        "in/orders-2026-01.jsonl",
        jsonl(
            {"order_id": 1, "status": "paid"},
            {"order_id": 2, "status": "paid"},
            {"order_id": 1, "status": "shipped"},
            {"order_id": 3, "status": "lost"},
        ),
    )

    report = project.run()

    assert report.success, report.failures
    assert project.query("SELECT order_id, status FROM webshop.orders ORDER BY 1") == [
        (1, "shipped"),
        (2, "paid"),
    ]
    assert project.query("SELECT reasons, record->>'order_id' FROM _tributary.quarantine") == [
        (["status_isin"], "3")
    ]
    table = report.tables[0]
    assert (table["rows_in"], table["rows_inserted"], table["rows_superseded"]) == (4, 2, 1)
    assert table["rows_quarantined"] == 1


def test_the_run_output_counts_superseded_rows(project: Project) -> None:
    project.source(
        "penguins",
        """
        name: penguins
        kind: files
        tables:
          - {name: species, path: in/penguins.csv, primary_key: species, write: merge}
        """,
    )
    kinds = ["Adelie"] * 152 + ["Chinstrap"] * 68 + ["Gentoo"] * 124
    project.file(
        "in/penguins.csv",
        "species,sample\n" + "".join(f"{s},{i}\n" for i, s in enumerate(kinds)),
    )

    report = project.run()

    assert report.success, report.failures
    assert "superseded" in report.headers()
    row = dict(zip(report.headers(), report.rows()[0], strict=True))
    assert (row["rows read"], row["inserted"], row["superseded"]) == (344, 3, 341)
    assert project.query(
        "SELECT rows_in, rows_inserted, rows_superseded FROM _tributary.loads"
    ) == [(344, 3, 341)]


@pytest.mark.parametrize("write", ["replace", "scd2"])
def test_write_modes_that_contradict_incremental_loading_are_refused(
    project: Project, write: str
) -> None:
    project.source(
        "gh",
        f"""
        name: gh
        kind: rest
        client: {{base_url: "http://127.0.0.1:1/"}}
        tables:
          - name: issues
            endpoint: {{path: /issues}}
            primary_key: id
            write: {write}
            incremental: {{cursor_field: updated_at, param: since}}
        """,
    )

    with pytest.raises(
        CatalogError,
        match=rf"gh.yaml: tables\[0\].*write: {write} cannot be used with incremental",
    ):
        project.catalog()


def test_a_bad_record_fetched_again_is_quarantined_once(project: Project, api: HTTPServer) -> None:
    upstream = Upstream(api)
    github(
        project,
        api,
        table="on_fail: quarantine_rows\n            checks: {columns: {state: {isin: [open]}}}",
    )
    upstream.issues = [issue(1, state="open"), issue(2, state="weird")]

    reports = [project.run() for _ in range(2)]

    assert all(r.success for r in reports), [r.failures for r in reports]
    assert [r.tables[0]["rows_quarantined"] for r in reports] == [1, 1]
    assert project.query("SELECT record->>'id' FROM _tributary.quarantine") == [("2",)]
