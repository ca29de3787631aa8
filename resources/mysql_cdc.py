"""MySQL/MariaDB change data capture on the ground floor: the binary log read with
`mysql-replication`, folded into each key's final state, with the position it reaches.

Plain arguments only (connection settings, a schema and table, a binlog position). The server
needs `log_bin`, `binlog_format=ROW`, `binlog_row_image=FULL` and `binlog_row_metadata=FULL`
(column names in every row event). A position is `file:offset` (`binlog.000003:1234`), always
at a transaction's end.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import unquote, urlsplit

import pyarrow as pa
import pymysql
from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.event import QueryEvent, XidEvent
from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent

from resources.errors import TributaryError
from resources.warehouse_schema import DELETED_AT

REQUIRED_SETTINGS = {
    "log_bin": "ON",
    "binlog_format": "ROW",
    "binlog_row_image": "FULL",
    "binlog_row_metadata": "FULL",
}


class BinlogError(TributaryError):
    """The binary log cannot be read as change capture needs (settings, a purged position)."""


@dataclass(frozen=True)
class Position:
    file: str
    offset: int

    def __str__(self) -> str:
        return f"{self.file}:{self.offset}"

    @classmethod
    def parse(cls, text: str) -> Position:
        file, sep, offset = text.rpartition(":")
        if not sep or not offset.isdigit():
            raise ValueError(f"not a binlog position: {text!r}")
        return cls(file, int(offset))

    def key(self) -> tuple[int, int]:
        """Orders positions: binlog files are numbered `name.000001`, `name.000002`..."""
        return int(self.file.rsplit(".", 1)[-1]), self.offset


def connection_settings(url: str) -> dict[str, Any]:
    """`mysql://user:password@host:port/db` as pymysql's keyword arguments (no database)."""
    parts = urlsplit(url)
    return {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 3306,
        "user": unquote(parts.username or "root"),
        "password": unquote(parts.password or ""),
    }


def connect(url: str) -> pymysql.Connection[Any]:
    settings = connection_settings(url)
    return pymysql.connect(
        host=settings["host"],
        port=settings["port"],
        user=settings["user"],
        password=settings["password"],
        autocommit=True,
    )


def check_settings(con: pymysql.Connection[Any]) -> None:
    """Raise `BinlogError` naming every server setting change capture needs and lacks."""
    with con.cursor() as cursor:
        cursor.execute(
            "SHOW GLOBAL VARIABLES WHERE Variable_name IN %s", [tuple(REQUIRED_SETTINGS)]
        )
        found = {str(k).lower(): str(v).upper() for k, v in cursor.fetchall()}
    wrong = [f"{k}={v}" for k, v in REQUIRED_SETTINGS.items() if found.get(k) != v]
    if wrong:
        raise BinlogError(
            f"the server's binary log cannot be captured: it needs {', '.join(wrong)}"
        )


def position_available(con: pymysql.Connection[Any], position: Position) -> bool:
    """Whether the server still has the binlog file `position` is in."""
    with con.cursor() as cursor:
        cursor.execute("SHOW BINARY LOGS")
        return position.file in {str(row[0]) for row in cursor.fetchall()}


_INTEGER = {
    "tinyint": pa.int8(),
    "smallint": pa.int16(),
    "mediumint": pa.int32(),
    "int": pa.int32(),
    "integer": pa.int32(),
    "bigint": pa.int64(),
}
_UNSIGNED = {
    "tinyint": pa.uint8(),
    "smallint": pa.uint16(),
    "mediumint": pa.uint32(),
    "int": pa.uint32(),
    "integer": pa.uint32(),
    "bigint": pa.uint64(),
}
_DECIMAL = re.compile(r"decimal\((\d+),(\d+)\)")


