"""PostgreSQL change data capture on the ground floor: replication slots, exported snapshots,
pgoutput changes folded into one row per key, and PostgreSQL types cast exactly into DuckDB's.

Plain arguments only (a connection URL, slot and publication names, a table's schema and name);
the `kind: sql` wiring decides when to snapshot, stream and advance. The order that makes it
safe is the caller's: peek changes, commit them with their LSN to the warehouse, and only then
`advance` the slot.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pyarrow as pa
from psycopg import sql

from resources.duckdb_sql import quote
from resources.errors import TributaryError
from resources.pgoutput import (
    UNCHANGED,
    Begin,
    Commit,
    Delete,
    Insert,
    Relation,
    Truncate,
    Update,
    Value,
    decode,
    lsn_int,
    lsn_text,
)
from resources.warehouse_schema import DELETED_AT


class CdcError(TributaryError):
    """Change data capture cannot go on as configured (a lost slot, a type it cannot map...)."""


class SlotLostError(CdcError):
    """The replication slot a table streams from is gone or invalidated: changes were lost."""


_SCALARS = {
    "smallint": "SMALLINT",
    "integer": "INTEGER",
    "bigint": "BIGINT",
    "real": "FLOAT",
    "double precision": "DOUBLE",
    "boolean": "BOOLEAN",
    "text": "VARCHAR",
    "name": "VARCHAR",
    "citext": "VARCHAR",
    "date": "DATE",
    "time without time zone": "TIME",
    "timestamp without time zone": "TIMESTAMP",
    "timestamp with time zone": "TIMESTAMPTZ",
    "interval": "INTERVAL",
    "uuid": "UUID",
    "json": "JSON",
    "jsonb": "JSON",
    "bytea": "BLOB",
    "money": None,
}
_ARRAY_ELEMENTS = frozenset(
    ("SMALLINT", "INTEGER", "BIGINT", "FLOAT", "DOUBLE", "BOOLEAN", "DATE", "UUID")
)
_PRECISION = re.compile(r"\(\d+\)")
_NUMERIC = re.compile(r"numeric\((\d+),(\d+)\)")


def duckdb_type(pg_type: str, enum: bool = False) -> str | None:
    """The DuckDB type that holds every value of a PostgreSQL column exactly, from its
    `format_type` text (`numeric(12,2)` → `DECIMAL(12,2)`, `timestamp(3) with time zone` →
    `TIMESTAMPTZ`, `integer[]` → `INTEGER[]`); an enum (`enum=True`) is VARCHAR. None when
    there is none (unconstrained `numeric`, `money`, arrays of text...)."""
    if enum:
        return "VARCHAR"
    if pg_type.endswith("[]"):
        element = duckdb_type(pg_type[:-2])
        return f"{element}[]" if element in _ARRAY_ELEMENTS else None
    if pg_type.startswith(("character varying", "character", "bit varying")):
        return "VARCHAR" if not pg_type.startswith("bit") else None
    if match := _NUMERIC.fullmatch(pg_type):
        precision, scale = int(match[1]), int(match[2])
        return f"DECIMAL({precision},{scale})" if precision <= 38 else None
    return _SCALARS.get(_PRECISION.sub("", pg_type))


def cast_sql(column: str, duck_type: str, alias: str | None = None) -> str:
    """SQL turning a column of PostgreSQL text output into `duck_type`, exactly, named
    `alias` (default: the column's own name)."""
    name, label = quote(column), quote(alias or column)
    if duck_type == "BLOB":
        return f"from_hex(substr({name}, 3)) AS {label}"  # bytea's text form is \x0a1b...
    if duck_type.endswith("[]"):  # {1,2} → [1,2]
        inner = f"'[' || substr({name}, 2, length({name}) - 2) || ']'"
        return f"CAST({inner} AS {duck_type}) AS {label}"
    return f"CAST({name} AS {duck_type}) AS {label}"


@dataclass(frozen=True)
class SourceColumn:
    name: str
    pg_type: str
    duck_type: str


def table_columns(
    con: psycopg.Connection, schema: str, table: str, what: str
) -> list[SourceColumn]:
    """The table's columns with their DuckDB types. Raises `CdcError` naming `what` (source and
    table) and the column when a type has no exact DuckDB type, or when the table is missing."""
    rows = con.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod), t.typtype = 'e' "
        "FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
        "WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped "
        "ORDER BY a.attnum",
        [sql.Identifier(schema, table).as_string(con)],
    ).fetchall()
    if not rows:
        raise CdcError(f"{what}: table {schema}.{table} does not exist")
    return [_column(name, pg_type, bool(enum), what) for name, pg_type, enum in rows]


