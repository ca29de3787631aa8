"""The Dagster wiring of external models: one multi-asset per `models/<name>.py`, one asset
`["models", <output>]` per output, downstream of the tables it reads.

A run starts the model's interpreter, exports the inputs (read-only) meanwhile, runs the file
in that process through Dagster Pipes (see `process`), then lands each output through the
warehouse writer like any load: the gate judges it, and rows, check results, load record and
the lineage of the inputs commit in one transaction. Nothing lands unless the model exits
cleanly, reports every check it declared, and passes its blocking ones: otherwise its outputs
stay as they were.
"""

import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from dagster import (
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSpec,
    AutomationCondition,
    Failure,
    MaterializeResult,
    PipesClientCompletedInvocation,
    multi_asset,
)

from checks.asset_checks import check_specs
from checks.gate import QualityGate
from checks.rules import CompiledChecks, compile_checks
from platform_assets.config.base import TableConfig
from platform_assets.external_models.config import ExternalModel
from platform_assets.external_models.handover import Handover, export_inputs
from platform_assets.external_models.process import ModelProcess, ModelRunError
from platform_assets.loading import (
    EXPECTED_ERRORS,
    SourceLoadError,
    failed_tables,
    load_events,
    raise_table_failure,
)
from platform_assets.models import ModelError
from resources.duckdb_sql import literal
from resources.warehouse import Load, LoadResult, Warehouse
from resources.warehouse_schema import MODEL_SCHEMA
from resources.write_dispositions import WriteSpec


def output_spec(table: TableConfig) -> WriteSpec:
    return WriteSpec(
        target_schema=MODEL_SCHEMA,
        target_table=table.name,
        write=table.write,
        primary_key=table.primary_key,
        schema_policy=table.schema_policy,
        allow_empty=table.allow_empty,
    )


def _model_check_specs(model: ExternalModel) -> list[AssetCheckSpec]:
    return [
        AssetCheckSpec(
            name=name,
            asset=model.key(model.config.check_output(name)),
            description=check.description or f"reported by the model {model.path.name}",
            blocking=check.blocking,
        )
        for name, check in model.config.checks.items()
    ]


def build_external_model_asset(model: ExternalModel) -> AssetsDefinition:
    compiled = {o.name: compile_checks(o.checks) for o in model.config.outputs}
    gate_specs = [
        spec
        for o in model.config.outputs
        for spec in check_specs(model.key(o.name), compiled[o.name])
    ]
    own_specs = _model_check_specs(model)
    clash = {s.key for s in gate_specs} & {s.key for s in own_specs}
    if clash:
        names = ", ".join(sorted(k.name for k in clash))
        raise ModelError(f"{model.path}: checks {names} are declared by the model and a rule")
    reads = ", ".join(".".join(k.path) for k in model.inputs)
    specs = [
        AssetSpec(
            key=model.key(o.name),
            deps=list(model.inputs),
            group_name=MODEL_SCHEMA,
            description=(o.description or model.config.description or "")
            + f" (external model {model.path.name}; reads {reads})",
            tags=o.tags,
            kinds={"duckdb", "python"},
            metadata={"write": o.write, "model": model.path.name},
            automation_condition=AutomationCondition.eager(),
        )
        for o in model.config.outputs
    ]

    @multi_asset(
        name=f"{MODEL_SCHEMA}__{model.name}__pipes",
        specs=specs,
        check_specs=[*gate_specs, *own_specs],
        can_subset=False,
        required_resource_keys={"warehouse"},
        op_tags={"tributary/source": MODEL_SCHEMA},
    )
    def _model(context: AssetExecutionContext) -> Iterator[MaterializeResult | AssetCheckResult]:
        yield from run_external_model(context, context.resources.warehouse, model, compiled)

    return _model


def build_external_model_assets(
    models: Iterable[ExternalModel], available: Iterable[AssetKey]
) -> list[AssetsDefinition]:
    """One multi-asset per model; each reads catalog tables or other models' outputs only."""
    models = list(models)
    available = set(available)
    known = available | {key for m in models for key in m.keys}
    taken = set(available)
    for model in models:
        unknown = [".".join(k.path) for k in model.inputs if k not in known]
        if unknown:
            raise ModelError(
                f"{model.path}: reads {', '.join(unknown)}, "
                "which no catalog source or model provides"
            )
        for key in model.keys:
            if key in taken:
                raise ModelError(
                    f"{model.path}: output {'.'.join(key.path)} is already another model's"
                )
            taken.add(key)
    return [build_external_model_asset(model) for model in models]


