"""`kind: rest`: one asset per endpoint table; its child tables (lists of objects) land with it.

Per table: every page is staged, its child rows beside it (`Load.child`), then the table, its
child tables and its incremental cursor commit in one transaction. A failure before that commit
leaves all of them (and the cursor) where they were, so the next run fetches the same records
again.
"""

import dataclasses
from collections.abc import Iterator
from typing import Any

import duckdb
import pyarrow as pa
from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    MaterializeResult,
    multi_asset,
)

from checks.asset_checks import check_specs
from checks.gate import CheckSetupError, QualityGate
from checks.rules import compile_checks
from platform_assets.config.base import SourceConfig
from platform_assets.factory import asset_spec
from platform_assets.loading import (
    EXPECTED_ERRORS,
    SourceLoadError,
    asset_key,
    blocked_message,
    failed_tables,
    full_refresh_requested,
    load_events,
    raise_table_failure,
    write_spec,
)
from platform_assets.rest_kind.config import RestSource, RestTable
from platform_assets.rest_kind.reader import RestReader
from resources.cursors import later
from resources.duckdb_sql import quote
from resources.rest.client import RestClient
from resources.rest.errors import RestError
from resources.rest.incremental import batch_maximum, column_name, start_value
from resources.rest.records import INDEX, PARENT_ID, coalesce
from resources.warehouse import Gate, Load, LoadResult, Warehouse
from resources.write_dispositions import WriteSpec

CHILD_PART_ROWS = 50_000

REST_ERRORS: tuple[type[Exception], ...] = (*EXPECTED_ERRORS, RestError, CheckSetupError)


def child_table_name(table: RestTable, field: str) -> str:
    return f"{table.name}__{field}"


def parent_values(warehouse: Warehouse, source: RestSource, table: RestTable) -> list[Any]:
    """The distinct values of `{parent.field}` in the parent table, already loaded."""
    parent = table.endpoint.parent
    assert parent is not None
    column = quote(column_name(parent[1]))
    target = f"{quote(source.name)}.{quote(parent[0])}"
    if not warehouse.exists():
        raise RestError(f"the parent table {source.name}.{parent[0]} has not been loaded yet")
    with warehouse.read_only() as con:
        try:
            rows = con.execute(
                f"SELECT DISTINCT {column} FROM {target} WHERE {column} IS NOT NULL ORDER BY 1"
            ).fetchall()
        except duckdb.CatalogException as error:
            raise RestError(
                f"cannot read {parent[1]} of {source.name}.{parent[0]}: {error}"
            ) from None
    return [row[0] for row in rows]


def table_write_spec(source: RestSource, table: RestTable) -> WriteSpec:
    incremental = table.incremental
    spec = write_spec(
        source, table, order_by=column_name(incremental.cursor_field) if incremental else None
    )
    if incremental is not None and table.write in ("append", "merge"):
        spec = dataclasses.replace(spec, allow_empty=True)
    return spec


def child_write_spec(source: RestSource, table: RestTable, field: str) -> WriteSpec:
    """A child table follows its parent: replaced with it, appended with it, or merged on
    (`_parent_id`, `_index`) when the parent merges (the parent's rows written have their
    earlier child rows replaced: see `Load.child`)."""
    write = table.write if table.write in ("append", "replace") else "merge"
    return WriteSpec(
        target_schema=source.name,
        target_table=child_table_name(table, field),
        write=write,
        primary_key=(PARENT_ID, INDEX) if write == "merge" else (),
        schema_policy=table.schema_policy,
        allow_empty=True,
    )


@dataclasses.dataclass
class TableLoad:
    """Everything one table's load did: its result, which holds its child tables' results."""

    result: LoadResult

    @property
    def children(self) -> list[LoadResult]:
        return self.result.children

    def metadata(self) -> dict[str, Any]:
        data = self.result.metadata()
        if self.children:
            data["child_tables"] = {f"{r.source}.{r.table}": r.rows_in for r in self.children}
        return data


def load_rest_table(
    warehouse: Warehouse,
    reader: RestReader,
    client: RestClient,
    source: RestSource,
    table: RestTable,
    run_id: str | None = None,
    gate: "Gate | None" = None,
    full_refresh: bool = False,
) -> TableLoad:
    """Fetch every page of `table` into staging (its child rows beside it), then commit the
    table, its child tables and its cursor in one transaction. With `full_refresh` the stored
    cursor is ignored and the tables are reloaded from scratch. Errors become a
    `SourceLoadError` naming the source and table."""
    incremental = table.incremental
    with warehouse.load(source.name, table.name, run_id) as load:
        try:
            last = None
            if incremental and not full_refresh:
                last = warehouse.stored_cursor(source.name, table.name)
            start = start_value(incremental, last) if incremental else None
            parents = parent_values(warehouse, source, table) if table.endpoint.parent else None
            cursor = _stage(reader, client, source, table, load, start, parents, full_refresh)
            keep_cursor = incremental is not None and incremental.end_value is None
            spec = dataclasses.replace(table_write_spec(source, table), full_refresh=full_refresh)
            result = load.commit(spec, later(last, cursor) if keep_cursor else None, gate)
        except REST_ERRORS as error:
            raise_table_failure(source.name, table.name, error)
    return TableLoad(result)