def _column(name: str, pg_type: str, enum: bool, what: str) -> SourceColumn:
    duck = duckdb_type(pg_type, enum)
    if duck is None:
        raise CdcError(
            f"{what}, column {name}: PostgreSQL type {pg_type} has no exact DuckDB type "
            "(cast it in a view, or give numeric a precision)"
        )
    return SourceColumn(name, pg_type, duck)


@dataclass(frozen=True)
class SlotState:
    """A replication slot as `pg_replication_slots` shows it."""

    name: str
    confirmed_lsn: int | None
    wal_status: str | None
    """`reserved`, `extended`, `unreserved` or `lost` (past `max_slot_wal_keep_size`)."""
    lag_bytes: int
    """WAL written since the slot's confirmed position: what it holds back on the server."""
    plugin: str | None

    @property
    def lost(self) -> bool:
        return self.wal_status == "lost" or self.confirmed_lsn is None


def slot_state(con: psycopg.Connection, slot: str) -> SlotState | None:
    """The slot's state, or None when there is no such slot."""
    row = con.execute(
        "SELECT confirmed_flush_lsn::text, wal_status, "
        "COALESCE(pg_current_wal_lsn() - confirmed_flush_lsn, 0)::bigint, plugin "
        "FROM pg_replication_slots WHERE slot_name = %s",
        [slot],
    ).fetchone()
    if row is None:
        return None
    confirmed = lsn_int(row[0]) if row[0] else None
    return SlotState(slot, confirmed, row[1], int(row[2]), row[3])


def ensure_publication(
    con: psycopg.Connection, publication: str, tables: Sequence[tuple[str, str]]
) -> None:
    """Create `publication` for `tables` ((schema, name) pairs), or add those it lacks."""
    listed = con.execute(
        "SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = %s",
        [publication],
    ).fetchall()
    exists = con.execute(
        "SELECT count(*) FROM pg_publication WHERE pubname = %s", [publication]
    ).fetchone()
    names = [sql.Identifier(schema, name) for schema, name in tables]
    if not exists or not exists[0]:
        con.execute(
            sql.SQL("CREATE PUBLICATION {} FOR TABLE {}").format(
                sql.Identifier(publication), sql.SQL(", ").join(names)
            )
        )
        return
    have = {(str(s), str(n)) for s, n in listed}
    missing = [sql.Identifier(*t) for t in tables if t not in have]
    if missing:
        con.execute(
            sql.SQL("ALTER PUBLICATION {} ADD TABLE {}").format(
                sql.Identifier(publication), sql.SQL(", ").join(missing)
            )
        )


def drop_slot(con: psycopg.Connection, slot: str) -> None:
    """Drop the slot if it exists (it releases the WAL it held)."""
    con.execute(
        "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s",
        [slot],
    )


@dataclass(frozen=True)
class NewSlot:
    consistent_lsn: int
    """The slot streams every transaction that commits after this point."""
    snapshot: str
    """An exported snapshot that sees exactly the transactions committed before it; usable
    (`SET TRANSACTION SNAPSHOT`) while the `create_slot` block is open."""


@contextlib.contextmanager
def create_slot(url: str, slot: str) -> Iterator[NewSlot]:
    """Create a `pgoutput` logical replication slot and export the snapshot at its consistent
    point. Read the initial rows in that snapshot inside the block; the slot stays after it.
    Raises psycopg's error when the slot exists or the server's `wal_level` is not logical."""
    with psycopg.connect(url, replication="database", autocommit=True) as replication:
        row = replication.execute(
            sql.SQL("CREATE_REPLICATION_SLOT {} LOGICAL pgoutput (SNAPSHOT 'export')").format(
                sql.Identifier(slot)
            )
        ).fetchone()
        assert row is not None
        yield NewSlot(lsn_int(str(row[1])), str(row[2]))


