"""The asset wiring of `kind: stream`: one asset per table, drained by `drain` (see there).

A run of a table reports one materialization with what it drained (batches, messages, rows,
dead letters, the lag before and after), the outcome of its checks over every batch, and, when
the source sets `lag_alert`, a `consumer_lag` check that fails while too many messages wait.
"""

import socket
from collections.abc import Iterator

from dagster import (
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetObservation,
    AssetsDefinition,
    ConfigurableResource,
    MaterializeResult,
    multi_asset,
)
from pydantic import Field

from checks.asset_checks import check_results, check_specs
from checks.gate import CheckOutcome, QualityGate, Verdict
from checks.rules import compile_checks
from platform_assets.config.base import SourceConfig
from platform_assets.factory import asset_spec
from platform_assets.loading import (
    SourceLoadError,
    asset_key,
    column_schema,
    failed_tables,
    raise_table_failure,
)
from platform_assets.stream_kind.brokers import OPENERS
from platform_assets.stream_kind.config import StreamSource, StreamTable
from platform_assets.stream_kind.drain import DrainResult, drain
from resources.streams.base import Broker

LAG_CHECK = "consumer_lag"
STREAM_TABLE_TAG = "tributary/stream_table"
"""Run tag naming the stream table (`source.table`) a sensor started the run for."""


class StreamConsumers(ConfigurableResource):
    """Opens a table's consumer on its source's broker."""

    consumer: str = Field(
        default_factory=lambda: f"tributary-{socket.gethostname()}",
        description="This deployment's consumer name within each table's group.",
    )

    def open(self, source: StreamSource, table: StreamTable) -> Broker:
        """A connected consumer of `table.stream` in `table.group`. Raises BrokerError."""
        opener = OPENERS[source.broker.type]
        return opener(source.broker, table.stream, table.group, self.consumer)


def lag_check(key: AssetKey, source: StreamSource, result: DrainResult) -> AssetCheckResult:
    """Fails (a warning) when more than `lag_alert` messages wait after the run."""
    limit = source.lag_alert
    after = result.lag_after
    grew = after is not None and result.lag_before is not None and after > result.lag_before
    return AssetCheckResult(
        asset_key=key,
        check_name=LAG_CHECK,
        passed=after is not None and limit is not None and after <= limit,
        severity=AssetCheckSeverity.WARN,
        metadata={
            "lag_before": result.lag_before if result.lag_before is not None else "unknown",
            "lag_after": after if after is not None else "unknown",
            "lag_alert": limit if limit is not None else "none",
            "lag_grew": grew,
        },
    )


def _combined(verdicts: list[Verdict]) -> Verdict | None:
    """One verdict for the run: per rule, the last batch's failing outcome, else its last."""
    if not verdicts:
        return None
    last = verdicts[-1]
    by_rule: dict[str, CheckOutcome] = {}
    for verdict in verdicts:
        for outcome in verdict.outcomes:
            name = outcome.rule.name
            if name not in by_rule or not outcome.passed or by_rule[name].passed:
                by_rule[name] = outcome
    last.outcomes = list(by_rule.values())
    return last


def build_stream_assets(source: SourceConfig) -> AssetsDefinition:
    assert isinstance(source, StreamSource)
    kinds = {"stream", source.broker.type}
    specs = [asset_spec(source, t, kinds) for t in source.tables]
    tables = {asset_key(source, t): t for t in source.tables}
    compiled = {key: compile_checks(table.checks) for key, table in tables.items()}
    lag_specs = (
        [
            AssetCheckSpec(LAG_CHECK, asset=key, description="Messages waiting after a run")
            for key in tables
        ]
        if source.lag_alert is not None
        else []
    )

    @multi_asset(
        name=source.name,
        specs=specs,
        check_specs=[
            *(spec for key in tables for spec in check_specs(key, compiled[key])),
            *lag_specs,
        ],
        can_subset=True,
        required_resource_keys={"warehouse", "streams"},
        op_tags={"tributary/source": source.name},
    )
    def _drain(
        context: AssetExecutionContext,
    ) -> Iterator[MaterializeResult | AssetCheckResult | AssetObservation]:
        consumers: StreamConsumers = context.resources.streams
        failures: list[str] = []
        selected = {key.path[-1] for key in context.selected_asset_keys}
        for table in source.load_order(selected):
            assert isinstance(table, StreamTable)
            key = asset_key(source, table)
            rules = compiled[key]
            gate = QualityGate(source.name, table, rules) if rules.rules else None
            try:
                try:
                    broker = consumers.open(source, table)
                    try:
                        result = drain(
                            broker,
                            context.resources.warehouse,
                            source,
                            table,
                            context.run.run_id,
                            gate,
                        )
                    finally:
                        broker.close()
                except Exception as error:
                    raise_table_failure(source.name, table.name, error)
            except SourceLoadError as error:
                context.log.error(str(error))
                failures.append(error.summary)
                continue
            context.log.info(
                f"{source.name}.{table.name}: {result.messages} messages in {result.batches} "
                f"batches, {result.rows} rows landed, {result.dead_letters} dead letters, lag "
                f"{result.lag_before} -> {result.lag_after}"
            )
            for gap in result.gaps:
                context.log.warning(f"{source.name}.{table.name}: {gap.describe()}")
            yield from _events(key, source, result, context.selected_asset_check_keys)
        if failures:
            raise failed_tables(failures)

    return _drain


def _events(
    key: AssetKey,
    source: StreamSource,
    result: DrainResult,
    selected: set[AssetCheckKey] | frozenset[AssetCheckKey],
) -> Iterator[MaterializeResult | AssetCheckResult | AssetObservation]:
    metadata: dict[str, object] = dict(result.metadata())
    if result.loads:
        last = result.loads[-1]
        metadata["last_load_id"] = last.load_id
        if last.columns:
            metadata["dagster/column_schema"] = column_schema(last.columns, last.source_names)
        yield MaterializeResult(asset_key=key, metadata=metadata)  # type: ignore[arg-type]
    else:
        yield AssetObservation(asset_key=key, metadata=metadata)  # type: ignore[arg-type]
    verdict = _combined([load.verdict for load in result.loads if load.verdict is not None])
    if verdict is not None:
        yield from check_results(key, verdict, selected)
    if AssetCheckKey(key, LAG_CHECK) in selected:
        yield lag_check(key, source, result)
