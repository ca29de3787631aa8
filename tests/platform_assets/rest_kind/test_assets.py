"""`kind: rest` end to end through Dagster: child tables, incremental runs, dependent endpoints,
failures that write nothing, and secrets that never reach the event log."""

from __future__ import annotations

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from platform_assets.catalog import CatalogError
from tests.conftest import Project
from tests.platform_assets.rest_kind.server import api, json_response

__all__ = ["api"]

ISSUES = [
    {
        "id": 100 + n,
        "number": n,
        "title": f"issue {n}",
        "updated_at": f"2024-03-0{n}T10:00:00Z",
        "user": {"login": f"dev{n}", "site": {"admin": False}},
        "labels": [{"name": "bug", "color": "red"}, {"name": f"area-{n}", "color": "blue"}],
    }
    for n in range(1, 6)
]


def issues_source(project: Project, api: HTTPServer, extra: str = "") -> None:
    project.source(
        "gh",
        f"""
        name: gh
        kind: rest
        client:
          base_url: {api.url_for("/")}
          auth: {{type: bearer, token: "${{GH_TOKEN}}"}}
          retry: {{max_attempts: 2, max_wait: 1s}}
        tables:
          - name: issues
            endpoint:
              path: /issues
              params: {{per_page: 2}}
              paginator: link_header
            primary_key: id
            write: merge
            incremental:
              cursor_field: updated_at
              param: since
              initial_value: "2024-01-01T00:00:00Z"
              lookback: 1h
        {extra}
        """,
    )


def serve_issues(api: HTTPServer, issues: list[dict[str, object]]) -> list[str | None]:
    """Serve issues updated at or after `since`, two per page; return each request's `since`."""
    asked: list[str | None] = []

    def handler(request: Request) -> Response:
        assert request.headers["Authorization"] == "Bearer tok-secret-42"
        since = request.args.get("since")
        page = int(request.args.get("page", 1))
        if page == 1:
            asked.append(since)
        newer = [i for i in issues if since is None or str(i["updated_at"]) >= since]
        headers = {}
        if page * 2 < len(newer):
            headers["Link"] = (
                f'<{api.url_for("/issues")}?page={page + 1}&since={since}>; rel="next"'
            )
        return json_response(newer[(page - 1) * 2 : page * 2], headers=headers)

    api.expect_request("/issues").respond_with_handler(handler)
    return asked


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GH_TOKEN", "tok-secret-42")


def test_lists_of_objects_land_in_a_child_table_committed_with_the_parent(
    project: Project, api: HTTPServer
) -> None:
    serve_issues(api, ISSUES)
    issues_source(project, api)

    report = project.run()

    assert report.success, report.failures
    assert report.tables[0]["child_tables"] == {"gh.issues__labels": 10}
    assert project.scalar("SELECT count(*) FROM gh.issues") == 5
    assert project.query(
        "SELECT _parent_id, _index, name FROM gh.issues__labels WHERE _parent_id = 103 ORDER BY 2"
    ) == [(103, 0, "bug"), (103, 1, "area-3")]
    assert project.query("SELECT user__login, user__site__admin FROM gh.issues WHERE id = 101") == [
        ("dev1", False)
    ]


def test_an_incremental_second_run_asks_only_for_newer_records(
    project: Project, api: HTTPServer
) -> None:
    asked = serve_issues(api, ISSUES)
    issues_source(project, api)
    assert project.run().success

    issues_later = [
        *ISSUES,
        {**ISSUES[0], "title": "reopened", "updated_at": "2024-03-09T00:00:00Z"},
    ]
    api.clear()
    asked2 = serve_issues(api, issues_later[1:])
    second = project.run()

    assert second.success, second.failures
    assert asked == ["2024-01-01T00:00:00Z"]
    assert asked2 == ["2024-03-05T09:00:00Z"]
    assert second.tables[0]["rows_in"] == 2
    assert project.scalar("SELECT title FROM gh.issues WHERE id = 101") == "reopened"
    assert project.scalar("SELECT count(*) FROM gh.issues") == 5
    assert (
        project.scalar("SELECT cursor_value FROM _tributary.state WHERE table_name = 'issues'")
        == "2024-03-09T00:00:00Z"
    )