def copy_snapshot(
    con: psycopg.Connection,
    snapshot: str,
    schema: str,
    table: str,
    columns: Sequence[SourceColumn],
    path: Path,
) -> int:
    """Write the table's rows as the exported `snapshot` sees them to `path`, as CSV of
    PostgreSQL's text output (every value quoted, NULL unquoted and empty: see `read_csv_sql`).
    Returns the bytes written. `con` must be outside a transaction."""
    written = 0
    con.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    try:
        con.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)))
        select = sql.SQL("COPY (SELECT {} FROM {}) TO STDOUT (FORMAT csv, FORCE_QUOTE *)").format(
            sql.SQL(", ").join(sql.Identifier(c.name) for c in columns),
            sql.Identifier(schema, table),
        )
        with con.cursor().copy(select) as copy, path.open("wb") as out:
            for block in copy:
                out.write(block)
                written += len(block)
    finally:
        con.execute("COMMIT")
    return written


def read_csv_sql(
    path: Path, columns: Sequence[SourceColumn], aliases: dict[str, str] | None = None
) -> str:
    """A DuckDB query over the file `copy_snapshot` wrote, each column in its DuckDB type (and
    renamed as `aliases` says)."""
    names = ", ".join(f"{_sql_text(c.name)}: 'VARCHAR'" for c in columns)
    scan = (
        f"read_csv({_sql_text(str(path))}, header = false, quote = '\"', escape = '\"', "
        f"allow_quoted_nulls = false, columns = {{{names}}}, auto_detect = false)"
    )
    aliases = aliases or {}
    casts = ", ".join(cast_sql(c.name, c.duck_type, aliases.get(c.name)) for c in columns)
    return f"SELECT {casts} FROM {scan}"


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def primary_key(con: psycopg.Connection, schema: str, table: str) -> tuple[str, ...]:
    """The table's primary key columns, in key order (none when it has no primary key)."""
    rows = con.execute(
        "SELECT a.attname FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY "
        "AS k(attnum, n) JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
        "WHERE i.indrelid = to_regclass(%s) AND i.indisprimary ORDER BY k.n",
        [sql.Identifier(schema, table).as_string(con)],
    ).fetchall()
    return tuple(str(r[0]) for r in rows)


def typed_columns(
    con: psycopg.Connection, types: dict[str, tuple[int, int]], what: str
) -> list[SourceColumn]:
    """Columns described by (type oid, modifier), as a Relation message gives them, with their
    DuckDB types. Raises `CdcError` as `table_columns` does."""
    found = []
    for name, (oid, modifier) in types.items():
        row = con.execute(
            "SELECT format_type(%s, %s), typtype = 'e' FROM pg_type WHERE oid = %s",
            [oid, modifier, oid],
        ).fetchone()
        assert row is not None
        found.append(_column(name, str(row[0]), bool(row[1]), what))
    return found


def current_lsn(con: psycopg.Connection) -> int:
    """The server's WAL flush position now."""
    row = con.execute("SELECT pg_current_wal_flush_lsn()::text").fetchone()
    assert row is not None
    return lsn_int(str(row[0]))


def peek(
    con: psycopg.Connection, slot: str, publication: str, max_changes: int | None
) -> list[bytes]:
    """The slot's changes from its confirmed position, without consuming them: whole
    transactions, stopping after the one that passes `max_changes` messages (None: all there
    are). Each item is one pgoutput message."""
    cursor = con.cursor(binary=True)
    cursor.execute(
        "SELECT data FROM pg_logical_slot_peek_binary_changes(%s, NULL, %s, "
        "'proto_version', '1', 'publication_names', %s)",
        [slot, max_changes, publication],
    )
    return [bytes(row[0]) for row in cursor.fetchall()]


