"""The benchmark's input: 5M rows x 12 columns (ints, decimals, strings, timestamps, booleans,
2% nulls) as CSV (about 680 MB) and its Parquet twin, made once under bench/.data/.

Beside them, the next snapshot of the same table (`orders_<rows>_changed.*`): every row of the
first, where one in ten (`id % 10 = 3`) has a new `amount` and `updated_at`, followed by 5% new
rows. Both are generated from the row number alone, so every run reads the same bytes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

DATA = Path(__file__).resolve().parent / ".data"

_ROWS_SQL = """
SELECT
    i AS id,
    (i * 7919) % 1000003 AS customer_id,
    CASE WHEN hash(i, 1) % 50 = 0 THEN NULL ELSE (hash(i, 2) % 100000)::INTEGER END AS quantity,
    round((hash(i, 3) % 10000000) / 100.0, 2)::DECIMAL(12, 2) AS amount,
    CASE WHEN hash(i, 4) % 50 = 0 THEN NULL ELSE round((hash(i, 5) % 1000000) / 1000.0, 3) END
        AS weight,
    ['paid', 'shipped', 'cancelled', 'refunded'][1 + (hash(i, 6) % 4)::BIGINT] AS status,
    'customer-' || ((i * 31) % 250000) || '@example.com' AS email,
    CASE WHEN hash(i, 7) % 50 = 0 THEN NULL ELSE md5(i::VARCHAR)[:16] END AS reference,
    TIMESTAMP '2024-01-01' + to_seconds((hash(i, 8) % 63072000)::BIGINT) AS created_at,
    TIMESTAMP '2024-01-01' + to_seconds((hash(i, 9) % 63072000)::BIGINT) AS updated_at,
    hash(i, 10) % 2 = 0 AS is_gift,
    CASE WHEN hash(i, 11) % 50 = 0 THEN NULL
        ELSE ['FR', 'DE', 'ES', 'IT', 'NL'][1 + (hash(i, 12) % 5)::BIGINT] END AS country
FROM range({rows}) t(i)
"""

_CHANGED = "id % 10 = 3"
"""The rows the next snapshot changes: one in ten."""

_CHANGED_SQL = f"""
SELECT * REPLACE (
    CASE WHEN {_CHANGED} THEN amount + 1 ELSE amount END::DECIMAL(12, 2) AS amount,
    CASE WHEN {_CHANGED} THEN updated_at + INTERVAL 1 DAY ELSE updated_at END AS updated_at
)
FROM ({_ROWS_SQL})
"""


@dataclass(frozen=True)
class Snapshot:
    """What the changed snapshot holds against the first, in rows."""

    rows: int
    """Rows of the first snapshot."""
    changed: int
    """Rows of the first whose values differ in the second (10%)."""
    new: int
    """Rows only the second holds (5%), appended after the first's."""

    @property
    def total(self) -> int:
        return self.rows + self.new


def snapshot(rows: int) -> Snapshot:
    """The counts the changed snapshot of `rows` rows is generated with."""
    return Snapshot(rows=rows, changed=len(range(3, rows, 10)), new=rows // 20)


def ensure_inputs(rows: int) -> tuple[Path, Path]:
    """The first snapshot of `rows` rows: (CSV path, Parquet path), generated if missing."""
    return _ensure(f"orders_{rows}", _ROWS_SQL.format(rows=int(rows)))


def ensure_changed_inputs(rows: int) -> tuple[Path, Path]:
    """The next snapshot (see the module's docstring): (CSV path, Parquet path)."""
    total = snapshot(rows).total
    return _ensure(f"orders_{rows}_changed", _CHANGED_SQL.format(rows=int(total)))


def _ensure(stem: str, sql: str) -> tuple[Path, Path]:
    DATA.mkdir(exist_ok=True)
    csv_path, parquet_path = DATA / f"{stem}.csv", DATA / f"{stem}.parquet"
    if not csv_path.exists() or not parquet_path.exists():
        con = duckdb.connect()
        con.execute(f"CREATE TEMP TABLE rows AS {sql}")
        # Written under a temporary name first: an interrupted run leaves no half file behind.
        for path, options in (
            (csv_path, "HEADER, DELIMITER ','"),
            (parquet_path, "FORMAT parquet"),
        ):
            partial = path.with_name(f".{path.name}.partial")
            con.execute(f"COPY rows TO '{partial}' ({options})")
            partial.replace(path)
        con.close()
    return csv_path, parquet_path