def arrow_type(column_type: str) -> pa.DataType | None:
    """The Arrow type that holds a MySQL column's values exactly, from its COLUMN_TYPE
    (`tinyint(1)` is boolean, `decimal(12,2)` decimal(12,2), DATETIME and TIMESTAMP zone-less
    timestamps); None when there is none."""
    declared = column_type.lower()
    base = declared.split("(")[0].split(" ")[0]
    if declared.startswith("tinyint(1)"):
        return pa.bool_()
    if base in _INTEGER:
        return (_UNSIGNED if "unsigned" in declared else _INTEGER)[base]
    if match := _DECIMAL.match(declared):
        precision, scale = int(match[1]), int(match[2])
        return pa.decimal128(precision, scale) if precision <= 38 else None
    if base in ("float",):
        return pa.float32()
    if base in ("double", "real"):
        return pa.float64()
    if base in ("char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "json"):
        return pa.string()
    if base in ("binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob"):
        return pa.binary()
    if base in ("datetime", "timestamp"):
        return pa.timestamp("us")
    if base == "date":
        return pa.date32()
    if base == "time":
        return pa.duration("us")
    if base == "year":
        return pa.int16()
    return None


@dataclass(frozen=True)
class MysqlColumn:
    name: str
    column_type: str
    arrow: pa.DataType
    key: bool


def table_columns(
    con: pymysql.Connection[Any], schema: str, table: str, what: str
) -> list[MysqlColumn]:
    """The table's columns with their Arrow types. Raises `BinlogError` naming `what` and the
    column when a type has none, and when the table is missing or has no primary key."""
    with con.cursor() as cursor:
        cursor.execute(
            "SELECT COLUMN_NAME, COLUMN_TYPE, COLUMN_KEY = 'PRI' FROM information_schema.COLUMNS "
            "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
            [schema, table],
        )
        rows = cursor.fetchall()
    if not rows:
        raise BinlogError(f"{what}: table {schema}.{table} does not exist")
    columns = []
    for name, column_type, key in rows:
        kind = arrow_type(str(column_type))
        if kind is None:
            raise BinlogError(f"{what}, column {name}: type {column_type} has no exact DuckDB type")
        columns.append(MysqlColumn(str(name), str(column_type), kind, bool(key)))
    if not any(c.key for c in columns):
        raise BinlogError(f"{what}: {schema}.{table} has no primary key to apply changes by")
    return columns


def _value(value: Any, kind: pa.DataType) -> Any:
    if value is None:
        return None
    if pa.types.is_boolean(kind):
        return bool(value)
    if pa.types.is_string(kind) and not isinstance(value, str):
        return value.decode() if isinstance(value, bytes) else str(value)
    if pa.types.is_decimal(kind) and not isinstance(value, Decimal):
        return Decimal(str(value))
    return value


def to_arrow(
    columns: Sequence[MysqlColumn],
    rows: Sequence[Mapping[str, Any]],
    deleted: Sequence[datetime | None],
) -> pa.Table:
    """Rows (by column name) as Arrow in the columns' exact types, with `_deleted_at`."""
    arrays = {
        c.name: pa.array([_value(r.get(c.name), c.arrow) for r in rows], c.arrow) for c in columns
    }
    arrays[DELETED_AT] = pa.array(deleted, pa.timestamp("us", "UTC"))
    return pa.table(arrays)


def snapshot(
    con: pymysql.Connection[Any], schema: str, table: str, columns: Sequence[MysqlColumn]
) -> tuple[Position, pa.Table]:
    """The table's rows in a consistent snapshot and the binlog position that snapshot is at
    (MariaDB's `binlog_snapshot_file`/`_position`): every transaction after it is in the log
    from that position on."""
    names = ", ".join(f"`{c.name}`" for c in columns)
    with con.cursor() as cursor:
        cursor.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
        try:
            cursor.execute("SHOW STATUS LIKE 'binlog_snapshot_%%'")
            status = {str(k).lower(): str(v) for k, v in cursor.fetchall()}
            if "binlog_snapshot_file" not in status:
                raise BinlogError(
                    "the server does not report the binlog position of a consistent snapshot "
                    "(binlog_snapshot_file: MariaDB does); MySQL needs a GTID-based snapshot"
                )
            cursor.execute(f"SELECT {names} FROM `{schema}`.`{table}`")
            fetched = cursor.fetchall()
        finally:
            cursor.execute("COMMIT")
    position = Position(status["binlog_snapshot_file"], int(status["binlog_snapshot_position"]))
    rows = [dict(zip([c.name for c in columns], row, strict=True)) for row in fetched]
    return position, to_arrow(columns, rows, [None] * len(rows))


_TRUNCATE = re.compile(r"^\s*truncate\s+(?:table\s+)?(?:`?(\w+)`?\.)?`?(\w+)`?\s*$", re.I)


@dataclass
class BinlogChanges:
    """One table's changes from `start` on, folded into each key's final state."""

    schema: str
    table: str
    key: tuple[str, ...]
    rows: dict[tuple[Any, ...], tuple[dict[str, Any], datetime | None]] = field(
        default_factory=dict
    )
    truncated_at: datetime | None = None
    changes: int = 0
    end: Position | None = None

    def read(self, url: str, start: Position, server_id: int, max_changes: int | None) -> None:
        """Read the log from `start` to its current end (or past `max_changes`, at a
        transaction's end)."""
        stream = BinLogStreamReader(
            connection_settings=connection_settings(url),
            server_id=server_id,
            log_file=start.file,
            log_pos=start.offset,
            resume_stream=True,
            blocking=False,
            only_events=[WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent, XidEvent, QueryEvent],
            is_mariadb=True,
        )
        pending: list[tuple[str, dict[str, Any], datetime]] = []
        try:
            for event in stream:
                here = Position(stream.log_file, stream.log_pos)
                if here.key() <= start.key():
                    continue
                at = datetime.fromtimestamp(event.timestamp, UTC)
                if isinstance(event, WriteRowsEvent | UpdateRowsEvent | DeleteRowsEvent):
                    if (event.schema, event.table) != (self.schema, self.table):
                        continue
                    for row in event.rows:
                        if isinstance(event, UpdateRowsEvent):
                            pending.append(("D", row["before_values"], at))
                            pending.append(("U", row["after_values"], at))
                        elif isinstance(event, WriteRowsEvent):
                            pending.append(("I", row["values"], at))
                        else:
                            pending.append(("D", row["values"], at))
                    continue
                if isinstance(event, QueryEvent):
                    match = _TRUNCATE.match(event.query)
                    database = (
                        event.schema.decode() if isinstance(event.schema, bytes) else event.schema
                    )
                    if match and match[2] == self.table and (match[1] or database) == self.schema:
                        pending.clear()
                        self.rows.clear()
                        self.truncated_at = at
                    elif not event.query.strip().upper().startswith(("BEGIN", "XA")):
                        self._apply(pending)  # a statement of its own is its transaction
                    else:
                        continue
                else:  # XidEvent: the transaction committed
                    self._apply(pending)
                self.end = here
                if max_changes is not None and self.changes >= max_changes:
                    break
        finally:
            stream.close()

    def _apply(self, pending: list[tuple[str, dict[str, Any], datetime]]) -> None:
        for op, values, at in pending:
            key = tuple(values[k] for k in self.key)
            if op == "D":
                self.rows[key] = (values, at)
            else:
                self.rows[key] = (values, None)
        # An update is its before image's delete then its after image: count it once.
        self.changes += sum(1 for op, _, _ in pending if op != "D") + sum(
            1
            for n, (op, _, _) in enumerate(pending)
            if op == "D" and not (n + 1 < len(pending) and pending[n + 1][0] == "U")
        )
        pending.clear()

    def to_arrow(self, columns: Sequence[MysqlColumn]) -> pa.Table:
        rows = [values for values, _ in self.rows.values()]
        return to_arrow(columns, rows, [at for _, at in self.rows.values()])
