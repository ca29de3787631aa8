"""A rule the catalog accepts is one DuckDB runs: RE2 syntax that Python's `re` lacks included."""

from __future__ import annotations

from tests.conftest import Project


def test_a_regex_in_re2_syntax_passes_validation_and_judges_rows(project: Project) -> None:
    r"""`\p{Lu}` (an upper-case letter in any script) is RE2's; Python's `re` refused it at
    catalog load, and pandera's own compile would have crashed the definitions."""
    project.file("in/cities.csv", "id,name\n1,Ελλάδα\n2,paris\n3,Zürich\n")
    project.source(
        "geo",
        r"""
        name: geo
        kind: files
        tables:
          - name: cities
            path: in/cities.csv
            on_fail: quarantine_rows
            checks: {columns: {name: {regex: "\\p{Lu}"}}}
        """,
    )

    report = project.run()

    assert report.success, report.failures
    assert project.query("SELECT name FROM geo.cities ORDER BY id") == [("Ελλάδα",), ("Zürich",)]
    assert project.scalar("SELECT count(*) FROM _tributary.quarantine") == 1
