"""SQL models: each `models/<name>.sql` (one SELECT) becomes the asset `["models", <name>]`,
landing as table `models.<name>`. Its upstream assets are the `schema.table` references
sqlglot finds in the SQL; it re-materializes after they update (declarative automation). Each
run records, in one transaction with the table, a load in `_tributary.loads` and the load ids
of its inputs in `_tributary.lineage`."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AutomationCondition,
    MaterializeResult,
    asset,
)

from resources.duckdb_sql import quote
from resources.warehouse import Warehouse, new_load_id
from resources.warehouse_schema import MODEL_SCHEMA


class ModelError(ValueError):
    """A model file that cannot become an asset; the message names the file."""


@dataclass(frozen=True)
class Model:
    name: str
    sql: str
    inputs: tuple[AssetKey, ...]
    path: Path

    @property
    def key(self) -> AssetKey:
        return AssetKey([MODEL_SCHEMA, self.name])

    @property
    def table(self) -> str:
        return f"{quote(MODEL_SCHEMA)}.{quote(self.name)}"


def model_inputs(sql: str) -> tuple[AssetKey, ...]:
    """The `schema.table` references of one SELECT statement, as asset keys, sorted."""
    import sqlglot  # loads with the first model read
    from sqlglot import exp

    try:
        statements = sqlglot.parse(sql, dialect="duckdb")
    except sqlglot.errors.ParseError as error:
        raise ModelError(f"cannot parse the SQL: {error}") from None
    statements = [s for s in statements if s is not None]
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        raise ModelError("a model is exactly one SELECT statement")
    query = statements[0]
    ctes = {cte.alias_or_name for cte in query.find_all(exp.CTE)}
    keys: set[tuple[str, str]] = set()
    for table in query.find_all(exp.Table):
        if not table.name:
            continue
        if not table.db:
            if table.name in ctes:
                continue
            raise ModelError(f"table {table.name!r} needs its schema, e.g. crm.{table.name}")
        keys.add((table.db, table.name))
    if not keys:
        raise ModelError("a model reads at least one warehouse table")
    return tuple(AssetKey(list(k)) for k in sorted(keys))


def load_models(directory: Path) -> list[Model]:
    """Every `*.sql` file of `directory` (none if it does not exist), in name order."""
    if not directory.is_dir():
        return []
    models = []
    for path in sorted(directory.glob("*.sql")):
        sql = path.read_text(encoding="utf-8").strip().rstrip(";")
        if not path.stem.isidentifier():
            raise ModelError(f"{path}: a model's file name must be an identifier")
        try:
            models.append(Model(path.stem, sql, model_inputs(sql), path))
        except ModelError as error:
            raise ModelError(f"{path}: {error}") from None
    return models


def check_inputs(models: Iterable[Model], available: Iterable[AssetKey]) -> None:
    """Every model reads catalog tables or other models only."""
    models = list(models)
    known = set(available) | {m.key for m in models}
    for model in models:
        unknown = [".".join(k.path) for k in model.inputs if k not in known]
        if unknown:
            raise ModelError(
                f"{model.path}: reads {', '.join(unknown)}, "
                "which no catalog source or model provides"
            )


def input_load_ids(con: duckdb.DuckDBPyConnection, key: AssetKey) -> list[str]:
    """The loads whose rows `key` holds now: its `_load_id`s, or for a table without that
    column (another model) its latest succeeded load."""
    schema, table = key.path
    has_column = con.execute(
        "SELECT count(*) FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? AND column_name = '_load_id'",
        [schema, table],
    ).fetchone()
    if has_column and has_column[0]:
        rows = con.execute(
            f"SELECT DISTINCT _load_id::VARCHAR FROM {quote(schema)}.{quote(table)} "
            "WHERE _load_id IS NOT NULL ORDER BY 1"
        ).fetchall()
    else:
        rows = con.execute(
            "SELECT load_id FROM _tributary.loads WHERE source = ? AND table_name = ? "
            "AND status = 'succeeded' ORDER BY finished_at DESC LIMIT 1",
            [schema, table],
        ).fetchall()
    return [str(r[0]) for r in rows]


def _record_load(
    con: duckdb.DuckDBPyConnection,
    model: Model,
    load_id: str,
    run_id: str,
    started: datetime,
    rows: int | None,
    error: str | None,
) -> None:
    con.execute(
        "INSERT INTO _tributary.loads (load_id, run_id, source, table_name, write, status, "
        "rows_in, rows_inserted, started_at, finished_at, error) "
        "VALUES (?, ?, ?, ?, 'replace', ?, ?, ?, ?, ?, ?)",
        [
            load_id,
            run_id,
            MODEL_SCHEMA,
            model.name,
            "failed" if error else "succeeded",
            rows,
            rows,
            started,
            datetime.now(UTC),
            error,
        ],
    )


def materialize_model(warehouse: Warehouse, model: Model, run_id: str) -> MaterializeResult:
    """Rebuild the model's table, with its load and lineage, in one transaction."""
    load_id, started = new_load_id(), datetime.now(UTC)

    def work(con: duckdb.DuckDBPyConnection) -> tuple[int, dict[str, list[str]]]:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(MODEL_SCHEMA)}")
        con.execute(f"CREATE OR REPLACE TABLE {model.table} AS {model.sql}")
        counted = con.execute(f"SELECT count(*) FROM {model.table}").fetchone()
        rows = int(counted[0]) if counted else 0
        lineage = {".".join(key.path): input_load_ids(con, key) for key in model.inputs}
        for name, ids in lineage.items():
            for input_load_id in ids:
                con.execute(
                    "INSERT INTO _tributary.lineage VALUES (?, ?, ?, ?, ?, ?)",
                    [load_id, run_id, f"{MODEL_SCHEMA}.{model.name}", name, input_load_id, started],
                )
        _record_load(con, model, load_id, run_id, started, rows, None)
        return rows, lineage

    try:
        rows, lineage = warehouse.transaction(work)
    except duckdb.Error as error:
        message = str(error)
        warehouse.transaction(
            lambda con: _record_load(con, model, load_id, run_id, started, None, message)
        )
        raise ModelError(f"model {model.name!r} failed (load {load_id}): {message}") from error
    return MaterializeResult(
        metadata={
            "load_id": load_id,
            "rows_in": rows,
            "rows_inserted": rows,
            "inputs": {name: len(ids) for name, ids in lineage.items()},
            "sql": model.sql,
        }
    )


def build_model_asset(model: Model) -> AssetsDefinition:
    @asset(
        key=model.key,
        deps=list(model.inputs),
        group_name=MODEL_SCHEMA,
        description=f"SQL model {model.path.name}; reads "
        + ", ".join(k.to_user_string() for k in model.inputs),
        kinds={"duckdb", "sql"},
        automation_condition=AutomationCondition.eager(),
        required_resource_keys={"warehouse"},
        op_tags={"tributary/source": MODEL_SCHEMA},
    )
    def _model(context: AssetExecutionContext) -> MaterializeResult:
        return materialize_model(context.resources.warehouse, model, context.run.run_id)

    return _model


def build_model_assets(
    models: Iterable[Model], available: Iterable[AssetKey]
) -> list[AssetsDefinition]:
    models = list(models)
    check_inputs(models, available)
    return [build_model_asset(model) for model in models]