def _stage(
    reader: RestReader,
    client: RestClient,
    source: RestSource,
    table: RestTable,
    load: Load,
    start: str | None,
    parents: list[Any] | None,
    full_refresh: bool,
) -> str | None:
    """Stage every page of `table` into `load` and its child rows into child batches of it;
    return the latest cursor value seen."""
    requests, retries, read = client.requests, client.retries, client.bytes_read
    cursor: str | None = None
    child_loads: dict[str, Load] = {}
    pending: dict[str, list[pa.Table]] = {}

    def rows() -> Iterator[pa.Table]:
        nonlocal cursor
        for batch in reader.batches(client, source, table, start, parents):
            load.source_names.update(batch.source_names)
            if table.incremental is not None:
                cursor = later(cursor, batch_maximum(batch.table, table.incremental.cursor_field))
            for field, child_rows in batch.children.items():
                if field not in child_loads:
                    spec = child_write_spec(source, table, field)
                    spec = dataclasses.replace(spec, full_refresh=full_refresh)
                    child_loads[field] = load.child(spec.target_table, spec, PARENT_ID)
                    pending[field] = []
                pending[field].append(child_rows)
                if sum(t.num_rows for t in pending[field]) >= CHILD_PART_ROWS:
                    child_loads[field].stage(coalesce(pending.pop(field)))
                    pending[field] = []
            yield batch.table

    try:
        load.stage(coalesce(rows()))
    finally:
        load.requests = client.requests - requests
        load.retries = client.retries - retries
        load.bytes_read = client.bytes_read - read
    for field, child_load in child_loads.items():
        child_load.stage(coalesce(pending[field]))
    return cursor


def build_rest_assets(source: SourceConfig) -> AssetsDefinition:
    assert isinstance(source, RestSource)
    rest_tables: dict[AssetKey, RestTable] = {asset_key(source, t): t for t in source.tables}
    compiled = {key: compile_checks(table.checks) for key, table in rest_tables.items()}
    specs = []
    for table in source.tables:
        spec = asset_spec(source, table, {"rest"})
        parent = table.endpoint.parent
        if parent is not None:
            spec = spec.merge_attributes(deps=[AssetKey([source.name, parent[0]])])
        specs.append(spec)

    @multi_asset(
        name=source.name,
        specs=specs,
        check_specs=[spec for key in rest_tables for spec in check_specs(key, compiled[key])],
        can_subset=True,
        required_resource_keys={"warehouse", "rest"},
        op_tags={"tributary/source": source.name},
    )
    def _load(context: AssetExecutionContext) -> Iterator[MaterializeResult | AssetCheckResult]:
        warehouse: Warehouse = context.resources.warehouse
        reader: RestReader = context.resources.rest
        selected = {key.path[-1] for key in context.selected_asset_keys}
        failures: list[str] = []
        not_loaded: set[str] = set()
        client = reader.client(source)
        try:
            for table in source.load_order(selected):
                key = asset_key(source, table)
                parent = table.endpoint.parent
                if parent is not None and parent[0] in not_loaded:
                    not_loaded.add(table.name)
                    failures.append(
                        f"source {source.name!r}, table {table.name!r}: skipped, "
                        f"its parent table {parent[0]!r} did not load"
                    )
                    continue
                rules = compiled[key]
                gate = QualityGate(source.name, table, rules) if rules.rules else None
                try:
                    loaded = load_rest_table(
                        warehouse,
                        reader,
                        client,
                        source,
                        table,
                        context.run.run_id,
                        gate,
                        full_refresh_requested(context, source, table),
                    )
                except SourceLoadError as error:
                    context.log.error(str(error))
                    not_loaded.add(table.name)
                    failures.append(error.summary)
                    continue
                result = loaded.result
                context.log.info(
                    f"{source.name}.{table.name}: {result.rows_in} rows in, {result.inserted} "
                    f"inserted, {result.updated} updated, {result.superseded} superseded, "
                    f"{len(loaded.children)} child tables, "
                    f"{result.requests} requests, {result.retries} retries ({result.seconds:.2f}s)"
                )
                yield from load_events(
                    key, result, loaded.metadata(), context.selected_asset_check_keys
                )
                if message := blocked_message(source, table, result):
                    not_loaded.add(table.name)
                    failures.append(message)
        finally:
            client.close()
        if failures:
            raise failed_tables(failures)

    return _load
