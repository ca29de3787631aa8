"""Change data capture of a `kind: sql` table from MySQL/MariaDB (`cdc: true`).

The first load (and a full refresh) reads the table in a consistent snapshot together with the
binlog position that snapshot is at; later loads read the binary log from the stored position,
fold each key's changes into its final state, and land them by key in one warehouse transaction
with the position they reach as the table's cursor. Nothing upstream is acknowledged: the
position lives in the warehouse only, so a crash before the commit simply reads again. A
position whose binlog file the server has purged fails the load with the command that
re-snapshots.
"""

from __future__ import annotations

import dataclasses
import zlib

import pyarrow as pa

from platform_assets.sql_kind.config import SqlSource, SqlTable
from platform_assets.sql_kind.reader import uncompressed_staging
from resources import mysql_cdc
from resources.mysql_cdc import BinlogChanges, BinlogError, Position
from resources.naming import renames
from resources.warehouse import Gate, Load, LoadResult, Warehouse
from resources.write_dispositions import Deletes, WriteSpec


@dataclasses.dataclass
class MysqlCdc:
    """One CDC table of a MySQL/MariaDB source, as plain names."""

    url: str
    source: str
    table: str
    schema: str
    my_table: str
    soft_delete: bool
    column_names: str = "snake_case"
    max_changes: int | None = None

    @classmethod
    def of(cls, source: SqlSource, table: SqlTable, url: str) -> MysqlCdc:
        schema, name = table.schema_and_name
        database = url.rsplit("/", 1)[-1].split("?", 1)[0]
        return cls(
            url,
            source.name,
            table.name,
            schema or database,
            name,
            table.cdc_delete == "soft",
            table.column_names,
        )

    @property
    def what(self) -> str:
        return f"{self.schema}.{self.my_table}"

    @property
    def server_id(self) -> int:
        """A replica id of this table's own (the server refuses two readers with one id)."""
        return 1_000_000 + zlib.crc32(f"{self.source}.{self.table}".encode()) % 1_000_000

    def load(
        self,
        warehouse: Warehouse,
        spec: WriteSpec,
        gate: Gate | None = None,
        run_id: str | None = None,
    ) -> LoadResult:
        """One batch: the snapshot (first load, or `spec.full_refresh`) or the binlog's changes
        since the stored position, committed with the position reached. Raises `BinlogError`
        when the server lacks a setting or no longer has the stored position."""
        stored = warehouse.stored_cursor(self.source, self.table)
        con = mysql_cdc.connect(self.url)
        try:
            mysql_cdc.check_settings(con)
            columns = mysql_cdc.table_columns(con, self.schema, self.my_table, self.what)
            aliases = renames([c.name for c in columns], self.column_names)  # type: ignore[arg-type]
            snapshot = spec.full_refresh or stored is None
            truncated = None
            with warehouse.load(self.source, self.table, run_id) as load:
                if snapshot:
                    position, rows = mysql_cdc.snapshot(con, self.schema, self.my_table, columns)
                    spec = dataclasses.replace(spec, full_refresh=True)
                    load.reader_metadata["cdc"] = "snapshot"
                else:
                    assert stored is not None
                    start = Position.parse(stored)
                    if not mysql_cdc.position_available(con, start):
                        raise BinlogError(
                            f"binlog file {start.file} is no longer on the server (purged), so "
                            f"changes after {stored} are lost; run `tributary run --full-refresh "
                            f"{self.source}.{self.table}` to take a new snapshot"
                        )
                    changes = BinlogChanges(
                        self.schema, self.my_table, tuple(c.name for c in columns if c.key)
                    )
                    changes.read(self.url, start, self.server_id, self.max_changes)
                    position, rows = changes.end or start, changes.to_arrow(columns)
                    truncated = changes.truncated_at
                    load.reader_metadata.update(cdc="stream", changes_read=changes.changes)
                self._stage(load, rows, aliases)
                deletes = Deletes(soft=self.soft_delete, truncated_at=truncated)
                spec = dataclasses.replace(spec, allow_empty=True, deletes=deletes)
                result = load.commit(spec, str(position), gate)
        finally:
            con.close()
        result.reader_metadata["binlog_position"] = str(position)
        return result

    @staticmethod
    def _stage(load: Load, rows: pa.Table, aliases: dict[str, str]) -> None:
        if rows.num_rows == 0 and load.reader_metadata.get("cdc") == "stream":
            return
        uncompressed_staging(load.connection)
        load.stage(rows.rename_columns([aliases.get(n, n) for n in rows.column_names]))
