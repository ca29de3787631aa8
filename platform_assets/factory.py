"""From a source's catalog entry to its Dagster assets: one asset per table, key
`[source, table]`, group = source, all descriptive fields read from the catalog."""

from collections.abc import Callable, Iterator
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSpec,
    FreshnessPolicy,
    MaterializeResult,
    multi_asset,
)

from checks.asset_checks import check_specs
from checks.rules import CompiledChecks, compile_checks
from platform_assets.config.base import SourceConfig, TableConfig
from platform_assets.loading import (
    EXPECTED_ERRORS,
    Extract,
    SourceLoadError,
    asset_key,
    blocked_message,
    failed_tables,
    load_events,
    raise_table_failure,
    run_load,
    write_spec,
)
from resources.warehouse import Gate, LoadResult, Warehouse
from resources.write_dispositions import WriteSpec

ExtractFactory = Callable[[Any, SourceConfig, TableConfig], Extract]
"""Given the kind's reader resource, the source and a table, the function that stages it."""

RunTable = Callable[
    [AssetExecutionContext, Warehouse, Any, SourceConfig, TableConfig, Gate | None],
    LoadResult | None,
]
"""A kind's own load of a table that `run_load` cannot do (change capture acknowledges its
source after the commit), or None to load it as usual. Given the run's context, the warehouse,
the kind's reader resource, the source, the table and its gate; raises `SourceLoadError`."""


def _gate(source: SourceConfig, table: TableConfig, rules: CompiledChecks) -> Gate | None:
    """The table's quality gate; None without rules (the gate's engine then never loads)."""
    if not rules.rules:
        return None
    from checks.gate import QualityGate

    return QualityGate(source.name, table, rules)


def freshness_policy(source: SourceConfig) -> FreshnessPolicy | None:
    if source.freshness is None:
        return None
    return FreshnessPolicy.time_window(
        fail_window=source.freshness.fail_after, warn_window=source.freshness.warn_after
    )


def asset_spec(source: SourceConfig, table: TableConfig, kinds: set[str]) -> AssetSpec:
    metadata: dict[str, Any] = {
        "write": table.write,
        "schema_policy": table.schema_policy,
        "column_names": table.column_names,
    }
    if table.primary_key:
        metadata["primary_key"] = ", ".join(table.primary_key)
    if source.schedule:
        metadata["schedule"] = f"{source.schedule} ({source.timezone})"
    references = {tuple(r.to.split(".")[:2]) for r in table.checks.references}
    return AssetSpec(
        key=asset_key(source, table),
        deps=[
            AssetKey(list(ref)) for ref in sorted(references) if ref != (source.name, table.name)
        ],
        group_name=source.name,
        description=table.description or source.description or None,
        owners=[source.owner] if source.owner else None,
        tags={**source.tags, **table.tags},
        kinds={"duckdb", *kinds},
        metadata=metadata,
        freshness_policy=freshness_policy(source),
    )


def build_source_assets(
    source: SourceConfig,
    reader_key: str,
    extract_for: ExtractFactory,
    kinds_of: Callable[[TableConfig], set[str]] = lambda _table: set(),
    write_spec_for: Callable[[SourceConfig, TableConfig], WriteSpec] = write_spec,
    expected_errors: tuple[type[Exception], ...] = EXPECTED_ERRORS,
    run_table: RunTable | None = None,
) -> AssetsDefinition:
    """One multi-asset per source; selecting some of its tables runs only those. An error of
    one of `expected_errors` fails its table only; `write_spec_for` says how a table lands;
    `run_table` loads the tables a kind loads its own way."""
    specs = [asset_spec(source, t, kinds_of(t)) for t in source.tables]
    tables = {asset_key(source, t): t for t in source.tables}
    compiled = {key: compile_checks(table.checks) for key, table in tables.items()}

    @multi_asset(
        name=source.name,
        specs=specs,
        check_specs=[spec for key in tables for spec in check_specs(key, compiled[key])],
        can_subset=True,
        required_resource_keys={"warehouse", reader_key},
        op_tags={"tributary/source": source.name},
    )
    def _load(
        context: AssetExecutionContext,
    ) -> Iterator[MaterializeResult | AssetCheckResult]:
        warehouse: Warehouse = context.resources.warehouse
        reader = getattr(context.resources, reader_key)
        failures: list[str] = []
        selected = {key.path[-1] for key in context.selected_asset_keys}
        for table in source.load_order(selected):  # after the tables it references
            key = asset_key(source, table)
            try:
                try:  # preparing the load is part of the table's load: its errors are its own
                    rules = compiled[key]
                    gate = _gate(source, table, rules)
                    extract = extract_for(reader, source, table)
                except EXPECTED_ERRORS as error:
                    raise_table_failure(source.name, table.name, error)
                own = (
                    run_table(context, warehouse, reader, source, table, gate)
                    if run_table
                    else None
                )
                result = own or run_load(
                    context,
                    warehouse,
                    source,
                    table,
                    extract,
                    gate,
                    expected_errors,
                    write_spec_for(source, table),
                )
            except SourceLoadError as error:
                context.log.error(str(error))
                failures.append(error.summary)
                continue
            yield from load_events(
                key, result, result.metadata(), context.selected_asset_check_keys
            )
            if message := blocked_message(source, table, result):
                failures.append(message)
        if failures:
            raise failed_tables(failures)

    return _load
