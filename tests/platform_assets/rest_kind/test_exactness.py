"""`kind: rest` end to end: wide numbers land exactly, empty pages add nothing, records without
their key or cursor fail naming it, cursors compare as instants, and interpolated secrets never
reach the load record, the event log or the asset metadata."""

from __future__ import annotations

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from platform_assets.catalog import CatalogError
from tests.conftest import Project
from tests.platform_assets.rest_kind.server import api, json_response

__all__ = ["api"]


def raw(body: str) -> Response:
    return Response(body, status=200, mimetype="application/json")


def rest_source(project: Project, api: HTTPServer, table: str, client: str = "") -> None:
    project.source(
        "api",
        f"""
        name: api
        kind: rest
        client:
          base_url: {api.url_for("/")}
          retry: {{max_attempts: 2, max_wait: 1s}}
          {client}
        tables:
{table}
        """,
    )


def test_an_integer_beyond_bigint_lands_exactly_as_ubigint(
    project: Project, api: HTTPServer
) -> None:
    api.expect_request("/items").respond_with_response(
        raw('[{"id": 14933243513335727983, "price": 0.1234567890123456789}, {"id": 5}]')
    )
    rest_source(
        project,
        api,
        """
          - name: items
            endpoint: {path: /items}
            primary_key: id
            write: merge
        """,
    )

    report = project.run()

    assert report.success, report.failures
    assert project.query("SELECT id::VARCHAR, price::VARCHAR FROM api.items ORDER BY id") == [
        ("5", None),
        ("14933243513335727983", "0.1234567890123456789"),
    ]
    assert project.query(
        "SELECT data_type FROM information_schema.columns "
        "WHERE table_name = 'items' AND column_name = 'id'"
    ) == [("UBIGINT",)]


def test_a_dependent_endpoint_keeps_a_ubigint_parent_value_exactly(
    project: Project, api: HTTPServer
) -> None:
    api.expect_request("/users").respond_with_response(raw('[{"id": 14933243513335727983}]'))
    api.expect_request("/users/14933243513335727983/posts").respond_with_json([{"post": 1}])
    rest_source(
        project,
        api,
        """
          - name: users
            endpoint: {path: /users}
            primary_key: id
          - name: posts
            endpoint: {path: "/users/{users.id}/posts"}
        """,
    )

    report = project.run()

    assert report.success, report.failures
    assert project.query("SELECT _users_id::VARCHAR, post FROM api.posts") == [
        ("14933243513335727983", 1)
    ]


def test_a_number_no_type_holds_fails_the_load_naming_source_table_field_and_value(
    project: Project, api: HTTPServer
) -> None:
    api.expect_request("/items").respond_with_response(
        raw('[{"id": 1, "n": 123456789012345678901234567890123456789012}]')
    )
    rest_source(project, api, "          - name: items\n            endpoint: {path: /items}")

    report = project.run()

    assert not report.success
    assert report.failures[0].startswith("source 'api', table 'items': GET ")
    assert (
        "field 'n': no exact type holds the number 123456789012345678901234567890123456789012"
        in report.failures[0]
    )


def serve_users(api: HTTPServer, last_page: str) -> None:
    def handler(request: Request) -> Response:
        if request.args.get("next_token") == "p2":
            return raw(last_page)
        return json_response({"users": [{"id": 1, "name": "ada"}], "next_token": "p2"})

    api.expect_request("/users").respond_with_handler(handler)


USERS = """
          - name: users
            endpoint:
              path: /users
              records: $.users
              paginator: {type: cursor, cursor_path: $.next_token, cursor_param: next_token}
            primary_key: id
            write: merge
"""


@pytest.mark.parametrize(
    "last_page", ['{"users": null, "next_token": null}', '{"next_token": null}']
)
def test_a_last_page_without_records_lands_no_phantom_row(
    project: Project, api: HTTPServer, last_page: str
) -> None:
    serve_users(api, last_page)
    rest_source(project, api, USERS)

    report = project.run()

    assert report.success, report.failures
    assert project.query(
        "SELECT * EXCLUDE (_load_id, _loaded_at, _source, _row_hash) FROM api.users"
    ) == [(1, "ada")]


def test_a_record_without_its_primary_key_fails_the_load_naming_the_key(
    project: Project, api: HTTPServer
) -> None:
    serve_users(api, '{"users": [{"name": "bob"}], "next_token": null}')
    rest_source(project, api, USERS)

    report = project.run()

    assert not report.success
    assert report.failures[0].startswith("source 'api', table 'users': GET ")
    assert "primary key 'id' is missing" in report.failures[0]
    assert project.query("SELECT count(*) FROM _tributary.loads WHERE status = 'succeeded'") == [
        (0,)
    ]


def incremental_table(extra: str = "") -> str:
    return f"""
          - name: events
            endpoint: {{path: /events}}
            primary_key: id
            write: merge
            incremental:
              cursor_field: changed_at
              param: since
              initial_value: "2024-01-01T00:00:00Z"
              {extra}
"""