def run_external_model(
    context: AssetExecutionContext,
    warehouse: Warehouse,
    model: ExternalModel,
    compiled: Mapping[str, CompiledChecks],
) -> Iterator[MaterializeResult | AssetCheckResult]:
    """Run `model` once: export its inputs, run its file through Pipes, land each output.

    Yields per output its materialization (the model's metadata, then the load's) and its
    check results (the gate's and the model's own). Raises `Failure`, naming the model, when
    the process fails or breaks its declaration (nothing lands), or naming each output that
    did not land (blocked by a check, or its load failed) after the others have landed."""
    run_id = context.run.run_id
    warehouse.staging_directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(
        prefix=f"model.{model.name}.", dir=warehouse.staging_directory
    ) as directory:
        try:
            # The interpreter starts (and imports dagster_pipes) while the inputs are exported.
            with ModelProcess(model.config.python, model.path) as process:
                handover = export_inputs(warehouse, model, Path(directory))
                invocation = process.run(context, handover.extras(), Path(directory))
            materialized, reported = _reported(model, invocation)
            _all_checks_reported(model, reported)
            _outputs_written(model, handover)
        except Exception as error:
            message = f"model {model.name!r} ({model.path.name}): {_one_line(error)}"
            _record_failures(warehouse, model, run_id, message)
            yield from _selected(context, reported_checks(error))
            raise Failure(description=f"{message}; nothing of it landed") from error

        failures: list[str] = []
        for output in model.config.outputs:
            key = model.key(output.name)
            own = [r for (k, _), r in reported.items() if k == key]
            refused = [
                name
                for (k, name), r in reported.items()
                if k == key and not r.passed and model.config.checks[name].blocking
            ]
            if refused:
                message = (
                    f"model {model.name!r}, output {output.name!r}: blocked by the model's "
                    f"checks {', '.join(refused)}; the table stays as it was"
                )
                Load(warehouse, MODEL_SCHEMA, output.name, run_id).fail(ModelRunError(message))
                failures.append(message)
                yield from _selected(context, own)
                continue
            try:
                result = _land(context, warehouse, output, compiled[output.name], handover)
            except SourceLoadError as error:
                context.log.error(str(error))
                failures.append(error.summary)
                yield from _selected(context, own)
                continue
            metadata: dict[str, Any] = {
                **materialized.get(key, {}),
                **result.metadata(),
                "model": model.path.name,
                "inputs": {name: len(ids) for name, ids in handover.lineage.items()},
            }
            yield from load_events(key, result, metadata, context.selected_asset_check_keys)
            yield from _selected(context, own)
            if result.blocked and result.verdict is not None:
                failures.append(
                    f"model {model.name!r}, output {output.name!r}: blocked by checks "
                    f"({result.verdict.summary()}); load {result.load_id}"
                )
        if failures:
            raise failed_tables(failures)


def _land(
    context: AssetExecutionContext,
    warehouse: Warehouse,
    output: TableConfig,
    compiled: CompiledChecks,
    handover: Handover,
) -> LoadResult:
    """Commit the output's Parquet file with its gate and the inputs' lineage. The commit
    reads the file once, straight into the warehouse (`Load.scan`): it is a local file that
    stays until the run ends, so it needs no staging copy."""
    path = handover.outputs[output.name]
    gate = QualityGate(MODEL_SCHEMA, output, compiled) if compiled.rules else None
    with warehouse.load(MODEL_SCHEMA, output.name, context.run.run_id) as load:
        try:
            load.inputs = dict(handover.lineage)
            load.bytes_read = path.stat().st_size
            load.scan(f"SELECT * FROM read_parquet({literal(str(path))})")
            result = load.commit(output_spec(output), None, gate)
        except EXPECTED_ERRORS as error:
            raise_table_failure(MODEL_SCHEMA, output.name, error)
    context.log.info(
        f"{MODEL_SCHEMA}.{output.name}: {result.rows_in} rows in, {result.inserted} inserted, "
        f"{result.updated} updated, {result.deleted} deleted ({result.seconds:.2f}s)"
    )
    return result


class _Unreported(ModelRunError):
    def __init__(self, message: str, reported: list[AssetCheckResult]) -> None:
        super().__init__(message)
        self.reported = reported


def reported_checks(error: BaseException) -> list[AssetCheckResult]:
    """The check results a model reported before it broke its declaration (shown in the UI)."""
    return error.reported if isinstance(error, _Unreported) else []


def _reported(
    model: ExternalModel, invocation: PipesClientCompletedInvocation
) -> tuple[dict[AssetKey, dict[str, Any]], dict[tuple[AssetKey, str], AssetCheckResult]]:
    """The metadata the model reported per output, and its check results by (asset, name)."""
    default = model.keys[0] if len(model.keys) == 1 else None
    materialized: dict[AssetKey, dict[str, Any]] = {}
    checks: dict[tuple[AssetKey, str], AssetCheckResult] = {}
    for result in invocation.get_results():
        key = result.asset_key or default
        if key is None or key not in model.keys:
            raise ModelRunError(f"reported an asset it does not declare: {result.asset_key}")
        if isinstance(result, MaterializeResult):
            materialized.setdefault(key, {}).update(result.metadata or {})
        elif result.check_name not in model.config.checks:
            raise ModelRunError(f"reported a check it does not declare: {result.check_name!r}")
        else:
            checks[(key, result.check_name)] = result._replace(asset_key=key)
    return materialized, checks


def _all_checks_reported(
    model: ExternalModel, reported: Mapping[tuple[AssetKey, str], AssetCheckResult]
) -> None:
    missing = [
        f"{name} ({MODEL_SCHEMA}.{model.config.check_output(name)})"
        for name in model.config.checks
        if (model.key(model.config.check_output(name)), name) not in reported
    ]
    if missing:
        raise _Unreported(
            f"declared checks it never reported: {', '.join(missing)}", list(reported.values())
        )


def _outputs_written(model: ExternalModel, handover: Handover) -> None:
    missing = [name for name, path in handover.outputs.items() if not path.is_file()]
    if missing:
        raise ModelRunError(
            f"wrote no file for outputs {', '.join(missing)} "
            f"(expected at extras['outputs'][name], Parquet)"
        )


def _selected(
    context: AssetExecutionContext, results: Iterable[AssetCheckResult]
) -> Iterator[AssetCheckResult]:
    chosen = context.selected_asset_check_keys
    for result in results:
        if result.asset_key and AssetCheckKey(result.asset_key, result.check_name or "") in chosen:
            yield result


def _record_failures(warehouse: Warehouse, model: ExternalModel, run_id: str, message: str) -> None:
    """A failed load record per output: telemetry sees the model's failure as any load's."""
    for output in model.config.outputs:
        try:
            Load(warehouse, MODEL_SCHEMA, output.name, run_id).fail(ModelRunError(message))
        except Exception:  # the failure itself is what the step reports
            continue


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text if isinstance(error, ModelRunError) else f"{type(error).__name__}: {text}"