def test_dependent_endpoint_fetches_per_parent_record_after_the_parent(
    project: Project, api: HTTPServer
) -> None:
    serve_issues(api, ISSUES[:3])
    for n in range(1, 4):
        api.expect_request(f"/issues/{n}/comments").respond_with_json(
            [{"id": n * 10 + k, "body": f"comment {k}"} for k in range(n)]
        )
    issues_source(
        project,
        api,
        extra="""
          - name: comments
            endpoint: {path: "/issues/{issues.number}/comments"}
            primary_key: id
            write: merge
        """,
    )

    report = project.run()

    assert report.success, report.failures
    assert project.query(
        "SELECT _issues_number, count(*) FROM gh.comments GROUP BY 1 ORDER BY 1"
    ) == [(1, 1), (2, 2), (3, 3)]


def test_malformed_json_fails_the_run_and_writes_nothing(project: Project, api: HTTPServer) -> None:
    api.expect_request("/issues").respond_with_data('[{"id": 1, "updated_at": "2024', status=200)
    issues_source(project, api)

    report = project.run()

    assert not report.success
    assert "not valid JSON" in "\n".join(report.failures)
    assert project.query(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'gh'"
    ) == [(0,)]
    assert project.query("SELECT count(*) FROM _tributary.state") == [(0,)]
    error = project.scalar("SELECT error FROM _tributary.loads WHERE status = 'failed'")
    assert "/issues" in error and "not valid JSON" in error


def test_a_failed_table_skips_its_dependents_and_not_the_other_tables(
    project: Project, api: HTTPServer
) -> None:
    api.expect_request("/issues").respond_with_data('[{"id": 1, "updated_at": "2024', status=200)
    api.expect_request("/labels").respond_with_json([{"id": 1, "name": "bug"}])
    issues_source(
        project,
        api,
        extra="""
          - name: comments
            endpoint: {path: "/issues/{issues.number}/comments"}
          - name: labels
            endpoint: {path: /labels}
        """,
    )

    report = project.run()

    assert not report.success
    issues, comments = report.failures
    assert issues.startswith("source 'gh', table 'issues': ") and "not valid JSON" in issues
    assert (
        comments == "source 'gh', table 'comments': skipped, its parent table 'issues' did not load"
    )
    assert project.query("SELECT id, name FROM gh.labels") == [(1, "bug")]
    assert not any("/comments" in request.path for request, _ in api.log)


def test_the_token_never_reaches_the_event_log_nor_the_load_record(
    project: Project, api: HTTPServer
) -> None:
    api.expect_request("/issues").respond_with_json(
        {"message": "Bad credentials: tok-secret-42", "echo": "Bearer tok-secret-42"}, status=403
    )
    issues_source(project, api)

    report = project.run()

    assert not report.success
    logs = str(project.instance.all_logs(report.run_id))
    assert "403" in logs
    assert "tok-secret-42" not in logs
    errors = project.query("SELECT error FROM _tributary.loads")
    assert errors and all("tok-secret-42" not in str(e) for (e,) in errors)


def test_an_unknown_paginator_is_a_catalog_error_naming_the_field(project: Project) -> None:
    project.source(
        "bad",
        """
        name: bad
        kind: rest
        client: {base_url: "http://127.0.0.1:9"}
        tables:
          - name: items
            endpoint: {path: /items, paginator: {type: pages}}
        """,
    )

    with pytest.raises(CatalogError, match=r"catalog/bad.yaml: tables\[0\]\.endpoint\.paginator"):
        project.catalog()


@pytest.mark.parametrize(
    ("endpoint", "field"),
    [
        ('{path: /items, records: "$.data["}', r"endpoint\.records"),
        (
            '{path: /items, paginator: {type: cursor, cursor_path: "$.meta[?(@"}}',
            r"endpoint\.paginator\.cursor\.cursor_path",
        ),
    ],
)
def test_a_jsonpath_that_does_not_parse_is_a_catalog_error_naming_the_field(
    project: Project, endpoint: str, field: str
) -> None:
    project.source(
        "bad",
        f"""
        name: bad
        kind: rest
        client: {{base_url: "http://127.0.0.1:9"}}
        tables:
          - name: items
            endpoint: {endpoint}
        """,
    )

    with pytest.raises(
        CatalogError, match=rf"catalog/bad.yaml: tables\[0\]\.{field}: .* is not a JSONPath"
    ):
        project.catalog()


