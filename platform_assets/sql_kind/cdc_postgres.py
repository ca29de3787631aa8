"""Change data capture of a `kind: sql` table from PostgreSQL (`cdc: true`).

Each table has its own logical replication slot (`tributary_<source>_<table>`, plugin
`pgoutput`) on the source's publication (`tributary_<source>`). Its first load (and a full
refresh) creates the slot and reads the table in the snapshot the slot exports at its
consistent point, so the snapshot and the stream meet exactly. Later loads peek the slot's
changes, fold them into each key's final state, and land them by key in one warehouse
transaction with the LSN they reach as the table's cursor; only after that commit is the slot
advanced. A crash in between replays the same transactions, which the stored LSN skips.
A slot that is gone or lost fails the load with the command that re-snapshots; nothing
re-syncs on its own.
"""

from __future__ import annotations

import dataclasses
import re

import psycopg

from platform_assets.sql_kind.config import SqlSource, SqlTable
from platform_assets.sql_kind.reader import uncompressed_staging
from resources import pg_cdc
from resources.naming import renames
from resources.pg_cdc import SlotLostError, TableChanges
from resources.pgoutput import lsn_int, lsn_text
from resources.warehouse import Gate, Load, LoadResult, Warehouse
from resources.warehouse_schema import DELETED_AT
from resources.write_dispositions import Deletes, WriteSpec

_UNSAFE = re.compile(r"[^a-z0-9_]")


def _name(*parts: str) -> str:
    """A slot or publication name PostgreSQL takes: lower-case, `[a-z0-9_]`, at most 63."""
    return _UNSAFE.sub("_", "_".join(("tributary", *parts)).lower())[:63]


def slot_name(source: str, table: str) -> str:
    return _name(source, table)


def publication_name(source: str) -> str:
    return _name(source)


def source_table(table: SqlTable) -> tuple[str, str]:
    """The (schema, name) of the PostgreSQL table a CDC table reads."""
    schema, name = table.schema_and_name
    return schema or "public", name


def lost_slot_message(source: str, table: str, slot: str, why: str, cursor: str) -> str:
    return (
        f"replication slot {slot} {why}, so changes after "
        f"LSN {cursor} are lost; run `tributary run --full-refresh {source}.{table}` to take a "
        "new snapshot"
    )


