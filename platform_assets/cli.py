"""`tributary`: list, validate and run the catalog's sources, and query the warehouse."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from tabulate import tabulate

from platform_assets import settings
from platform_assets.catalog import Catalog, CatalogError
from platform_assets.config.base import SourceConfig

if TYPE_CHECKING:
    from resources.warehouse import Warehouse

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Tributary: external data into a DuckDB warehouse, declared in a YAML catalog.",
)


def main() -> None:
    app()


def _catalog() -> Catalog:
    from platform_assets.platform import load_platform_catalog

    try:
        return load_platform_catalog()
    except CatalogError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(1) from None


def _warehouse() -> Warehouse:
    """The warehouse the environment names; a setting it cannot use (the executor's too) ends
    the command."""
    from platform_assets.platform import default_warehouse

    try:
        settings.executor_name()
        return default_warehouse()
    except settings.SettingsError as error:
        typer.echo(f"invalid setting: {error}", err=True)
        raise typer.Exit(1) from None


def _ensure_dagster_home() -> Path:
    """Runs are recorded in `DAGSTER_HOME` (default `.dagster/`), where the UI finds them."""
    home = settings.dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    config = home / "dagster.yaml"
    if not config.exists():
        # Step processes log through the instance's level (DEBUG unless set): `-v` shows the log.
        config.write_text(
            "telemetry:\n  enabled: false\npython_logs:\n  python_log_level: WARNING\n",
            encoding="utf-8",
        )
    return home


@app.command()
def sources() -> None:
    """List the catalog's sources: kind, tables, tags, schedule and its next run."""
    from datetime import UTC, datetime

    from resources.cron import next_tick

    now = datetime.now(UTC)
    rows = []
    for s in _catalog().sources:
        upcoming = next_tick(s.schedule, s.timezone, now) if s.schedule else None
        rows.append(
            [
                s.name,
                s.kind,
                ", ".join(t.name for t in s.tables),
                _tags(s),
                _schedule(s),
                f"{upcoming:%Y-%m-%d %H:%M %Z}" if upcoming else "-",
            ]
        )
    headers = ["source", "kind", "tables", "tags", "schedule", "next run"]
    typer.echo(tabulate(rows, headers=headers))


def _tags(source: SourceConfig) -> str:
    return ", ".join(f"{k}={v}" if v else k for k, v in source.tags.items())


def _schedule(source: SourceConfig) -> str:
    if not source.schedule:
        return "-"
    return f"{source.schedule} ({source.timezone})"


@app.command()
def validate() -> None:
    """Check every catalog file and the Dagster definitions built from them."""
    from dagster import Definitions

    from platform_assets.platform import build_definitions

    catalog = _catalog()
    try:
        Definitions.validate_loadable(build_definitions(catalog))
    except Exception as error:  # any definition error is reported, not raised
        typer.echo(f"invalid definitions: {error}", err=True)
        raise typer.Exit(1) from None
    tables = sum(len(s.tables) for s in catalog.sources)
    typer.echo(
        f"catalog {catalog.directory}: {len(catalog.sources)} sources, {tables} tables, valid"
    )


def select_sources(
    catalog: Catalog, names: Sequence[str], tags: Sequence[str], everything: bool
) -> list[SourceConfig]:
    """Sources named with --source or carrying a --tag (`key` or `key=value`); all with --all."""
    if everything:
        return list(catalog.sources)
    known = {s.name for s in catalog.sources}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise typer.BadParameter(f"no source named {', '.join(unknown)}", param_hint="--source")

    def tagged(source: SourceConfig) -> bool:
        for tag in tags:
            key, _, value = tag.partition("=")
            if key in source.tags and (not value or source.tags[key] == value):
                return True
        return False

    return [s for s in catalog.sources if s.name in names or tagged(s)]


@app.command()
def run(
    source: Annotated[list[str], typer.Option("--source", "-s", help="A source to run.")] = [],  # noqa: B006
    tag: Annotated[list[str], typer.Option("--tag", "-t", help="Run sources with this tag.")] = [],  # noqa: B006
    all_sources: Annotated[bool, typer.Option("--all", help="Run every source.")] = False,
    no_downstream: Annotated[
        bool,
        typer.Option(
            "--no-downstream",
            help="Run the sources only: by default the SQL models that read them follow.",
        ),
    ] = False,
    exclude: Annotated[
        list[str], typer.Option("--exclude", "-x", help="A source not to run (with --all, --tag).")
    ] = [],  # noqa: B006
    workers: Annotated[
        int | None,
        typer.Option(
            help="Processes to run sources in. Default: one (it starts fastest), unless at "
            "least two sources read 256 MB or more of local files: then one process per such "
            "source, at most 4 and at most the machine's cores."
        ),
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show Dagster's log (errors included).")
    ] = False,
    full_refresh: Annotated[
        list[str],
        typer.Option(
            "--full-refresh",
            help="Reload a source (SOURCE) or one table (SOURCE.TABLE) from scratch: its file "
            "ledger, cursor and rows are replaced in one transaction. Runs that source.",
        ),
    ] = [],  # noqa: B006
) -> None:
    """Materialize sources through Dagster; exits 1 if the run or any table fails, 130 if it
    was interrupted (Ctrl-C)."""
    source = [*source, *(name.split(".")[0] for name in full_refresh)]
    if not (source or tag or all_sources):
        raise typer.BadParameter("choose sources with --source, --tag or --all")
    catalog = _catalog()
    chosen = [s for s in select_sources(catalog, source, tag, all_sources) if s.name not in exclude]
    if not chosen:
        typer.echo("no source matches the selection", err=True)
        raise typer.Exit(1)
    _warehouse()  # a bad setting stops the command here, before any run starts
    _ensure_dagster_home()

    from platform_assets.runner import default_workers, run_sources

    started = time.perf_counter()
    report = run_sources(
        catalog,
        chosen,
        log_level="DEBUG" if verbose else "CRITICAL",
        workers=default_workers(chosen) if workers is None else workers,
        with_models=not no_downstream,
        full_refresh=full_refresh,
    )
    if report.tables:  # a run that wrote nothing prints no empty table
        typer.echo(tabulate(report.rows(), headers=report.headers()) + "\n")
    typer.echo(f"{report.summary()} in {time.perf_counter() - started:.1f}s")
    for failure in report.failures:
        typer.echo(f"FAILED {failure}", err=True)
    if report.interrupted:
        raise typer.Exit(130)  # the shell's code for a run stopped by Ctrl-C
    if report.failures or not report.success:
        raise typer.Exit(1)


@app.command()
def query(
    sql: Annotated[str, typer.Argument(help="SQL to run against the warehouse (read-only).")],
    output: Annotated[str, typer.Option("--format", "-f", help="table, csv or json")] = "table",
) -> None:
    """Query the warehouse on a read-only connection that reaches no file, database or setting
    beyond it (waits while a load commits). Values print exactly as DuckDB returns them."""
    import duckdb

    from platform_assets.query import run_query

    _check_format(output)
    warehouse = _warehouse()
    if not warehouse.exists():
        typer.echo(
            f"no warehouse at {warehouse.location}: run `tributary run --all` first", err=True
        )
        raise typer.Exit(1)
    try:
        with warehouse.read_only(private=True) as con:
            headers, rows = run_query(con, sql, warehouse.data_directories)
    except duckdb.Error as error:
        typer.echo(f"query failed: {error}", err=True)
        raise typer.Exit(1) from None
    _print_rows(headers, rows, output)


@app.command()
def maintain(
    older_than: Annotated[
        str, typer.Option(help="Expire snapshots older than this: e.g. 24h, 7d.")
    ] = "7d",
) -> None:
    """Compact a DuckLake warehouse: merge small Parquet files, expire old snapshots and
    delete the files no snapshot needs. Safe beside running loads."""
    from pydantic import TypeAdapter, ValidationError

    from platform_assets.config.types import Duration

    try:
        window = TypeAdapter(Duration).validate_python(older_than)
    except ValidationError:
        raise typer.BadParameter(
            f"{older_than!r} is not a duration", param_hint="--older-than"
        ) from None
    warehouse = _warehouse()
    if warehouse.lake is None:
        typer.echo(f"{warehouse.location} is a DuckDB file: nothing to compact", err=True)
        raise typer.Exit(1)
    done = warehouse.maintain(window)
    typer.echo(
        f"merged {done.merged_files} files, expired {done.expired_snapshots} snapshots, "
        f"deleted {done.deleted_files} files"
    )


@app.command()
def report(
    since: Annotated[str, typer.Option(help="How far back: e.g. 24h, 7d, 30d.")] = "7d",
    output: Annotated[str, typer.Option("--format", "-f", help="table, csv or json")] = "table",
    checks: Annotated[
        bool, typer.Option("--checks", help="Quality checks instead: pass rates per source.")
    ] = False,
) -> None:
    """Per source: success and error rates, p50/p95 load seconds, rows, bytes, requests.

    With --checks: each source's check pass rate and quarantined rows, then every rule."""
    from datetime import UTC, datetime

    from pydantic import TypeAdapter, ValidationError

    from platform_assets.check_report import HEADERS, TOTAL_HEADERS, check_rows, source_totals
    from platform_assets.config.types import Duration
    from platform_assets.report import load_report

    try:
        window = TypeAdapter(Duration).validate_python(since)
    except ValidationError:
        raise typer.BadParameter(f"{since!r} is not a duration", param_hint="--since") from None
    _check_format(output)
    warehouse = _warehouse()
    if not warehouse.exists():
        typer.echo(
            f"no warehouse at {warehouse.location}: run `tributary run --all` first", err=True
        )
        raise typer.Exit(1)
    start = datetime.now(UTC) - window
    with warehouse.read_only() as con:
        if checks:
            totals, rules = source_totals(con, start), check_rows(con, start)
        else:
            result = load_report(con, start)
    if not checks:
        _print_rows(result.headers, result.rows, output)
        return
    if output == "json":  # one document: the sources' totals, then every rule
        from platform_assets.printing import format_rows

        sources_json = format_rows(TOTAL_HEADERS, [tuple(r) for r in totals], output)
        rules_json = format_rows(HEADERS, [tuple(r) for r in rules], output)
        typer.echo(f'{{"sources": {sources_json}, "rules": {rules_json}}}')
        return
    _print_rows(TOTAL_HEADERS, [tuple(r) for r in totals], output)
    typer.echo()
    _print_rows(HEADERS, [tuple(r) for r in rules], output)


def _check_format(output: str) -> None:
    from platform_assets.printing import FORMATS

    if output not in FORMATS:
        raise typer.BadParameter(
            f"{output!r} is not a format: use {', '.join(FORMATS)}", param_hint="--format"
        )


def _print_rows(headers: list[str], rows: list[tuple[Any, ...]], output: str) -> None:
    """Print `rows` in `output` (table, csv or json), each value exactly as DuckDB returned it."""
    from platform_assets.printing import format_rows

    typer.echo(format_rows(headers, rows, output))


@app.command("new-source")
def new_source(
    name: Annotated[str, typer.Argument(help="The source's name, e.g. weather_station.")],
    directory: Annotated[
        Path, typer.Option("--directory", "-d", help="Where to create the package folder.")
    ] = Path("."),
) -> None:
    """Write a plugin package for a Python source: the class, its entry point, a catalog
    example and a test that runs it against a temporary warehouse."""
    from platform_assets.python_kind.scaffold import ScaffoldError
    from platform_assets.python_kind.scaffold import new_source as scaffold

    try:
        root = scaffold(name, directory)
    except ScaffoldError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(1) from None
    typer.echo(f"wrote {root}\nnext: cd {root} && pip install -e . && pytest")


if __name__ == "__main__":
    main()
