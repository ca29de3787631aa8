"""The benchmark's input: 5M rows x 12 columns (ints, decimals, strings, timestamps, booleans,
2% nulls) as CSV (about 680 MB) and its Parquet twin, made once under bench/.data/."""

from __future__ import annotations

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


def ensure_inputs(rows: int) -> tuple[Path, Path]:
    DATA.mkdir(exist_ok=True)
    csv_path, parquet_path = DATA / f"orders_{rows}.csv", DATA / f"orders_{rows}.parquet"
    if not csv_path.exists() or not parquet_path.exists():
        con = duckdb.connect()
        con.execute(f"CREATE TEMP TABLE rows AS {_ROWS_SQL.format(rows=int(rows))}")
        con.execute(f"COPY rows TO '{csv_path}' (HEADER, DELIMITER ',')")
        con.execute(f"COPY rows TO '{parquet_path}' (FORMAT parquet)")
        con.close()
    return csv_path, parquet_path