@dataclasses.dataclass
class PostgresCdc:
    """One CDC table of a PostgreSQL source, as plain names (see the module's docstring)."""

    url: str
    source: str
    table: str
    schema: str
    pg_table: str
    soft_delete: bool
    column_names: str = "snake_case"
    max_changes: int | None = None
    """Stop a batch after the transaction that passes this many messages (None: all)."""

    @classmethod
    def of(cls, source: SqlSource, table: SqlTable, url: str) -> PostgresCdc:
        schema, name = source_table(table)
        return cls(
            url,
            source.name,
            table.name,
            schema,
            name,
            table.cdc_delete == "soft",
            table.column_names,
        )

    @property
    def slot(self) -> str:
        return slot_name(self.source, self.table)

    @property
    def publication(self) -> str:
        return publication_name(self.source)

    @property
    def what(self) -> str:
        return f"{self.schema}.{self.pg_table}"

    def load(
        self,
        warehouse: Warehouse,
        spec: WriteSpec,
        gate: Gate | None = None,
        run_id: str | None = None,
    ) -> LoadResult:
        """One batch: the snapshot (first load, or `spec.full_refresh`) or the changes since the
        stored LSN, committed with the LSN reached; then the slot is advanced to it. Raises
        `SlotLostError` when the slot the stored LSN belongs to is gone or lost."""
        stored = warehouse.stored_cursor(self.source, self.table)
        with psycopg.connect(self.url, autocommit=True) as con:
            pg_cdc.ensure_publication(con, self.publication, [(self.schema, self.pg_table)])
            snapshot = spec.full_refresh or stored is None
            with warehouse.load(self.source, self.table, run_id) as load:
                if not snapshot:
                    assert stored is not None
                    self._check_slot(con, stored)  # inside the load: its failure is recorded
                if snapshot:
                    lsn, truncated = self._stage_snapshot(con, load), None
                    spec = dataclasses.replace(spec, full_refresh=True, allow_empty=True)
                else:
                    assert stored is not None
                    changes = self._stage_changes(con, load, lsn_int(stored))
                    lsn = changes.end_lsn or lsn_int(stored)
                    truncated = changes.truncated_at
                    spec = dataclasses.replace(spec, allow_empty=True)
                deletes = Deletes(soft=self.soft_delete, truncated_at=truncated)
                result = load.commit(
                    dataclasses.replace(spec, deletes=deletes), lsn_text(lsn), gate
                )
            if not result.blocked:
                pg_cdc.advance(con, self.slot, lsn)
            state = pg_cdc.slot_state(con, self.slot)
        if state is not None:
            result.reader_metadata["slot"] = self.slot
            result.reader_metadata["slot_lag_bytes"] = state.lag_bytes
        return result

    def _check_slot(self, con: psycopg.Connection, stored: str) -> None:
        state = pg_cdc.slot_state(con, self.slot)
        if state is None:
            why = "does not exist"
        elif state.lost:
            why = "was invalidated (wal_status lost: the server removed WAL it still needed)"
        elif state.confirmed_lsn is not None and state.confirmed_lsn > lsn_int(stored):
            why = f"was advanced to {lsn_text(state.confirmed_lsn)} past the warehouse"
        else:
            return
        raise SlotLostError(lost_slot_message(self.source, self.table, self.slot, why, stored))

    def _aliases(self, names: list[str]) -> dict[str, str]:
        return renames(names, self.column_names)  # type: ignore[arg-type]

    def _stage_snapshot(self, con: psycopg.Connection, load: Load) -> int:
        """Create the slot and stage the table as its exported snapshot sees it; returns the
        slot's consistent point (the LSN the rows are as of)."""
        pg_cdc.drop_slot(con, self.slot)
        columns = pg_cdc.table_columns(con, self.schema, self.pg_table, self.what)
        # Named like the staging file, so that a dead process's copy is swept with it.
        csv = load.staging_path.with_name(load.staging_path.name + ".csv")
        csv.parent.mkdir(parents=True, exist_ok=True)
        try:
            with pg_cdc.create_slot(self.url, self.slot) as slot:
                load.bytes_read = pg_cdc.copy_snapshot(
                    con, slot.snapshot, self.schema, self.pg_table, columns, csv
                )
            aliases = self._aliases([c.name for c in columns])
            rows = pg_cdc.read_csv_sql(csv, columns, aliases)
            uncompressed_staging(load.connection)
            load.stage(
                load.connection.sql(f"SELECT *, NULL::TIMESTAMPTZ AS {DELETED_AT} FROM ({rows})")
            )
        finally:
            csv.unlink(missing_ok=True)
        load.reader_metadata["cdc"] = "snapshot"
        return slot.consistent_lsn

    def _stage_changes(self, con: psycopg.Connection, load: Load, applied_to: int) -> TableChanges:
        """Peek the slot's changes and stage each key's final state."""
        messages = pg_cdc.peek(con, self.slot, self.publication, self.max_changes)
        load.bytes_read = sum(map(len, messages))
        key = pg_cdc.primary_key(con, self.schema, self.pg_table)
        changes = TableChanges(
            self.schema, self.pg_table, self.what, applied_to=applied_to, primary_key=key
        )
        changes.feed(messages)
        load.reader_metadata.update(cdc="stream", changes_read=changes.changes)
        table = changes.to_arrow()
        if table is not None:
            columns = pg_cdc.typed_columns(con, changes.types, self.what)
            aliases = self._aliases([c.name for c in columns])
            casts = ", ".join(
                pg_cdc.cast_sql(c.name, c.duck_type, aliases.get(c.name)) for c in columns
            )
            uncompressed_staging(load.connection)
            load.connection.register("__changes", table)
            try:
                load.stage(load.connection.sql(changes.fold_sql("__changes", casts)))
            finally:
                load.connection.unregister("__changes")
        return changes