def advance(con: psycopg.Connection, slot: str, lsn: int) -> None:
    """Confirm everything up to `lsn`: the server may drop the WAL before it."""
    con.execute("SELECT pg_replication_slot_advance(%s, %s::pg_lsn)", [slot, lsn_text(lsn)])


SEQ, OP, AT = "__seq", "__op", "__at"
"""Columns of a change table beside the table's own: each change's position in the slot's
stream, its kind (`I`, `U`, `D`) and its transaction's commit time."""

_I, _U, _D, _N, _K, _O = (ord(c) for c in "IUDNKO")
_TEXT, _NULL = ord("t"), ord("n")


def _be(buf: np.ndarray, at: np.ndarray, size: int) -> np.ndarray:
    """Big-endian unsigned integers of `size` (2 or 4) bytes at each offset `at` of `buf`."""
    if not len(at):
        return np.zeros(0, dtype=np.int64)
    gathered = np.ascontiguousarray(buf[at[:, None] + np.arange(size)])
    return gathered.view(">u2" if size == 2 else ">u4").ravel().astype(np.int64)


def _text_columns(
    buf: np.ndarray, starts: np.ndarray, names: Sequence[str]
) -> dict[str, pa.Array] | None:
    """The TupleData at each offset of `starts`, column by column, as Arrow text. Every row is
    walked at once, one column at a time, to find where each value lies; then one pass over the
    buffer keeps the bytes of every value, in row order, and each column takes its own. None
    when a value is an unchanged TOASTed one (`u`) or binary, which the row-by-row path takes."""
    count, width = len(starts), len(names)
    if count and not np.all(_be(buf, starts, 2) == width):
        return None
    sizes = np.zeros((count, width), dtype=np.int64)
    valid = np.zeros((count, width), dtype=bool)
    begins = np.zeros((count, width), dtype=np.int64)
    at = starts + 2
    for n in range(width):
        kind = buf[at]
        text = kind == _TEXT
        if not np.all(text | (kind == _NULL)):
            return None
        size = np.where(text, _be(buf, at + 1, 4), 0)
        sizes[:, n], valid[:, n], begins[:, n] = size, text, at + 5
        at = at + 1 + np.where(text, 4 + size, 0)
    # Mark each value's bytes (+1 where one begins, -1 where it ends) and keep them in order.
    marks = np.zeros(len(buf) + 1, dtype=np.int8)
    taken = valid & (sizes > 0)
    marks[begins[taken]] += 1
    marks[begins[taken] + sizes[taken]] -= 1
    data = buf[np.cumsum(marks[:-1], dtype=np.int8).view(bool)]
    offsets = np.zeros(count * width + 1, dtype=np.int64)
    np.cumsum(sizes.ravel(), out=offsets[1:])
    every = pa.Array.from_buffers(
        pa.large_string(),
        count * width,
        [
            pa.py_buffer(np.packbits(valid.ravel(), bitorder="little").tobytes()),
            pa.py_buffer(offsets.tobytes()),
            pa.py_buffer(data.tobytes()),
        ],
    )
    return {
        name: every.take(pa.array(np.arange(n, count * width, width, dtype=np.int64)))
        for n, name in enumerate(names)
    }


@dataclass
class _Shape:
    """One version of the table's columns, as a Relation message described it."""

    oid: int
    names: tuple[str, ...]
    key: tuple[int, ...]
    """Positions of the replica identity's columns."""
    full: bool = False
    """REPLICA IDENTITY FULL: updates carry the whole old row."""