def test_a_cursor_field_missing_from_the_records_fails_naming_it(
    project: Project, api: HTTPServer
) -> None:
    api.expect_request("/events").respond_with_json([{"id": 1, "updated_at": "2024-05-01"}])
    rest_source(project, api, incremental_table())

    report = project.run()

    assert not report.success
    assert report.failures[0].startswith("source 'api', table 'events': ")
    assert "incremental.cursor_field 'changed_at' is not in the records" in report.failures[0]


def test_cursors_with_different_offsets_compare_as_instants_and_are_stored_in_utc(
    project: Project, api: HTTPServer
) -> None:
    asked: list[str | None] = []

    def handler(request: Request) -> Response:
        asked.append(request.args.get("since"))
        return json_response(
            [
                {"id": 1, "changed_at": "2024-05-01T10:00:00+02:00"},
                {"id": 2, "changed_at": "2024-05-01T09:00:00Z"},
            ]
        )

    api.expect_request("/events").respond_with_handler(handler)
    rest_source(project, api, incremental_table("lookback: 30m"))

    assert project.run().success
    assert project.run().success

    assert project.scalar("SELECT cursor_value FROM _tributary.state") == "2024-05-01T09:00:00Z"
    assert asked == ["2024-01-01T00:00:00Z", "2024-05-01T08:30:00Z"]


def test_lookback_on_a_cursor_that_is_neither_time_nor_number_is_a_catalog_error(
    project: Project, api: HTTPServer
) -> None:
    rest_source(
        project,
        api,
        incremental_table("lookback: 1h").replace('"2024-01-01T00:00:00Z"', "v1.2.3"),
    )

    with pytest.raises(
        CatalogError,
        match=r"catalog/api.yaml: tables\[0\]\.incremental: .*lookback: 'v1.2.3' \(initial_value\) "
        r"is neither an ISO-8601 timestamp nor a number",
    ):
        project.catalog()


def test_lookback_on_a_text_cursor_fails_the_run_naming_the_field(
    project: Project, api: HTTPServer
) -> None:
    api.expect_request("/events").respond_with_json([{"id": 1, "changed_at": "rev-b"}])
    rest_source(
        project,
        api,
        incremental_table("lookback: 1h").replace('initial_value: "2024-01-01T00:00:00Z"', ""),
    )
    assert project.run().success

    second = project.run()

    assert not second.success
    assert (
        "incremental.lookback needs a timestamp or numeric cursor, but cursor_field "
        "'changed_at' holds 'rev-b'" in second.failures[0]
    )


def test_a_secret_in_a_header_never_reaches_loads_event_log_or_metadata(
    project: Project, api: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARTNER_KEY", "hdr-secret-913")
    api.expect_request("/items").respond_with_handler(
        lambda request: json_response(
            {"error": f"bad key {request.headers.get('X-Partner-Key')}"}, status=500
        )
    )
    rest_source(
        project,
        api,
        "          - name: items\n"
        "            endpoint: {path: /items, params: {k: '${PARTNER_KEY}'}}",
        client='headers: {X-Partner-Key: "${PARTNER_KEY}", Accept: application/json}',
    )
    catalog = project.catalog()

    report = project.run()

    assert not report.success
    assert 'bad key ***"' in report.failures[0]
    assert "hdr-secret-913" not in str(report.failures)
    assert "hdr-secret-913" not in str(project.instance.all_logs(report.run_id))
    errors = project.query("SELECT error FROM _tributary.loads")
    assert errors and all("hdr-secret-913" not in str(e) for (e,) in errors)
    assert "hdr-secret-913" not in catalog.sources[0].model_dump_json()
    from platform_assets.platform import build_definitions

    specs = build_definitions(catalog).resolve_all_asset_specs()
    assert "hdr-secret-913" not in str([(s.key, s.metadata, s.description) for s in specs])


def test_pages_whose_number_types_differ_land_in_the_type_that_holds_both(
    project: Project, api: HTTPServer
) -> None:
    pages = {
        "1": '[{"id": 5, "x": 1.5}]',
        "2": '[{"id": 14933243513335727983, "x": 0.1234567890123456789}]',
        "3": "[]",
    }
    api.expect_request("/items").respond_with_handler(
        lambda request: raw(pages[request.args.get("page", "1")])
    )
    rest_source(
        project,
        api,
        "          - name: items\n            endpoint: {path: /items, paginator: page_number}",
    )

    report = project.run()

    assert report.success, report.failures
    assert project.query(
        "SELECT id::VARCHAR, typeof(id), x::VARCHAR, typeof(x) FROM api.items ORDER BY id"
    ) == [
        ("5", "UBIGINT", "1.5000000000000000000", "DECIMAL(20,19)"),
        ("14933243513335727983", "UBIGINT", "0.1234567890123456789", "DECIMAL(20,19)"),
    ]
