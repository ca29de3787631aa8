"""Loading a `cdc: true` table: the change log of its database instead of a scan.

`run_cdc_table` is the kind's `run_table` (see `platform_assets.factory`): a change-capture
load acknowledges its source (advances the replication slot) after the warehouse commit, which
the shared `run_load` path has no step for.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dagster import AssetExecutionContext

from platform_assets.config.base import SourceConfig, TableConfig
from platform_assets.loading import (
    EXPECTED_ERRORS,
    full_refresh_requested,
    raise_table_failure,
)
from platform_assets.sql_kind.config import SqlSource, SqlTable
from platform_assets.sql_kind.reader import SqlSourceError
from resources.warehouse import Gate, LoadResult, Warehouse
from resources.write_dispositions import WriteSpec

if TYPE_CHECKING:
    from platform_assets.sql_kind.cdc_mysql import MysqlCdc
    from platform_assets.sql_kind.cdc_postgres import PostgresCdc


def run_cdc_table(
    context: AssetExecutionContext,
    warehouse: Warehouse,
    reader: Any,
    source: SourceConfig,
    table: TableConfig,
    gate: Gate | None,
    *,
    write_spec_for: Callable[[SourceConfig, TableConfig], WriteSpec],
) -> LoadResult | None:
    """Load a `cdc: true` table from its database's change log; None for any other table.
    `reader` is the kind's `SqlReader`; `write_spec_for` gives the table's write.
    Raises `SourceLoadError` naming source and table (the connection's secrets masked)."""
    if not isinstance(table, SqlTable) or not table.cdc:
        return None
    assert isinstance(source, SqlSource)
    sql_reader = reader
    spec = write_spec_for(source, table)
    if full_refresh_requested(context, source, table):
        spec = dataclasses.replace(spec, full_refresh=True)
    try:
        database = sql_reader.database(source)
        try:
            cdc = _change_log(source, table, database.url, database.dialect)
            result = cdc.load(warehouse, spec, gate, context.run.run_id)
        except EXPECTED_ERRORS as error:
            raise SqlSourceError(database.redact(str(error))) from error
    except EXPECTED_ERRORS as error:
        raise_table_failure(source.name, table.name, error)
    context.log.info(
        f"{source.name}.{table.name}: {result.rows_in} changed keys in, {result.inserted} "
        f"inserted, {result.updated} updated, {result.deleted} deleted, up to "
        f"{result.cursor} ({result.seconds:.2f}s)"
    )
    return result


def _change_log(
    source: SqlSource, table: SqlTable, url: str, dialect: str
) -> PostgresCdc | MysqlCdc:
    """The change-log reader of `table`'s database, imported here: its driver (psycopg,
    mysql-replication) is needed by a change-capture load alone, not to build definitions."""
    if dialect == "postgres":
        from platform_assets.sql_kind.cdc_postgres import PostgresCdc

        return PostgresCdc.of(source, table, url)
    from platform_assets.sql_kind.cdc_mysql import MysqlCdc

    return MysqlCdc.of(source, table, url)
