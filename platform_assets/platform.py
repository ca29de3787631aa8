"""Build the one `Definitions` of the platform from a catalog."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from platform_assets import settings
from platform_assets.catalog import Catalog, load_catalog
from platform_assets.config.base import SourceConfig
from platform_assets.kinds import SourceKind, config_models, registered_kinds

# Dagster and the asset builders load inside the functions that need them: listing and
# validating the catalog, and querying the warehouse, start without them.
if TYPE_CHECKING:
    from dagster import AssetKey, Definitions, ExecutorDefinition, JobDefinition

    from resources.warehouse import Warehouse

INGEST_JOB = "ingest"
"""The job `tributary run` launches, with the selected tables as its asset selection."""


def default_warehouse() -> Warehouse:
    """The warehouse at `TRIBUTARY_WAREHOUSE`, tuned by `settings.WAREHOUSE_VARIABLES`."""
    from resources.warehouse import Warehouse

    options = settings.warehouse_options()
    try:
        return Warehouse(
            path=settings.warehouse_path(),
            data_path=settings.data_path(),
            staging_dir=str(settings.staging_dir()),
            **options,
        )
    except ValidationError as error:
        whole = [e["msg"].removeprefix("Value error, ") for e in error.errors() if not e["loc"]]
        if whole:  # the warehouse itself: a DuckLake target without its data path, say
            raise settings.SettingsError(
                f"TRIBUTARY_WAREHOUSE / TRIBUTARY_DATA_PATH: {'; '.join(whole)}"
            ) from None
        fields = [
            (str(e["loc"][0]), e["msg"].removeprefix("Value error, "))
            for e in error.errors()
            if e["loc"]
        ]
        if not fields or any(field not in options for field, _ in fields):
            raise
        raise settings.SettingsError(
            "; ".join(
                f"{settings.WAREHOUSE_VARIABLES[field]}={options[field]!r}: {message}"
                for field, message in fields
            )
        ) from None


def default_executor() -> ExecutorDefinition | None:
    """The executor `TRIBUTARY_EXECUTOR` names; None keeps Dagster's default."""
    if settings.executor_name() == "celery":
        from dagster_celery import celery_executor  # the `deploy` extra

        return celery_executor.configured(settings.celery_config())
    return None


def default_resources(kinds: Mapping[str, SourceKind]) -> dict[str, Any]:
    """The warehouse, the IO manager and the reader resources of `kinds`."""
    from resources.io_manager import warehouse_only_io_manager

    resources: dict[str, Any] = {
        "warehouse": default_warehouse(),
        "io_manager": warehouse_only_io_manager(),
    }
    for kind in kinds.values():
        resources.update(kind.resources())
    return resources


def load_platform_catalog(directory: Path | None = None) -> Catalog:
    return load_catalog(directory or settings.catalog_dir(), config_models())


def build_definitions(catalog: Catalog, resources: Mapping[str, Any] | None = None) -> Definitions:
    """Assets for every catalog source and model, their schedules and sensors; `resources`
    override the defaults (tests pass a `tmp_path` warehouse this way)."""
    from dagster import AssetSelection, Definitions, define_asset_job

    from platform_assets.files_kind.reader import FileReader
    from resources.warehouse import Warehouse
    from sensors.automation import build_sensors_and_schedules
    from sensors.maintenance import build_maintenance
    from sensors.sink import default_alert_sink

    assets, merged = _assets_and_resources(catalog, catalog.sources, None, resources)
    merged = {"alerts": default_alert_sink(catalog), **merged}
    files = merged.get("files")
    reader = (
        files if isinstance(files, FileReader) else FileReader(root=str(settings.project_root()))
    )
    ingest = define_asset_job(INGEST_JOB, selection=AssetSelection.all())
    schedules, sensors = build_sensors_and_schedules(catalog.sources, reader, ingest)
    jobs: list[Any] = [ingest]
    warehouse = merged.get("warehouse")
    if isinstance(warehouse, Warehouse) and warehouse.lake is not None:
        maintenance, schedule = build_maintenance()
        jobs.append(maintenance)
        schedules = [*schedules, schedule]
    return Definitions(
        assets=assets,
        jobs=jobs,
        schedules=schedules,
        sensors=sensors,
        resources=merged,
        executor=default_executor(),
    )


def build_run_job(
    catalog: Catalog,
    sources: Sequence[SourceConfig],
    models: Collection[AssetKey],
    resources: Mapping[str, Any] | None = None,
) -> JobDefinition:
    """The `ingest` job of a run of `sources` and the `models` (keys of SQL or external model
    outputs) that follow them: only those are built, with the resources their kinds need, and
    no schedule or sensor. The catalog's other tables stay keys the models may read."""
    from dagster import AssetSelection, Definitions, define_asset_job

    assets, merged = _assets_and_resources(catalog, sources, models, resources)
    return Definitions(
        assets=assets,
        jobs=[define_asset_job(INGEST_JOB, selection=AssetSelection.all())],
        resources=merged,
        executor=default_executor(),
    ).resolve_job_def(INGEST_JOB)


def _assets_and_resources(
    catalog: Catalog,
    sources: Sequence[SourceConfig],
    models: Collection[AssetKey] | None,
    resources: Mapping[str, Any] | None,
) -> tuple[list[Any], dict[str, Any]]:
    """The assets of `sources` and of the models with an output in `models` (every model when
    None), and the default resources of their kinds under the `resources` given."""
    registry = registered_kinds()
    kinds = {s.kind: registry[s.kind] for s in sources}
    assets: list[Any] = [kinds[source.kind].build_assets(source) for source in sources]
    merged = {**default_resources(kinds), **(resources or {})}
    if models is not None and not models:
        return assets, merged  # no model runs: none is read (nor SQL parsed)

    from dagster import AssetKey

    from platform_assets.external_models import (
        build_external_model_assets,
        load_external_models,
    )
    from platform_assets.models import build_model_assets, load_models

    # every table of the catalog, built or not, is a key the models may read
    tables = [AssetKey([s.name, t.name]) for s in catalog.sources for t in s.tables]
    models_dir = settings.models_dir(catalog.directory)
    sql_models = load_models(models_dir)
    external = load_external_models(models_dir)
    sql_available = [*tables, *(k for m in external for k in m.keys)]
    external_available = [*tables, *(m.key for m in sql_models)]
    if models is not None:
        sql_models = [m for m in sql_models if m.key in models]
        external = [m for m in external if set(m.keys) & set(models)]
    assets += [
        *build_model_assets(sql_models, sql_available),
        *build_external_model_assets(external, external_available),
    ]
    return assets, merged
