"""Run sources through Dagster in this process, recorded in the Dagster instance, and report."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from dagster import AssetKey, DagsterEvent, DagsterEventType, DagsterInstance

from platform_assets import settings
from platform_assets.catalog import Catalog
from platform_assets.config.base import SourceConfig
from platform_assets.loading import failed_table_lines, full_refresh_tag
from platform_assets.platform import build_run_job, default_warehouse

# The models load when a run brings its downstream models (SQL parsing, the external models'
# gate); the multiprocess executor when a run asks for several processes.
if TYPE_CHECKING:
    from platform_assets.models import Model
    from resources.warehouse import Warehouse

_INTERRUPTED = frozenset({"DagsterExecutionInterruptedError", "KeyboardInterrupt"})
"""What a step raises when the run is interrupted (SIGINT, a termination): Dagster's own error,
or the KeyboardInterrupt a load raises for a query DuckDB stopped."""


@dataclass
class RunReport:
    """What one run materialized, table by table, and what failed."""

    run_id: str
    success: bool
    tables: list[dict[str, Any]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    interrupted: bool = False
    """Stopped by Ctrl-C (SIGINT) or a termination request, not by a failure of its own."""

    @staticmethod
    def headers() -> list[str]:
        return [
            "table",
            "rows read",
            "inserted",
            "updated",
            "deleted",
            "superseded",
            "quarantined",
            "seconds",
        ]

    def rows(self) -> list[list[Any]]:
        return [
            [
                t["table"],
                t.get("rows_in"),
                t.get("rows_inserted"),
                t.get("rows_updated"),
                t.get("rows_deleted"),
                t.get("rows_superseded", 0),
                t.get("rows_quarantined", 0),
                t.get("seconds"),
            ]
            for t in self.tables
        ]

    def summary(self) -> str:
        """`run <id> succeeded: 10 tables, 1,234 rows read, 1,200 rows landed` (landed:
        inserted plus updated), every table written counted, child tables included."""
        read = sum(int(t.get("rows_in") or 0) for t in self.tables)
        landed = sum(
            int(t.get("rows_inserted") or 0) + int(t.get("rows_updated") or 0) for t in self.tables
        )
        state = "succeeded" if self.success else "FAILED"
        return (
            f"run {self.run_id} {state}: {plural(len(self.tables), 'table')}, "
            f"{plural(read, 'row')} read, {plural(landed, 'row')} landed"
        )


def plural(count: int, noun: str) -> str:
    """`1 table`, `2 tables`, `1,234 rows`."""
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"


LARGE_SOURCE_BYTES = 256 * 1024 * 1024
"""A source whose input files add up to this much is worth a process of its own."""
MAX_WORKERS = 4


def source_bytes(source: SourceConfig) -> int | None:
    """The bytes of the local files a files source reads (every file its tables' globs match);
    None for a source whose size cannot be known before it runs (REST, plugins, databases)."""
    import glob

    if source.kind != "files":
        return None
    total = 0
    for table in source.tables:
        pattern = str(settings.resolve(str(getattr(table, "path", ""))))
        for name in glob.glob(pattern, recursive=True):
            with contextlib.suppress(OSError):
                total += os.stat(name).st_size
    return total


def default_workers(sources: Sequence[SourceConfig], cpus: int | None = None) -> int:
    """How many processes `tributary run` uses unless told: each extra process starts Dagster
    afresh, which costs more than small sources take to load, so one process unless at least two
    sources read `LARGE_SOURCE_BYTES` or more of local files; then one process per such source,
    at most `MAX_WORKERS` and at most the machine's cores."""
    large = sum(
        1 for s in sources if (size := source_bytes(s)) is not None and size >= LARGE_SOURCE_BYTES
    )
    if large < 2:
        return 1
    return max(1, min(large, MAX_WORKERS, cpus or os.cpu_count() or 1))


def downstream_models(
    models: Sequence[Model], keys: Sequence[AssetKey], landed: Collection[AssetKey] = ()
) -> list[AssetKey]:
    """The models that read any of `keys`, or a model that does, in `models`' order. A model
    whose other inputs are neither among them nor `landed` (tables the warehouse holds) cannot
    be built yet and is left out."""
    reached = set(keys)
    chosen: list[AssetKey] = []
    grew = True
    while grew:
        grew = False
        for model in models:
            if (
                model.key not in reached
                and reached.intersection(model.inputs)
                and all(k in reached or k in landed for k in model.inputs)
            ):
                reached.add(model.key)
                chosen.append(model.key)
                grew = True
    order = {model.key: n for n, model in enumerate(models)}
    return sorted(chosen, key=order.__getitem__)


def _landed(warehouse: Warehouse) -> set[AssetKey]:
    """The tables the warehouse holds now, as asset keys."""
    if not warehouse.file.exists():
        return set()
    with warehouse.read_only() as con:
        rows = con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables"
        ).fetchall()
    return {AssetKey([schema, table]) for schema, table in rows}


