"""Child tables belong to their parent's load: a REST list of objects (`issues[].labels`) lands
in `issues__labels` in the same transaction as `issues`, gate, quarantine and cursor included."""

from __future__ import annotations

from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests.conftest import Project
from tests.platform_assets.rest_kind.server import api, json_response

__all__ = ["api"]


def issue(number: int, *labels: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": number,
        "title": f"issue {number}",
        "labels": [{"name": name} for name in labels],
        **fields,
    }


class Upstream:
    """The issues the API serves now; change `issues` between runs."""

    def __init__(self, api: HTTPServer) -> None:
        self.issues: list[dict[str, Any]] = []
        api.expect_request("/issues").respond_with_handler(self.handler)

    def handler(self, _request: Request) -> Response:
        return json_response(self.issues)


def github(project: Project, api: HTTPServer, write: str = "merge", table: str = "") -> None:
    project.source(
        "gh",
        f"""
        name: gh
        kind: rest
        client: {{base_url: "{api.url_for("/")}"}}
        tables:
          - name: issues
            endpoint: {{path: /issues}}
            primary_key: id
            write: {write}
            {table}
        """,
    )


def labels(project: Project) -> list[tuple[Any, ...]]:
    return project.query("SELECT _parent_id, name FROM gh.issues__labels ORDER BY 1, _index")


@pytest.fixture
def upstream(api: HTTPServer) -> Upstream:
    return Upstream(api)


def test_a_label_removed_upstream_disappears(
    project: Project, api: HTTPServer, upstream: Upstream
) -> None:
    github(project, api)
    upstream.issues = [issue(1, "bug", "p1"), issue(2, "docs")]
    assert project.run().success

    upstream.issues = [issue(1, "bug")]
    report = project.run()

    assert report.success, report.failures
    assert labels(project) == [(1, "bug"), (2, "docs")]
    assert report.tables[0]["child_tables"] == {"gh.issues__labels": 1}
    assert [t["table"] for t in report.tables] == ["gh.issues", "gh.issues__labels"]
    assert report.summary().split(": ")[1].startswith("2 tables, 2 rows read")
    assert project.query(
        "SELECT rows_in, rows_deleted FROM _tributary.loads "
        "WHERE table_name = 'issues__labels' ORDER BY finished_at"
    ) == [(3, 0), (1, 1)]


def test_a_parent_batch_blocked_by_its_checks_lands_no_child_row(
    project: Project, api: HTTPServer, upstream: Upstream
) -> None:
    github(project, api, table="checks: {row_count: {min: 3}}")
    upstream.issues = [issue(1, "bug"), issue(2, "p1")]

    report = project.run()

    assert not report.success
    assert project.query("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'gh'") == [(0,)]
    assert project.query(
        "SELECT table_name, count(*) FROM _tributary.quarantine GROUP BY 1 ORDER BY 1"
    ) == [("issues", 2), ("issues__labels", 2)]


def test_children_of_quarantined_rows_go_to_quarantine_with_them(
    project: Project, api: HTTPServer, upstream: Upstream
) -> None:
    github(
        project,
        api,
        table="on_fail: quarantine_rows\n            checks: {columns: {state: {isin: [open]}}}",
    )
    upstream.issues = [issue(1, "bug", state="open"), issue(2, "p1", "p2", state="weird")]

    report = project.run()

    assert report.success, report.failures
    assert labels(project) == [(1, "bug")]
    assert project.query(
        "SELECT table_name, reasons, record->>'name' FROM _tributary.quarantine ORDER BY 1, 3"
    ) == [
        ("issues", ["state_isin"], None),
        ("issues__labels", ["parent_quarantined (issues)"], "p1"),
        ("issues__labels", ["parent_quarantined (issues)"], "p2"),
    ]


def test_under_append_a_failed_parent_commit_lands_no_child_and_a_retry_lands_them_once(
    project: Project, api: HTTPServer, upstream: Upstream
) -> None:
    github(project, api, write="append", table="schema_policy: freeze")
    upstream.issues = [issue(1, "bug")]
    assert project.run().success
    upstream.issues = [issue(2, "p1", extra="new column")]

    failed = project.run()

    assert not failed.success
    assert labels(project) == [(1, "bug")]
    upstream.issues = [issue(2, "p1")]
    assert project.run().success
    assert labels(project) == [(1, "bug"), (2, "p1")]


def test_a_replaced_parent_replaces_its_child_table(
    project: Project, api: HTTPServer, upstream: Upstream
) -> None:
    github(project, api, write="replace")
    upstream.issues = [issue(1, "bug"), issue(2, "p1")]
    assert project.run().success

    upstream.issues = [issue(3, "docs")]
    assert project.run().success

    assert labels(project) == [(3, "docs")]
