"""PostgreSQL's `pgoutput` logical replication messages (protocol version 1), decoded.

Each message is one `bytea` row of `pg_logical_slot_peek_binary_changes(..., 'proto_version',
'1', 'publication_names', ...)`. Column values arrive as PostgreSQL's text output (the `binary`
option is off), so a consumer casts them to the column's type; a value is `None` for SQL NULL
and `UNCHANGED` for a TOASTed value an UPDATE did not touch (PostgreSQL does not resend it).
See https://www.postgresql.org/docs/current/protocol-logicalrep-message-formats.html.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, TypeAlias

from resources.errors import TributaryError


class Unchanged:
    """The marker for a TOASTed value an UPDATE left unchanged (sent as `u`)."""

    _instance: Unchanged | None = None

    def __new__(cls) -> Unchanged:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNCHANGED"


UNCHANGED: Final = Unchanged()
Value: TypeAlias = str | Unchanged | None
Row: TypeAlias = tuple[Value, ...]

POSTGRES_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)

_I16 = struct.Struct("!h")
_I32 = struct.Struct("!i")
_U32 = struct.Struct("!I")
_U64 = struct.Struct("!Q")
_I64 = struct.Struct("!q")


class DecodeError(TributaryError):
    """A message that is not pgoutput protocol version 1 (or is cut short)."""


def lsn_text(lsn: int) -> str:
    """An LSN as PostgreSQL spells it (`16/B374D848`)."""
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def lsn_int(text: str) -> int:
    """An LSN spelled `16/B374D848` as a number; ValueError for anything else."""
    high, sep, low = text.partition("/")
    if not sep:
        raise ValueError(f"not an LSN: {text!r}")
    return (int(high, 16) << 32) | int(low, 16)


def _timestamp(micros: int) -> datetime:
    return POSTGRES_EPOCH + timedelta(microseconds=micros)


@dataclass(frozen=True)
class Begin:
    final_lsn: int
    committed_at: datetime
    xid: int


@dataclass(frozen=True)
class Commit:
    commit_lsn: int
    end_lsn: int
    """Where the transaction's commit record ends: advancing a slot here confirms it."""
    committed_at: datetime


@dataclass(frozen=True)
class Column:
    name: str
    type_oid: int
    type_modifier: int
    key: bool
    """Part of the replica identity (the primary key unless REPLICA IDENTITY says otherwise)."""


@dataclass(frozen=True)
class Relation:
    oid: int
    namespace: str
    name: str
    replica_identity: str
    """`d` default (primary key), `n` nothing, `f` full, `i` index."""
    columns: tuple[Column, ...]


@dataclass(frozen=True)
class Insert:
    relation: int
    new: Row


@dataclass(frozen=True)
class Update:
    relation: int
    new: Row
    old: Row | None
    """The old key (`K`) or whole old row (`O`, under REPLICA IDENTITY FULL), when sent."""


@dataclass(frozen=True)
class Delete:
    relation: int
    old: Row
    """The deleted row's key columns (others None), or the whole row under REPLICA IDENTITY
    FULL."""


@dataclass(frozen=True)
class Truncate:
    relations: tuple[int, ...]
    cascade: bool
    restart_identity: bool


@dataclass(frozen=True)
class Other:
    """A message this consumer does not act on (Origin, Type, logical decoding Message)."""

    tag: str


Message: TypeAlias = Begin | Commit | Relation | Insert | Update | Delete | Truncate | Other


def _string(data: bytes, at: int) -> tuple[str, int]:
    end = data.index(b"\0", at)
    return data[at:end].decode(), end + 1


def decode_row(data: bytes, at: int) -> tuple[Row, int]:
    """A TupleData at `at`: (the values, where it ends)."""
    (count,) = _I16.unpack_from(data, at)
    at += 2
    values: list[Value] = []
    append = values.append
    for _ in range(count):
        kind = data[at]
        at += 1
        if kind == 0x74:  # 't': text
            (size,) = _I32.unpack_from(data, at)
            at += 4
            append(data[at : at + size].decode())
            at += size
        elif kind == 0x6E:  # 'n': null
            append(None)
        elif kind == 0x75:  # 'u': unchanged TOAST
            append(UNCHANGED)
        else:
            raise DecodeError(f"pgoutput: column kind {chr(kind)!r} (binary mode is not used)")
    return tuple(values), at


def relation_of(data: bytes) -> int | None:
    """The relation a row message (Insert, Update, Delete) is about, without decoding it; None
    for every other message."""
    if data[:1] in (b"I", b"U", b"D"):
        return int(_U32.unpack_from(data, 1)[0])
    return None


def decode(data: bytes) -> Message:
    """One pgoutput message. Raises `DecodeError` for one this module does not know."""
    try:
        return _decode(data)
    except (struct.error, IndexError, ValueError, UnicodeDecodeError) as error:
        raise DecodeError(f"pgoutput: a {data[:1]!r} message is malformed ({error})") from None


def _decode(data: bytes) -> Message:
    tag = data[:1]
    if tag == b"I":
        (relation,) = _U32.unpack_from(data, 1)
        if data[5:6] != b"N":
            raise DecodeError("pgoutput: an Insert without its new row")
        row, _ = decode_row(data, 6)
        return Insert(relation, row)
    if tag == b"U":
        (relation,) = _U32.unpack_from(data, 1)
        at, old = 5, None
        if data[at : at + 1] in (b"K", b"O"):
            old, at = decode_row(data, at + 1)
        if data[at : at + 1] != b"N":
            raise DecodeError("pgoutput: an Update without its new row")
        new, _ = decode_row(data, at + 1)
        return Update(relation, new, old)
    if tag == b"D":
        (relation,) = _U32.unpack_from(data, 1)
        if data[5:6] not in (b"K", b"O"):
            raise DecodeError("pgoutput: a Delete without its old key")
        old, _ = decode_row(data, 6)
        return Delete(relation, old)
    if tag == b"B":
        final_lsn, micros = _U64.unpack_from(data, 1)[0], _I64.unpack_from(data, 9)[0]
        return Begin(final_lsn, _timestamp(micros), _U32.unpack_from(data, 17)[0])
    if tag == b"C":
        commit_lsn, end_lsn = _U64.unpack_from(data, 2)[0], _U64.unpack_from(data, 10)[0]
        return Commit(commit_lsn, end_lsn, _timestamp(_I64.unpack_from(data, 18)[0]))
    if tag == b"R":
        (oid,) = _U32.unpack_from(data, 1)
        namespace, at = _string(data, 5)
        name, at = _string(data, at)
        identity = chr(data[at])
        (count,) = _I16.unpack_from(data, at + 1)
        at += 3
        columns = []
        for _ in range(count):
            flags = data[at]
            column, at = _string(data, at + 1)
            type_oid, modifier = _U32.unpack_from(data, at)[0], _I32.unpack_from(data, at + 4)[0]
            at += 8
            columns.append(Column(column, type_oid, modifier, bool(flags & 1)))
        return Relation(oid, namespace, name, identity, tuple(columns))
    if tag == b"T":
        (count,) = _I32.unpack_from(data, 1)
        options = data[5]
        oids = tuple(_U32.unpack_from(data, 6 + 4 * n)[0] for n in range(count))
        return Truncate(oids, bool(options & 1), bool(options & 2))
    if tag in (b"O", b"Y", b"M"):
        return Other(tag.decode())
    raise DecodeError(f"pgoutput: unknown message {tag!r} (only protocol version 1 is read)")
