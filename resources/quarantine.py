"""Record a quality verdict in the warehouse: check results, and rows set aside in quarantine."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import duckdb

if TYPE_CHECKING:
    from checks.gate import Verdict


def record_verdict(
    con: duckdb.DuckDBPyConnection,
    verdict: Verdict,
    batch: str,
    load_id: str,
    source: str,
    table: str,
) -> int:
    """Write every outcome to `_tributary.check_results` and move quarantined rows out of the
    batch table into `_tributary.quarantine` (the whole batch when it is blocked). Returns the
    number of rows quarantined."""
    now = datetime.now(UTC)
    if not verdict.outcomes:
        return 0
    con.executemany(
        "INSERT INTO _tributary.check_results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            [
                load_id,
                source,
                table,
                o.rule.name,
                o.rule.severity,
                o.passed,
                o.failures,
                o.rows,
                o.rule.description,
                json.dumps(o.samples, default=str) if o.samples else None,
                now,
            ]
            for o in verdict.outcomes
        ],
    )
    quarantine_sql = (
        "INSERT INTO _tributary.quarantine "
        "SELECT ?, ?, ?, {reasons}, to_json(b), ? FROM {batch} b {where}"
    )
    if verdict.blocked:
        reasons = [o.rule.name for o in verdict.failed_errors]
        sql = quarantine_sql.format(reasons="?::VARCHAR[]", batch=batch, where="")
        con.execute(sql, [load_id, source, table, reasons, now])
        row = con.execute(f"SELECT count(*) FROM {batch}").fetchone()
        return int(row[0]) if row else 0
    if not verdict.quarantine:
        return 0
    import pyarrow as pa  # loads only when there are rows to record

    rows = pa.table(
        {
            "row_id": pa.array(list(verdict.quarantine), pa.int64()),
            "reasons": pa.array(list(verdict.quarantine.values()), pa.list_(pa.string())),
        }
    )
    con.register("__quarantined", rows)
    try:
        # A row already in quarantine (the same data, by its row hash) is not added again: a
        # re-run that fetches the same bad record sets it aside without another copy.
        sql = quarantine_sql.format(
            reasons="q.reasons",
            batch=f"{batch}",
            where="JOIN __quarantined q ON b.rowid = q.row_id WHERE NOT EXISTS (SELECT 1 FROM "
            "_tributary.quarantine k WHERE k.source = ? AND k.table_name = ? "
            "AND (k.record->>'_row_hash') = b._row_hash::VARCHAR)",
        )
        con.execute(sql, [load_id, source, table, now, source, table])
        con.execute(f"DELETE FROM {batch} WHERE rowid IN (SELECT row_id FROM __quarantined)")
    finally:
        con.unregister("__quarantined")
    return int(rows.num_rows)


def quarantine_where(
    con: duckdb.DuckDBPyConnection,
    batch: str,
    where: str,
    reasons: list[str],
    load_id: str,
    source: str,
    table: str,
) -> int:
    """Move the rows of `batch` that match `where` (SQL over alias `b`) to quarantine with
    `reasons`. Returns how many moved."""
    con.execute(
        "INSERT INTO _tributary.quarantine "
        f"SELECT ?, ?, ?, ?::VARCHAR[], to_json(b), ? FROM {batch} b WHERE {where}",
        [load_id, source, table, reasons, datetime.now(UTC)],
    )
    moved = con.execute(f"DELETE FROM {batch} b WHERE {where}").fetchone()
    return int(moved[0]) if moved else 0


def forget_files(
    con: duckdb.DuckDBPyConnection, source: str, table: str, files: list[str] | None
) -> None:
    """Remove quarantined rows read from `files` (every file when None): a file read again has
    its rows judged again, so its bad rows are quarantined once, not once per read."""
    if files is not None and not files:
        return
    where = "" if files is None else " AND (record->>'_source_file') IN (SELECT unnest(?))"
    con.execute(
        f"DELETE FROM _tributary.quarantine WHERE source = ? AND table_name = ?{where}",
        [source, table] if files is None else [source, table, files],
    )


@dataclass(frozen=True)
class DeadLetter:
    """A message that could not become a row: the broker's `message_id`, why (`reason`), and
    the `payload` as it arrived."""

    message_id: str
    reason: str
    payload: bytes | None


def record_dead_letters(
    con: duckdb.DuckDBPyConnection,
    letters: list[DeadLetter],
    load_id: str,
    source: str,
    table: str,
) -> int:
    """Add `letters` to `_tributary.dead_letters`, except messages already there (a message
    delivered again after a crash is recorded once). Returns how many were given."""
    if not letters:
        return 0
    import pyarrow as pa  # loads only when there are rows to record

    rows = pa.table(
        {
            "message_id": pa.array([d.message_id for d in letters], pa.string()),
            "reason": pa.array([d.reason for d in letters], pa.string()),
            "payload": pa.array([d.payload for d in letters], pa.binary()),
        }
    )
    con.register("__dead_letters", rows)
    try:
        con.execute(
            "INSERT INTO _tributary.dead_letters SELECT ?, ?, ?, d.message_id, d.reason,"
            " d.payload, ? FROM __dead_letters d WHERE NOT EXISTS (SELECT 1 FROM"
            " _tributary.dead_letters k WHERE k.source = ? AND k.table_name = ?"
            " AND k.message_id = d.message_id)",
            [load_id, source, table, datetime.now(UTC), source, table],
        )
    finally:
        con.unregister("__dead_letters")
    return len(letters)


def dead_letter_quarantined(
    con: duckdb.DuckDBPyConnection, load_id: str, source: str, table: str, id_column: str
) -> None:
    """Dead-letter the rows this load set aside in quarantine, each by the message id in its
    `id_column`, with the checks it failed as the reason and the row as JSON as payload."""
    con.execute(
        "INSERT INTO _tributary.dead_letters SELECT q.load_id, q.source, q.table_name,"
        " q.record->>?, 'failed checks: ' || array_to_string(q.reasons, ', '),"
        " encode(json_merge_patch(q.record, ?)::VARCHAR), q.quarantined_at"
        " FROM _tributary.quarantine q WHERE q.load_id = ? AND NOT EXISTS"
        " (SELECT 1 FROM _tributary.dead_letters k WHERE k.source = q.source"
        " AND k.table_name = q.table_name AND k.message_id = q.record->>?)",
        [id_column, _NO_LINEAGE, load_id, id_column],
    )


# A JSON merge patch removing the lineage columns the writer added to a quarantined row.
_NO_LINEAGE = json.dumps(dict.fromkeys(("_load_id", "_loaded_at", "_source", "_row_hash")))
