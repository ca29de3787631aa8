"""The asset wiring of `kind: sql`: one asset per table, read by DuckDB's scanners.

Per table: read the stored cursor, attach the database to the load's staging file, copy the
rows from the cursor on (the filter runs in the database) into staging, outside the warehouse
lock, then judge and land them with the new cursor in one commit. Nothing of a failed read
lands, and its cursor stays.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

from dagster import AssetsDefinition, ConfigurableResource
from pydantic import Field

from platform_assets.config.base import SourceConfig, TableConfig
from platform_assets.config.env import interpolate
from platform_assets.factory import build_source_assets
from platform_assets.loading import EXPECTED_ERRORS, Extract, write_spec
from platform_assets.sql_kind.cdc import run_cdc_table
from platform_assets.sql_kind.config import SqlSource, SqlTable, dialect_of
from platform_assets.sql_kind.reader import (
    Database,
    SqlSourceError,
    TableRead,
    stage_table,
    staged_maximum,
)
from resources.cursors import start_from
from resources.naming import normalize
from resources.warehouse import STAGED_TABLE, Load
from resources.write_dispositions import WriteSpec

SQL_ERRORS: tuple[type[Exception], ...] = (*EXPECTED_ERRORS, SqlSourceError)
_SECRET_WORDS = ("PASS", "SECRET", "TOKEN", "KEY", "PWD")


class SqlReader(ConfigurableResource):
    """Reads `kind: sql` tables; its scanners are installed into `extension_dir`."""

    extension_dir: str = Field(description="Where DuckDB's scanner extensions are installed.")
    root: str = Field(description="Where a relative SQLite path starts.")

    def database(self, source: SqlSource) -> Database:
        """The source's database, its URL resolved now (a password comes from the
        environment; the variables that hold secrets are masked in every message)."""
        return database_of(source, Path(self.root))


def database_of(source: SqlSource, root: Path) -> Database:
    secrets: list[str] = []

    def remember(name: str, value: str) -> None:
        if any(word in name.upper() for word in _SECRET_WORDS):
            secrets.append(value)

    url = interpolate(source.connection, on_value=remember)
    return Database(
        url=url,
        dialect=dialect_of(url),
        root=root,
        statement_timeout=source.statement_timeout,
        secrets=tuple(secrets),
    )


def table_write_spec(source: SourceConfig, table: TableConfig) -> WriteSpec:
    """The write, with merges keeping the latest row of a key by the cursor column."""
    assert isinstance(table, SqlTable)
    incremental = table.incremental
    order_by = normalize(incremental.cursor_field, table.column_names) if incremental else None
    return write_spec(source, table, order_by=order_by)


def table_read(source: SqlSource, table: SqlTable, last: str | None) -> TableRead:
    """The reader's plain description of `table`, reading from `last` (the stored cursor)."""
    schema, name = table.schema_and_name if table.table is not None else (None, None)
    incremental = table.incremental
    read = TableRead(
        label=table.table or table.name,
        schema=schema,
        name=name,
        query=table.query,
        naming=table.column_names,
        source_timezone=source.source_timezone,
    )
    if incremental is None:
        return read
    return dataclasses.replace(
        read,
        cursor_field=incremental.cursor_field,
        start=start_from(last, incremental.initial_value, incremental.lookback),
        on_null_cursor=incremental.on_null_cursor,
        first_load=last is None,
    )


def _extract(reader: SqlReader, source: SourceConfig, table: TableConfig) -> Extract:
    assert isinstance(source, SqlSource) and isinstance(table, SqlTable)

    def stage(load: Load) -> str | None:
        last = None
        if table.incremental is not None and not load.full_refresh:
            last = load.warehouse.stored_cursor(source.name, table.name)
        database = reader.database(source)
        read = table_read(source, table, last)
        con = load.connection
        outcome = stage_table(
            con,
            database,
            read,
            Path(reader.extension_dir),
            load.stage,
            lambda column: staged_maximum(con, STAGED_TABLE, column),
        )
        load.requests = 1
        return outcome.cursor if outcome.cursor is not None else last

    return stage


def build_sql_assets(source: SourceConfig) -> AssetsDefinition:
    assert isinstance(source, SqlSource)
    return build_source_assets(
        source,
        reader_key="sql",
        extract_for=_extract,
        kinds_of=lambda _table: {source.dialect_or_none or "sql"},
        write_spec_for=table_write_spec,
        expected_errors=SQL_ERRORS,
        run_table=functools.partial(run_cdc_table, write_spec_for=table_write_spec),
    )