@dataclass
class TableChanges:
    """One table's changes from a batch of pgoutput messages (in the slot's order), as a table
    of changes (`to_arrow`) that `fold_sql` reduces to each key's final state.

    Transactions that end before `applied_to` are left out (a replay after a crash between the
    warehouse commit and the slot advance), as is every change before a truncate of the table,
    which is kept as `truncated_at`. Raises `CdcError` (naming `what`) on an update or delete
    of a table without a replica identity, and on an unchanged TOASTed value the batch never
    saw in full.
    """

    schema: str
    table: str
    what: str
    applied_to: int = 0
    """The end of the last transaction already applied."""
    primary_key: tuple[str, ...] = ()
    """The table's primary key columns (see `primary_key`); without them, the columns the
    Relation message flags as the replica identity."""
    types: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Column name → (type oid, modifier) of every column seen, in order (see
    `typed_columns`)."""
    key: tuple[str, ...] = ()
    truncated_at: datetime | None = None
    changes: int = 0
    """Row changes of this table read (inserts, updates, deletes)."""
    end_lsn: int | None = None
    """The end of the last whole transaction read (of any table)."""
    _parts: list[pa.Table] = field(default_factory=list)

    def feed(self, messages: Sequence[bytes]) -> None:
        """Read a batch of messages, in the order the slot gave them."""
        count = len(messages)
        if not count:
            return
        buf = np.frombuffer(b"".join(messages), dtype=np.uint8)
        sizes = np.fromiter(map(len, messages), dtype=np.int64, count=count)
        starts = np.zeros(count, dtype=np.int64)
        np.cumsum(sizes[:-1], out=starts[1:])
        tags = buf[starts]
        is_row = (tags == _I) | (tags == _U) | (tags == _D)
        control = np.flatnonzero(~is_row)
        # Control messages are few (two per transaction): read one by one.
        txn_skip: list[bool] = []
        txn_at: list[datetime] = []
        shapes: list[tuple[int, _Shape]] = []
        truncated: int = -1
        for index in control.tolist():
            message = decode(messages[index])
            if isinstance(message, Begin):
                txn_skip.append(message.final_lsn < self.applied_to)
                txn_at.append(message.committed_at.replace(tzinfo=None))  # UTC
            elif isinstance(message, Commit):
                self.end_lsn = message.end_lsn
            elif isinstance(message, Relation):
                if (message.namespace, message.name) == (self.schema, self.table):
                    shapes.append((index, self._describe(message)))
            elif (
                isinstance(message, Truncate)
                and not txn_skip[-1]
                and any(shape.oid in message.relations for _, shape in shapes)
            ):
                truncated, self.truncated_at = index, txn_at[-1]
        if not shapes:
            return
        rows = np.flatnonzero(is_row)
        txn = (np.cumsum(tags == ord("B")) - 1)[rows]
        skip = np.asarray(txn_skip, dtype=bool)[txn] if txn_skip else np.zeros(0, dtype=bool)
        oids = _be(buf, starts[rows] + 1, 4)
        version = np.searchsorted(np.asarray([i for i, _ in shapes]), rows) - 1
        at = np.asarray(txn_at, dtype="datetime64[us]")[txn] if txn_at else None
        for number, (_, shape) in enumerate(shapes):
            mine = (version == number) & (oids == shape.oid) & ~skip & (rows > truncated)
            if not mine.any():
                continue
            if not shape.key:
                raise CdcError(
                    f"{self.what} has no primary key or replica identity, so its updates and "
                    "deletes cannot be applied by key"
                )
            assert at is not None
            self._read(messages, buf, starts, tags, rows[mine], at[mine], shape)

    def _describe(self, relation: Relation) -> _Shape:
        names = tuple(c.name for c in relation.columns)
        if self.primary_key:  # under REPLICA IDENTITY FULL every column is flagged as key
            key = tuple(n for n, name in enumerate(names) if name in self.primary_key)
        else:
            key = tuple(n for n, c in enumerate(relation.columns) if c.key)
        for column in relation.columns:
            self.types[column.name] = (column.type_oid, column.type_modifier)
        self.key = tuple(names[i] for i in key)
        return _Shape(relation.oid, names, key, relation.replica_identity == "f")

    def _read(
        self,
        messages: Sequence[bytes],
        buf: np.ndarray,
        starts: np.ndarray,
        tags: np.ndarray,
        rows: np.ndarray,
        at: np.ndarray,
        shape: _Shape,
    ) -> None:
        """The changes at `rows` (message indexes) of one table version, walked together
        where their new row (or old key) starts at the same place, one by one otherwise."""
        self.changes += len(rows)
        kinds = tags[rows]
        # Insert, Update without an old row, Delete: the tuple starts after tag, oid and marker.
        plain = (kinds != _U) | (buf[starts[rows] + 5] == _N)
        fast = rows[plain]
        columns = _text_columns(buf, starts[fast] + 6, shape.names)
        if columns is None:
            plain[:] = False
            fast = rows[:0]
        else:
            columns[SEQ] = pa.array(fast, pa.int64())
            columns[OP] = pa.array(tags[fast], pa.uint8())
            columns[AT] = pa.array(at[plain], pa.timestamp("us"))
            self._parts.append(pa.table(columns))
        slow = rows[~plain]
        if len(slow):
            self._parts.append(self._one_by_one(messages, slow, at[~plain], shape))

    def _one_by_one(
        self, messages: Sequence[bytes], rows: np.ndarray, at: np.ndarray, shape: _Shape
    ) -> pa.Table:
        """Changes the column-wise walk cannot take: updates carrying their old key (the key
        changed: the old one is deleted) or old row, and unchanged TOASTed values (taken from
        the key's latest full row earlier in this batch)."""
        data: dict[str, list[Value]] = {name: [] for name in shape.names}
        seqs: list[int] = []
        ops: list[int] = []
        times: list[Any] = []
        latest: dict[tuple[Value, ...], dict[str, Value]] = {}
        for index, moment in zip(rows.tolist(), at.tolist(), strict=True):
            message = decode(messages[index])
            assert isinstance(message, Insert | Update | Delete)
            if isinstance(message, Delete):
                entries = [(_D, message.old)]
            elif isinstance(message, Update) and message.old is not None:
                old_key = tuple(message.old[i] for i in shape.key)
                moved = old_key != tuple(message.new[i] for i in shape.key)
                entries = [(_D, message.old)] if moved else []
                entries.append((_U, message.new))
            else:
                entries = [(_I if isinstance(message, Insert) else _U, message.new)]
            if shape.full and isinstance(message, Update) and message.old is not None:
                # The old row holds the values an update left unchanged and did not resend.
                old_values = dict(zip(shape.names, message.old, strict=True))
                latest.setdefault(tuple(message.old[i] for i in shape.key), old_values)
            for op, row in entries:
                values = dict(zip(shape.names, row, strict=True))
                key = tuple(row[i] for i in shape.key)
                if op == _D:
                    values = {n: (v if n in self.key else None) for n, v in values.items()}
                for name, value in values.items():
                    if value is UNCHANGED:
                        earlier = latest.get(key, {}).get(name, UNCHANGED)
                        if earlier is UNCHANGED:
                            raise CdcError(
                                f"{self.what}, column {name}: an update left this TOASTed "
                                "value unchanged and did not send it; set REPLICA IDENTITY "
                                f"FULL on {self.schema}.{self.table} (then --full-refresh)"
                            )
                        values[name] = earlier
                latest[key] = values
                for name in shape.names:
                    data[name].append(values[name])
                seqs.append(index)
                ops.append(op)
                times.append(moment)
        table = {name: pa.array(column, pa.large_string()) for name, column in data.items()}
        table[SEQ] = pa.array(seqs, pa.int64())
        table[OP] = pa.array(ops, pa.uint8())
        table[AT] = pa.array(times, pa.timestamp("us"))
        return pa.table(table)

    def to_arrow(self) -> pa.Table | None:
        """Every change read: the row's columns as PostgreSQL's text output (a delete carries
        its key), its position (`__seq`), kind (`__op`: the tag's byte) and commit time
        (`__at`, UTC). None when there is none."""
        if not self._parts:
            return None
        return pa.concat_tables(self._parts, promote_options="default")

    def fold_sql(self, relation: str, casts: str) -> str:
        """SQL over the change table `relation` (see `to_arrow`): each key's last change, its
        columns as `casts` (SQL over the text columns) and `_deleted_at` set on a delete."""
        key = ", ".join(quote(k) for k in self.key)
        return (
            f"SELECT {casts}, CASE WHEN {OP} = {_D} THEN timezone('UTC', {AT}) END "
            f"AS {quote(DELETED_AT)} FROM {relation} "
            f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY {SEQ} DESC) = 1"
        )
