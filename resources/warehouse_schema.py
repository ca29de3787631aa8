"""The platform's own tables in the warehouse, schema `_tributary`. Only the writer writes them."""

from __future__ import annotations

import duckdb

PLATFORM_SCHEMA = "_tributary"
LINEAGE_COLUMNS = ("_load_id", "_loaded_at", "_source")

_DDL = """
CREATE SCHEMA IF NOT EXISTS _tributary;
CREATE TABLE IF NOT EXISTS _tributary.loads (
    load_id VARCHAR PRIMARY KEY,
    run_id VARCHAR,
    source VARCHAR NOT NULL,
    table_name VARCHAR NOT NULL,
    write VARCHAR NOT NULL,
    status VARCHAR NOT NULL,          -- succeeded | failed | blocked
    rows_in BIGINT,
    rows_inserted BIGINT,
    rows_updated BIGINT,
    rows_deleted BIGINT,
    bytes BIGINT,
    requests BIGINT,                  -- HTTP (or other) requests the read made
    retries BIGINT,                   -- of which retries
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ NOT NULL,
    error VARCHAR
);
CREATE TABLE IF NOT EXISTS _tributary.state (
    source VARCHAR NOT NULL,
    table_name VARCHAR NOT NULL,
    cursor_value VARCHAR,
    load_id VARCHAR NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (source, table_name)
);
CREATE TABLE IF NOT EXISTS _tributary.schema_changes (
    load_id VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    table_name VARCHAR NOT NULL,
    column_name VARCHAR NOT NULL,
    change VARCHAR NOT NULL,          -- added | widened | discarded | removed
    old_type VARCHAR,
    new_type VARCHAR,
    changed_at TIMESTAMPTZ NOT NULL
);
"""


def ensure_platform_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(_DDL)