def test_a_second_run_over_the_same_records_merges_child_rows_without_duplicates(
    project: Project, api: HTTPServer
) -> None:
    asked = serve_issues(api, ISSUES)
    issues_source(project, api)
    assert project.run().success
    project.source(
        "gh",
        project.catalog_dir.joinpath("gh.yaml")
        .read_text()
        .replace("lookback: 1h", "lookback: 1000d"),
    )

    second = project.run()

    assert second.success, second.failures
    assert asked == ["2024-01-01T00:00:00Z", "2021-06-09T10:00:00Z"]
    assert project.scalar("SELECT count(*) FROM gh.issues__labels") == 10
    assert project.scalar("SELECT count(DISTINCT _load_id) FROM gh.issues__labels") == 1


def _serve_pages(api: HTTPServer, issues: list[dict[str, object]]) -> None:
    """Serve `issues` two per page, as they are when asked (the list may change between runs)."""

    def handler(request: Request) -> Response:
        page = int(request.args.get("page", 1))
        headers = {}
        if page * 2 < len(issues):
            headers["Link"] = f'<{api.url_for("/issues")}?page={page + 1}>; rel="next"'
        return json_response(issues[(page - 1) * 2 : page * 2], headers=headers)

    api.expect_request("/issues").respond_with_handler(handler)


def _frozen_issues_source(project: Project, api: HTTPServer, policy: str = "evolve") -> None:
    project.source(
        "gh",
        f"""
        name: gh
        kind: rest
        client:
          base_url: {api.url_for("/")}
          auth: {{type: bearer, token: "${{GH_TOKEN}}"}}
        tables:
          - name: issues
            endpoint: {{path: /issues, params: {{per_page: 2}}, paginator: link_header}}
            primary_key: id
            write: merge
            schema_policy: {policy}
        """,
    )


def test_a_field_null_on_the_first_page_is_typed_by_its_values_on_a_later_one(
    project: Project, api: HTTPServer
) -> None:
    """Page 1 holds only nulls for milestone; page 2 integers: nulls are no evidence of a type."""
    issues = [
        {**issue, "milestone": None if issue["number"] <= 2 else 7 * int(str(issue["number"]))}
        for issue in ISSUES
    ]
    _serve_pages(api, issues)
    _frozen_issues_source(project, api)

    report = project.run()

    assert report.success, report.failures
    assert project.scalar("SELECT typeof(milestone) FROM gh.issues LIMIT 1") == "BIGINT"
    assert project.query("SELECT id, milestone FROM gh.issues ORDER BY id") == [
        (101, None),
        (102, None),
        (103, 21),
        (104, 28),
        (105, 35),
    ]


def test_a_field_null_in_every_record_creates_no_column(project: Project, api: HTTPServer) -> None:
    _serve_pages(api, [{**issue, "closed_by": None} for issue in ISSUES])
    _frozen_issues_source(project, api)

    report = project.run()

    assert report.success, report.failures
    columns = [row[0] for row in project.query("DESCRIBE gh.issues")]
    assert "closed_by" not in columns


def test_a_list_of_objects_arriving_as_null_adds_no_column_to_a_frozen_parent(
    project: Project, api: HTTPServer
) -> None:
    """labels became the child table issues__labels; a later run where every record's labels is
    null means "no child rows", not a new VARCHAR column, so freeze accepts it."""
    issues = [dict(issue) for issue in ISSUES]
    _serve_pages(api, issues)
    _frozen_issues_source(project, api, policy="freeze")
    assert project.run().success
    for issue in issues:
        issue["labels"] = None
        issue["title"] = f"{issue['title']} (edited)"

    report = project.run()

    assert report.success, report.failures
    columns = [row[0] for row in project.query("DESCRIBE gh.issues")]
    assert "labels" not in columns
    assert project.scalar("SELECT title FROM gh.issues WHERE id = 101") == "issue 1 (edited)"


def test_a_stored_value_set_to_null_by_the_source_becomes_null(
    project: Project, api: HTTPServer
) -> None:
    """A merge batch whose column holds only nulls still says "this is null now"."""
    issues = [{**issue, "milestone": 5} for issue in ISSUES]
    _serve_pages(api, issues)
    _frozen_issues_source(project, api)
    assert project.run().success
    for issue in issues:
        issue["milestone"] = None

    report = project.run()

    assert report.success, report.failures
    assert project.scalar("SELECT count(milestone) FROM gh.issues") == 0
    assert project.scalar("SELECT typeof(milestone) FROM gh.issues LIMIT 1") == "BIGINT"
