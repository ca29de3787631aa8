"""Change data capture of a `kind: sql` table from PostgreSQL (`cdc: true`).

Each table has its own logical replication slot (`tributary_<source>_<table>`, plugin
`pgoutput`) on the source's publication (`tributary_<source>`). Its first load (and a full
refresh) creates the slot and reads the table in the snapshot the slot exports at its
consistent point, so the snapshot and the stream meet exactly. Later loads peek the slot's
changes in batches (`BATCH_MESSAGES`), fold each into each key's final state, and land it by
key in one warehouse transaction with the LSN it reaches as the table's cursor; only after
that commit is the slot advanced, and the next batch peeked. A crash in between replays the
same transactions, which the stored LSN skips. A slot that is gone or lost fails the load
with the command that re-snapshots; nothing re-syncs on its own.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

import duckdb
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
BATCH_MESSAGES = 500_000
"""Messages per batch of changes: a backlog is applied in batches of this many (and whole
transactions), which bounds the memory a load takes, not in one."""


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
    max_changes: int | None = BATCH_MESSAGES
    """A batch stops after the transaction that passes this many messages; the load goes on
    with the next batch once it is committed (None: every change in one batch)."""

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
        """The snapshot (first load, or `spec.full_refresh`), or the changes since the stored
        LSN in batches of about `max_changes` messages until the slot is drained: each batch is
        committed with the LSN it reaches, then the slot is advanced to it. Returns the batches'
        results added up (the last one's load id and cursor). A blocked batch stops the load
        before its advance. Raises `SlotLostError` when the slot the stored LSN belongs to is
        gone or lost."""
        stored = warehouse.stored_cursor(self.source, self.table)
        results: list[LoadResult] = []
        with psycopg.connect(self.url, autocommit=True) as con:
            pg_cdc.ensure_publication(con, self.publication, [(self.schema, self.pg_table)])
            more = True
            while more:
                batch = self._batch(con, warehouse, spec, stored, gate, run_id, not results)
                if batch is None:
                    break
                result, lsn, more = batch
                results.append(result)
                if result.blocked:
                    break
                pg_cdc.advance(con, self.slot, lsn)
                stored, spec = lsn_text(lsn), dataclasses.replace(spec, full_refresh=False)
            state = pg_cdc.slot_state(con, self.slot)
        result = added_up(results)
        if state is not None:
            result.reader_metadata["slot"] = self.slot
            result.reader_metadata["slot_lag_bytes"] = state.lag_bytes
        return result

    def _batch(
        self,
        con: psycopg.Connection,
        warehouse: Warehouse,
        spec: WriteSpec,
        stored: str | None,
        gate: Gate | None,
        run_id: str | None,
        first: bool,
    ) -> tuple[LoadResult, int, bool] | None:
        """One committed batch, the LSN it reached, and whether the slot may hold more; None
        (nothing committed) when a batch after the `first` finds no change."""
        snapshot = spec.full_refresh or stored is None
        more = False
        with warehouse.load(self.source, self.table, run_id) as load:
            if not snapshot:
                assert stored is not None
                self._check_slot(con, stored)  # inside the load: its failure is recorded
            if snapshot:
                lsn, truncated = self._stage_snapshot(con, load), None
                spec = dataclasses.replace(spec, full_refresh=True, allow_empty=True)
            else:
                assert stored is not None
                changes, read = self._stage_changes(con, load, lsn_int(stored))
                if read == 0 and not first:
                    return None
                lsn = changes.end_lsn or lsn_int(stored)
                truncated = changes.truncated_at
                spec = dataclasses.replace(spec, allow_empty=True)
                more = self.max_changes is not None and read >= self.max_changes
                more = more and lsn > lsn_int(stored)
            deletes = Deletes(soft=self.soft_delete, truncated_at=truncated)
            result = load.commit(dataclasses.replace(spec, deletes=deletes), lsn_text(lsn), gate)
        return result, lsn, more

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

    def _stage_changes(
        self, con: psycopg.Connection, load: Load, applied_to: int
    ) -> tuple[TableChanges, int]:
        """Peek the slot's changes and stage each key's final state; returns them and the
        number of messages peeked."""
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
            # Folded in memory: a batch's final states are few enough for the commit to read
            # them as they are (see `Load.stage`), without writing a staging file first.
            with duckdb.connect() as scratch:
                # JSON and UUID keep their types through Arrow (as extension types).
                scratch.execute("SET arrow_lossless_conversion = true")
                scratch.register("__changes", table)
                load.stage(scratch.sql(changes.fold_sql("__changes", casts)).to_arrow_table())
        return changes, len(messages)


def added_up(results: Sequence[LoadResult]) -> LoadResult:
    """The results of a load's batches as one: rows, bytes and seconds added up, schema
    changes and changes read together, the last batch's load id, cursor and verdict."""
    last = results[-1]
    if len(results) == 1:
        return last
    total = dataclasses.replace(
        last,
        **{
            name: sum(getattr(r, name) for r in results)
            for name in (
                "rows_in",
                "inserted",
                "updated",
                "deleted",
                "superseded",
                "quarantined",
                "bytes",
                "requests",
                "retries",
                "seconds",
                "lock_wait_seconds",
                "commit_seconds",
            )
        },
        schema_changes=[change for r in results for change in r.schema_changes],
        reader_metadata=dict(last.reader_metadata),
    )
    total.reader_metadata["changes_read"] = sum(
        int(r.reader_metadata.get("changes_read", 0)) for r in results
    )
    total.reader_metadata["batches"] = len(results)
    return total