def _downstream(
    catalog: Catalog, keys: Sequence[AssetKey], resources: Mapping[str, Any] | None
) -> list[AssetKey]:
    """The outputs of the models (SQL, then external) a run of the tables `keys` brings up to
    date: those reading them, directly or through other models, whose other inputs the
    warehouse holds."""
    models_dir = settings.models_dir(catalog.directory)
    if not models_dir.is_dir():
        return []
    from platform_assets.external_models.config import load_external_models
    from platform_assets.models import load_models

    warehouse = (resources or {}).get("warehouse") or default_warehouse()
    landed = _landed(warehouse)
    chosen = downstream_models(load_models(models_dir), keys, landed)
    reached = [*keys, *chosen]
    for external in load_external_models(models_dir):
        inputs = external.inputs
        if set(reached).intersection(inputs) and all(k in reached or k in landed for k in inputs):
            chosen += list(external.keys)
            reached += list(external.keys)
    return chosen


def run_sources(
    catalog: Catalog,
    sources: Sequence[SourceConfig],
    instance: DagsterInstance | None = None,
    resources: dict[str, Any] | None = None,
    log_level: str = "WARNING",
    workers: int = 1,
    with_models: bool = False,
    full_refresh: Sequence[str] = (),
) -> RunReport:
    """Materialize every table of `sources` in one run.

    With `workers` > 1 the sources run in parallel, each in its own process (Dagster's
    multiprocess executor): they read concurrently and the warehouse commits them one at a time.
    Those processes rebuild the job from the environment, so `resources` overrides apply only
    to in-process runs. Under `TRIBUTARY_EXECUTOR=celery` every step is a Celery task, whatever
    `workers` says. `with_models` adds the models (SQL and external) that read those tables
    (directly or through other models), which run after the tables they read.
    `full_refresh` names sources (`src`) or tables (`src.table`) to reload from scratch.
    """
    tags = full_refresh_tag(full_refresh)
    keys = [AssetKey([s.name, t.name]) for s in sources for t in s.tables]
    models: list[AssetKey] = []
    if with_models:
        models = _downstream(catalog, keys, resources)
        keys += models
    run_config: dict[str, Any] = {"loggers": {"console": {"config": {"log_level": log_level}}}}
    celery = settings.executor_name() == "celery"
    if workers > 1 or celery:
        if resources:
            raise ValueError("resources cannot be overridden for a multiprocess run")
        if not celery:  # Celery's workers decide how many steps run at once
            run_config["execution"] = {"config": {"multiprocess": {"max_concurrent": workers}}}
        from dagster import execute_job, reconstructable

        from platform_assets.jobs import all_assets_job

        with execute_job(
            reconstructable(all_assets_job),
            instance=instance or DagsterInstance.get(),
            asset_selection=keys,
            raise_on_error=False,
            run_config=run_config,
            tags=tags,
        ) as result:
            return report_of(result)
    # Only the chosen sources and their models are built: a run of one source of a large
    # catalog builds one source's assets, not the catalog's.
    job = build_run_job(catalog, sources, models, resources)
    return report_of(
        job.execute_in_process(
            instance=instance or DagsterInstance.get(),
            asset_selection=keys,
            raise_on_error=False,
            run_config=run_config,
            tags=tags,
        )
    )


class _RunResult(Protocol):
    """What in-process and multiprocess results both offer."""

    @property
    def run_id(self) -> str: ...

    @property
    def success(self) -> bool: ...

    @property
    def all_events(self) -> Sequence[DagsterEvent]: ...


def report_of(result: _RunResult) -> RunReport:
    report = RunReport(run_id=result.run_id, success=result.success)
    for event in result.all_events:
        if event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
            materialization = event.step_materialization_data.materialization
            values = {k: v.value for k, v in materialization.metadata.items()}
            children = values.get("child_tables")
            if not isinstance(children, Mapping):
                children = {}
            report.tables.append({"table": ".".join(materialization.asset_key.path), **values})
            # child tables land in their parent's transaction; the metadata gives rows read
            report.tables.extend({"table": t, "rows_in": rows} for t, rows in children.items())
        elif event.event_type == DagsterEventType.STEP_FAILURE and event.step_failure_data.error:
            error = event.step_failure_data.error
            if (lines := failed_table_lines(error)) is not None:
                report.failures.extend(lines)
                continue
            if error.cls_name in _INTERRUPTED:
                report.interrupted = True
                report.failures.append(f"{event.step_key}: interrupted, the run stopped")
                continue
            cause = error.cause.message if error.cause else ""
            message = error.message.strip().splitlines()[0] if error.message else cause
            report.failures.append(f"{event.step_key}: {message}")
        elif event.event_type == DagsterEventType.RUN_FAILURE and not report.failures:
            # the run failed outside any step (a step worker lost, a launch error)
            report.failures.append(f"run: {(event.message or 'failed').splitlines()[0]}")
    return report
