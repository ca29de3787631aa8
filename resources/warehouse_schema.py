"""The platform's own tables in the warehouse, schema `_tributary`. Only the writer writes them."""

from __future__ import annotations

import re

import duckdb

PLATFORM_SCHEMA = "_tributary"
MODEL_SCHEMA = "models"
"""Where the SQL models' tables live: one table per `models/<name>.sql`."""
LINEAGE_COLUMNS = ("_load_id", "_loaded_at", "_source")
SOURCE_FILE = "_source_file"
"""Lineage a batch of files brings itself: the file each row was read from. The file reader types
it as an ENUM of the load's files (as cheap to store as a constant); the writer keeps it out of
the row hash and the schema, and turns a stored ENUM into VARCHAR when other files arrive."""
DELETED_AT = "_deleted_at"
"""When a captured delete removed the row at the source (TIMESTAMPTZ; NULL while it lives): a
change-data-capture batch marks its deletes with it, and soft deletes keep it in the table."""
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
CREATE TABLE IF NOT EXISTS _tributary.dead_letters (
    load_id VARCHAR NOT NULL,         -- the load that committed (and then acknowledged) it
    source VARCHAR NOT NULL,
    table_name VARCHAR NOT NULL,
    message_id VARCHAR NOT NULL,      -- the broker's id of the message
    reason VARCHAR NOT NULL,          -- why it did not land: a parse error, the checks it failed
    payload BLOB,                     -- the message as it arrived (a row failing checks: as JSON)
    dead_at TIMESTAMPTZ NOT NULL
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


_LAKE_DDL = re.sub(r",\s*PRIMARY KEY \([^)]*\)", "", _DDL).replace(" PRIMARY KEY", "")
"""The same tables without keys, which DuckLake does not have: the writer replaces rows by
DELETE then INSERT, and is the only writer of these tables."""


def ensure_platform_schema(con: duckdb.DuckDBPyConnection, lake: bool = False) -> None:
    """Create the platform's tables where missing (`lake`: on a DuckLake, without keys)."""
    con.execute(_LAKE_DDL if lake else _DDL)
