"""Loading one table: the run-time path every source kind shares (stage → commit → result)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from typing import Any, NoReturn, Protocol

import duckdb
from dagster import (
    AssetCheckKey,
    AssetCheckResult,
    AssetExecutionContext,
    AssetKey,
    Failure,
    MaterializeResult,
    TableColumn,
    TableSchema,
)

from checks.asset_checks import check_results
from checks.gate import CheckSetupError
from platform_assets.config.base import SourceConfig, TableConfig
from platform_assets.errors import one_line
from resources.errors import TributaryError
from resources.warehouse import Gate, Load, LoadResult, Warehouse
from resources.write_dispositions import WriteSpec

Extract = Callable[[Load], str | None]
"""Stages a table's batch into the load and returns the incremental cursor it reached, if any."""

EXPECTED_ERRORS: tuple[type[Exception], ...] = (Exception,)
"""Every error of one table fails that table only (a lock timeout, a pyarrow conversion, an
`OSError` from a file as much as a DuckDB error); the source's other tables still load. A
`KeyboardInterrupt` or `SystemExit` is no table's failure: it stops the run at once."""

_SELF_DESCRIBED = (duckdb.Error, TributaryError)
"""Errors whose message says what kind of error it is; others are prefixed with their type."""


def _cause(error: BaseException) -> str:
    """`error` as the line's cause: `Timeout: The file lock ... could not be acquired.`"""
    message = str(error)
    if isinstance(error, _SELF_DESCRIBED) and message:
        return message
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def interrupted(error: BaseException) -> bool:
    """Whether `error` is Ctrl-C: DuckDB turns the KeyboardInterrupt that stops a query into
    `RuntimeError('Query interrupted')` (or `duckdb.InterruptException`)."""
    if isinstance(error, duckdb.InterruptException):
        return True
    return type(error) is RuntimeError and str(error) == "Query interrupted"


def raise_table_failure(source: str, table: str, error: BaseException) -> NoReturn:
    """Raise `SourceLoadError` for `error`, the table's failure, unless it is an interrupt:
    then KeyboardInterrupt, which stops the run instead."""
    if interrupted(error):
        raise KeyboardInterrupt(str(error)) from error
    raise SourceLoadError(source, table, error) from error


class SourceLoadError(Exception):
    """A table failed to load; the message names the source and table, then the cause."""

    def __init__(self, source: str, table: str, cause: BaseException) -> None:
        self.source, self.table = source, table
        super().__init__(f"source {source!r}, table {table!r}: {_cause(cause)}")

    @property
    def summary(self) -> str:
        """The message on one line, for the run's summary (the whole of it is recorded)."""
        return one_line(str(self))


def asset_key(source: SourceConfig, table: TableConfig) -> AssetKey:
    return AssetKey([source.name, table.name])


def write_spec(source: SourceConfig, table: TableConfig, order_by: str | None = None) -> WriteSpec:
    return WriteSpec(
        target_schema=source.name,
        target_table=table.name,
        write=table.write,
        primary_key=table.primary_key,
        order_by=order_by,
        schema_policy=table.schema_policy,
        allow_empty=table.allow_empty,
    )


FULL_REFRESH_TAG = "tributary/full_refresh"
"""Run tag naming what the run reloads from scratch: `source` or `source.table`, comma-separated
(set by `tributary run --full-refresh`)."""


def full_refresh_tag(targets: Iterable[str]) -> dict[str, str]:
    """The run tags that ask for a full refresh of `targets` (`source` or `source.table`)."""
    chosen = sorted(set(targets))
    return {FULL_REFRESH_TAG: ",".join(chosen)} if chosen else {}


def full_refresh_requested(
    context: AssetExecutionContext, source: SourceConfig, table: TableConfig
) -> bool:
    """Whether the run asks to reload `table` from scratch (see `FULL_REFRESH_TAG`)."""
    named = context.run.tags.get(FULL_REFRESH_TAG, "")
    targets = {t.strip() for t in named.split(",") if t.strip()}
    return source.name in targets or f"{source.name}.{table.name}" in targets


def run_load(
    context: AssetExecutionContext,
    warehouse: Warehouse,
    source: SourceConfig,
    table: TableConfig,
    extract: Extract,
    gate: Gate | None = None,
    expected_errors: tuple[type[Exception], ...] = EXPECTED_ERRORS,
    spec: WriteSpec | None = None,
) -> LoadResult:
    """Stage with `extract`, judge with `gate`, commit. On failure the warehouse keeps its
    previous state, the failed load is recorded, and a `SourceLoadError` names the source and
    table."""
    caught: tuple[type[Exception], ...] = (*expected_errors, CheckSetupError)
    spec = spec or write_spec(source, table)
    if full_refresh_requested(context, source, table):
        spec = dataclasses.replace(spec, full_refresh=True)
    with warehouse.load(source.name, table.name, context.run.run_id) as load:
        load.full_refresh = spec.full_refresh
        try:
            cursor = extract(load)
            result = load.commit(spec, cursor, gate)
        except caught as error:
            raise_table_failure(source.name, table.name, error)
    context.log.info(
        f"{source.name}.{table.name}: {result.rows_in} rows in, {result.inserted} inserted, "
        f"{result.updated} updated, {result.deleted} deleted, {result.superseded} superseded "
        f"by a later row of their key, {result.quarantined} quarantined "
        f"({result.seconds:.2f}s)"
    )
    return result


def failed_tables(failures: list[str]) -> Failure:
    """The step's failure once every table it could load has landed: one line per table that
    did not (failed, blocked by its checks, or skipped)."""
    return Failure(description="\n".join(failures))


class ErrorInfo(Protocol):
    """What Dagster keeps of a step's error (its `SerializableErrorInfo`)."""

    @property
    def cls_name(self) -> str | None: ...

    @property
    def message(self) -> str: ...


def failed_table_lines(error: ErrorInfo) -> list[str] | None:
    """The lines of a step's `failed_tables` failure, one per table; None for any other error."""
    if error.cls_name != Failure.__name__:
        return None
    description = error.message.split(": ", 1)[-1]
    return [line.strip() for line in description.splitlines() if line.strip()]


def load_events(
    key: AssetKey,
    result: LoadResult,
    metadata: Mapping[str, Any],
    selected_checks: Collection[AssetCheckKey],
) -> Iterator[MaterializeResult | AssetCheckResult]:
    """What Dagster hears of a load: its materialization (unless the gate blocked it), then the
    outcome of every selected check."""
    if not result.blocked:
        data = dict(metadata)
        if result.columns:
            data["dagster/column_schema"] = column_schema(result.columns, result.source_names)
        yield MaterializeResult(asset_key=key, metadata=data)
    if result.verdict is not None:
        yield from check_results(key, result.verdict, selected_checks)


def column_schema(columns: Mapping[str, str], source_names: Mapping[str, str]) -> TableSchema:
    """The table's columns for Dagster's UI, each column the reader renamed described by the
    name it has in the source: `body_mass_g` has `source name: "Body Mass (g)"`."""
    described = {name: f'source name: "{source}"' for name, source in source_names.items()}
    return TableSchema(
        columns=[
            TableColumn(name, kind, description=described.get(name))
            for name, kind in columns.items()
        ]
    )


def blocked_message(source: SourceConfig, table: TableConfig, result: LoadResult) -> str | None:
    """Why the step must fail when the gate kept the batch out, or None."""
    if not result.blocked or result.verdict is None:
        return None
    return (
        f"source {source.name!r}, table {table.name!r}: blocked by checks "
        f"({result.verdict.summary()}); {result.quarantined} rows quarantined, "
        f"load {result.load_id}"
    )
