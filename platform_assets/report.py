"""The telemetry report: per source, from `_tributary.loads` since a point in time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb

from platform_assets.errors import one_line
from platform_assets.printing import percent

COLUMNS = (
    "source",
    "runs",
    "loads",
    "succeeded",
    "failed",
    "success_rate",
    "error_rate",
    "p50_seconds",
    "p95_seconds",
    "rows_read",
    "rows_landed",
    "bytes",
    "requests",
    "retries",
    "last_error",
)

_SQL = """
SELECT
    source,
    count(DISTINCT run_id) AS runs,
    count(*) AS loads,
    count(*) FILTER (status = 'succeeded') AS succeeded,
    count(*) FILTER (status <> 'succeeded') AS failed,
    count(*) FILTER (status = 'succeeded') / count(*) AS success_rate,
    count(*) FILTER (status <> 'succeeded') / count(*) AS error_rate,
    round(quantile_cont(epoch(finished_at - started_at), 0.5), 3) AS p50_seconds,
    round(quantile_cont(epoch(finished_at - started_at), 0.95), 3) AS p95_seconds,
    coalesce(sum(rows_in) FILTER (status = 'succeeded'), 0) AS rows_read,
    coalesce(
        sum(coalesce(rows_inserted, 0) + coalesce(rows_updated, 0)) FILTER (status = 'succeeded'),
        0
    ) AS rows_landed,
    coalesce(sum(bytes), 0) AS bytes,
    coalesce(sum(requests), 0) AS requests,
    coalesce(sum(retries), 0) AS retries,
    arg_max(error, finished_at) FILTER (error IS NOT NULL) AS last_error
FROM _tributary.loads
WHERE started_at >= ?
GROUP BY source
ORDER BY source
"""


@dataclass(frozen=True)
class Report:
    since: datetime
    rows: list[tuple[Any, ...]]

    @property
    def headers(self) -> list[str]:
        return list(COLUMNS)


def load_report(con: duckdb.DuckDBPyConnection, since: datetime) -> Report:
    """Success and error rates (as `66.7%`), p50/p95 load duration, rows read and rows landed
    (inserted plus updated) by succeeded loads, bytes, requests and retries per source, for
    loads started at or after `since`."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_schema = '_tributary' AND table_name = 'loads'"
    ).fetchone()
    if not exists or not exists[0]:
        return Report(since, [])
    rows = con.execute(_SQL, [since]).fetchall()
    error = COLUMNS.index("last_error")
    rates = (COLUMNS.index("success_rate"), COLUMNS.index("error_rate"))
    return Report(
        since,
        [
            tuple(
                one_line(value) if n == error and value else percent(value) if n in rates else value
                for n, value in enumerate(row)
            )
            for row in rows
        ],
    )
