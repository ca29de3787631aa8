"""What an external model is handed and hands back: its inputs as Parquet files, exported from
one read-only snapshot of the warehouse, and the Parquet files it writes for its outputs.

The model never opens the warehouse: it holds no lock, cannot write it, and needs no DuckDB.
The Pipes extras it receives are `{"inputs": {"schema.table": path}, "outputs": {name: path}}`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from platform_assets.external_models.config import ExternalModel
from platform_assets.models import input_load_ids
from resources.duckdb_sql import literal, quote
from resources.warehouse import Warehouse
from resources.warehouse_schema import LINEAGE_COLUMNS, ROW_HASH, SOURCE_FILE

BOOKKEEPING = frozenset((*LINEAGE_COLUMNS, ROW_HASH, SOURCE_FILE))
"""Columns of a stored row that describe its load, not its data, left out of the exports: the
platform records which loads a model read itself (`_tributary.lineage`), and an output row
carrying them would be refused by the writer. (An scd2 table's `_valid_from`/`_valid_to` stay:
they are its history.)"""


@dataclass(frozen=True)
class Handover:
    """The files of one model run, under `directory`."""

    inputs: dict[str, Path]
    outputs: dict[str, Path]
    lineage: dict[str, list[str]]
    """`{schema.table: [load ids]}`: the loads whose rows the exported inputs hold."""

    def extras(self) -> dict[str, dict[str, str]]:
        return {
            "inputs": {name: str(path) for name, path in self.inputs.items()},
            "outputs": {name: str(path) for name, path in self.outputs.items()},
        }


def export_inputs(warehouse: Warehouse, model: ExternalModel, directory: Path) -> Handover:
    """Export every input of `model` (without its `BOOKKEEPING` columns) to
    `directory/inputs/<schema>.<table>.parquet` from one read-only connection (one snapshot:
    the inputs agree with each other and with the lineage recorded). Raises
    duckdb.CatalogException for an input not in the warehouse yet."""
    (directory / "inputs").mkdir(parents=True, exist_ok=True)
    (directory / "outputs").mkdir(parents=True, exist_ok=True)
    inputs: dict[str, Path] = {}
    lineage: dict[str, list[str]] = {}
    with warehouse.read_only() as con:
        con.execute("BEGIN TRANSACTION")
        for key in model.inputs:
            schema, table = key.path
            name = f"{schema}.{table}"
            path = directory / "inputs" / f"{name}.parquet"
            hidden = ", ".join(literal(c) for c in sorted(BOOKKEEPING))
            con.execute(
                f"COPY (SELECT COLUMNS(c -> c NOT IN ({hidden})) "
                f"FROM {quote(schema)}.{quote(table)}) TO {literal(str(path))} (FORMAT parquet)"
            )
            inputs[name] = path
            lineage[name] = input_load_ids(con, key)
        con.execute("COMMIT")
    outputs = {o.name: directory / "outputs" / f"{o.name}.parquet" for o in model.config.outputs}
    return Handover(inputs, outputs, lineage)
