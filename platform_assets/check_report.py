"""`tributary report --checks`: how the quality rules fared, per source and per rule."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import duckdb

from platform_assets.printing import percent

TOTAL_HEADERS = ["source", "check evaluations", "pass rate", "rows quarantined"]
HEADERS = [
    "source",
    "table",
    "check",
    "severity",
    "evaluations",
    "pass rate",
    "failing rows",
    "last failure",
]

_SQL = """
SELECT source, table_name, check_name, any_value(severity),
       count(*) AS evaluations,
       avg(passed::INTEGER) AS pass_rate,
       sum(failures) AS failing_rows,
       max(checked_at) FILTER (WHERE NOT passed) AS last_failure
FROM _tributary.check_results
WHERE checked_at >= ?
GROUP BY ALL
ORDER BY source, table_name, pass_rate, check_name
"""

_TOTALS = """
SELECT source, count(*) AS evaluations, avg(passed::INTEGER) AS pass_rate,
       (SELECT count(*) FROM _tributary.quarantine q
        WHERE q.source = r.source AND q.quarantined_at >= ?) AS quarantined
FROM _tributary.check_results r
WHERE checked_at >= ?
GROUP BY ALL ORDER BY source
"""


def check_rows(con: duckdb.DuckDBPyConnection, since: datetime) -> list[list[Any]]:
    """One row per (source, table, check) evaluated since `since`; failing checks first."""
    return [
        [
            source,
            table,
            check,
            severity,
            evaluations,
            percent(rate),
            failing,
            last.isoformat(timespec="seconds") if last else "-",
        ]
        for source, table, check, severity, evaluations, rate, failing, last in con.execute(
            _SQL, [since]
        ).fetchall()
    ]


def source_totals(con: duckdb.DuckDBPyConnection, since: datetime) -> list[list[Any]]:
    """Per source: evaluations, overall pass rate and rows quarantined since `since`."""
    return [
        [source, evaluations, percent(rate), quarantined]
        for source, evaluations, rate, quarantined in con.execute(
            _TOTALS, [since, since]
        ).fetchall()
    ]
