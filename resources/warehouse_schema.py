"""The platform's own tables in the warehouse, schema `_tributary`. Only the writer writes them."""

from __future__ import annotations

import duckdb

PLATFORM_SCHEMA = "_tributary"
MODEL_SCHEMA = "models"
"""Where the SQL models' tables live: one table per `models/<name>.sql`."""
LINEAGE_COLUMNS = ("_load_id", "_loaded_at", "_source")
SOURCE_FILE = "_source_file"
"""Lineage a batch of files brings itself: the file each row was read from. The file reader types
it as an ENUM of the load's files (as cheap to store as a constant); the writer keeps it out of
the row hash and the schema, and turns a stored ENUM into VARCHAR when other files arrive."""
ROW_HASH = "_row_hash"
"""A hash of each row's data columns, stored beside its lineage; merges compare it to skip
unchanged rows (see `write_dispositions.row_hash`)."""

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
    error VARCHAR,
    rows_superseded BIGINT            -- dropped for a later row of their key in the same batch
);
ALTER TABLE _tributary.loads ADD COLUMN IF NOT EXISTS rows_superseded BIGINT;
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
CREATE TABLE IF NOT EXISTS _tributary.check_results (
    load_id VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    table_name VARCHAR NOT NULL,
    check_name VARCHAR NOT NULL,
    severity VARCHAR NOT NULL,        -- warn | error
    passed BOOLEAN NOT NULL,
    failures BIGINT NOT NULL,
    rows_checked BIGINT NOT NULL,
    rule VARCHAR NOT NULL,
    samples VARCHAR,                  -- JSON list of up to 5 failing values
    checked_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS _tributary.quarantine (
    load_id VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    table_name VARCHAR NOT NULL,
    reasons VARCHAR[] NOT NULL,       -- the checks the row failed
    record JSON NOT NULL,             -- the row as it arrived
    quarantined_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS _tributary.files (
    source VARCHAR NOT NULL,
    table_name VARCHAR NOT NULL,
    path VARCHAR NOT NULL,            -- as the rows' _source_file names it
    size BIGINT NOT NULL,             -- bytes
    modified_ns BIGINT NOT NULL,      -- modification time, ns since the epoch
    content_hash VARCHAR,             -- sha256 of the content, where cheap to take (else NULL)
    load_id VARCHAR NOT NULL,         -- the load that read this version
    loaded_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (source, table_name, path)
);
CREATE TABLE IF NOT EXISTS _tributary.lineage (
    load_id VARCHAR NOT NULL,         -- the model's load (also in _tributary.loads)
    run_id VARCHAR,
    model VARCHAR NOT NULL,           -- models.<name>
    input VARCHAR NOT NULL,           -- schema.table the model read
    input_load_id VARCHAR NOT NULL,   -- a load whose rows were in that input
    recorded_at TIMESTAMPTZ NOT NULL
);
"""


def ensure_platform_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(_DDL)
