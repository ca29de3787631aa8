"""Reading local files with DuckDB's own readers: CSV/TSV, JSON, JSON lines, Parquet, gzip."""

from __future__ import annotations

import csv
import glob
import gzip
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
from dagster import ConfigurableResource
from pydantic import Field

from platform_assets.config.files import FileTable
from resources.duckdb_client import scratch_connection
from resources.duckdb_sql import literal, quote
from resources.file_ledger import FileVersion
from resources.warehouse_schema import SOURCE_FILE


class FileReadError(Exception):
    """A file table cannot be read: no file matches, a header is unreadable, a column is unknown."""


@dataclass(frozen=True)
class FileScan:
    """A query that reads every file of a table, and what it will read."""

    sql: str
    files: tuple[Path, ...]
    bytes: int


class FileReader(ConfigurableResource):
    """Resolves a file table's glob under `root` and plans a scan with DuckDB's own readers.

    Rows are never touched in Python: the writer runs the query, so the files stream from disk
    through DuckDB's parallel readers straight into the warehouse.
    """

    root: str = Field(description="Relative `path` globs are taken from here.")

    def scan(self, table: FileTable, files: Sequence[Path] | None = None) -> FileScan:
        """Plan a scan of the table's matching files, or of `files` (some of them) only."""
        files = self.matching_files(table) if files is None else tuple(files)
        with scratch_connection() as scratch:
            sql = _scan_sql(table, files, scratch)
        return FileScan(
            sql=self._with_relative_names(sql, files),
            files=files,
            bytes=sum(f.stat().st_size for f in files),
        )

    def _with_relative_names(self, sql: str, files: tuple[Path, ...]) -> str:
        """`sql` with each row's file named relative to `root` (where it lies under it), as an
        ENUM of the scanned files: a VARCHAR that repeats one name costs DuckDB a tenth of its
        own load time to store; an ENUM nothing."""
        prefix = self._prefix()
        names = [str(f).removeprefix(prefix) for f in files]
        column = quote(SOURCE_FILE)
        relative = (
            f"CASE WHEN starts_with({column}, {literal(prefix)}) "
            f"THEN substr({column}, {len(prefix) + 1}) ELSE {column} END"
        )
        enum = "ENUM(" + ", ".join(literal(n) for n in names) + ")"
        return f"SELECT * REPLACE (CAST({relative} AS {enum}) AS {column}) FROM ({sql})"

    def _prefix(self) -> str:
        return str(Path(self.root).resolve()) + "/"

    def versions(self, table: FileTable) -> tuple[FileVersion, ...]:
        """Each matching file as it is now (size, modification time), named as its rows'
        `_source_file` names it. Raises `FileReadError` when no file matches."""
        prefix = self._prefix()
        return tuple(
            FileVersion.of(str(f).removeprefix(prefix), f) for f in self.matching_files(table)
        )

    def matching_files(self, table: FileTable) -> tuple[Path, ...]:
        pattern = Path(table.path).expanduser()
        if not pattern.is_absolute():
            pattern = Path(self.root) / pattern
        files = tuple(
            Path(p).resolve()
            for p in sorted(glob.glob(str(pattern), recursive=True))
            if Path(p).is_file()
        )
        if not files:
            raise FileReadError(f"no file matches {table.path!r} (looked for {pattern})")
        return files


def _paths(files: Sequence[Path]) -> str:
    return "[" + ", ".join(literal(str(f)) for f in files) + "]"


def _scan_sql(table: FileTable, files: tuple[Path, ...], con: duckdb.DuckDBPyConnection) -> str:
    paths = _paths(files)
    source_file = f"filename={literal(SOURCE_FILE)}"
    fmt = table.file_format
    if fmt in ("csv", "tsv"):
        return _csv_scan(table, files, con, source_file)
    if fmt == "parquet":
        # Files read by position would take the first file's columns and types: a column added
        # later would be dropped, a wider type cast down.
        union = ", union_by_name=true" if len(files) > 1 else ""
        scan = f"read_parquet({paths}, {source_file}{union})"
    else:
        layout = "newline_delimited" if fmt == "jsonl" else "array"
        scan = f"read_json({paths}, format={literal(layout)}, {_compression(table)}, {source_file})"
    return f"SELECT {_typed_columns(table, scan, con)} FROM {scan}"


_JSON_COMPRESSION = {"auto": "auto_detect", "none": "uncompressed", "gzip": "gzip"}


def _compression(table: FileTable) -> str:
    """DuckDB's name for the table's compression (read_json spells `auto` differently)."""
    name: str = table.compression
    if table.file_format in ("json", "jsonl"):
        name = _JSON_COMPRESSION[name]
    return f"compression={literal(name)}"


def _typed_columns(table: FileTable, scan: str, con: duckdb.DuckDBPyConnection) -> str:
    """`*`, with the catalog's declared `columns` cast to their types."""
    if not table.columns:
        return "*"
    present = {row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {scan}").fetchall()}
    _require_declared_columns(table, present)
    casts = ", ".join(f"CAST({quote(c)} AS {t}) AS {quote(c)}" for c, t in table.columns.items())
    return f"* REPLACE ({casts})"


def _require_declared_columns(table: FileTable, present: set[str] | list[str]) -> None:
    unknown = [c for c in table.columns if c not in present]
    if unknown:
        raise FileReadError(
            f"columns: {', '.join(unknown)} not found in the file(s); "
            f"they have: {', '.join(present)}"
        )


def _csv_scan(
    table: FileTable, files: tuple[Path, ...], con: duckdb.DuckDBPyConnection, source_file: str
) -> str:
    """One strict `read_csv` per run of consecutive files that share a header, united by name.

    Files whose header differs (a column added to the export one day) are each read as strictly
    as the others; a column a file lacks is null in its rows, and a column's type is the widest
    its files need. Runs keep the files' order, so the latest file's rows still come last.
    """
    runs = _runs_by_header(table, files)
    _require_declared_columns(table, sorted({name for names, _ in runs for name in names}))
    return " UNION ALL BY NAME ".join(
        f"SELECT * FROM read_csv({_paths(run)}, {_csv_options(table, run, names, con)}, "
        f"{source_file})"
        for names, run in runs
    )


def _runs_by_header(
    table: FileTable, files: tuple[Path, ...]
) -> list[tuple[list[str], tuple[Path, ...]]]:
    """The files in runs of one header: (column names, files), in the files' order."""
    if not table.header:
        return [(list(table.columns), files)]
    runs: list[tuple[list[str], tuple[Path, ...]]] = []
    for path in files:
        names = _header(path, table)
        if not names:
            raise FileReadError(f"{path}: no header row (set header: false and declare columns)")
        if len(set(names)) != len(names):
            raise FileReadError(f"{path}: the header repeats a column name: {names}")
        if runs and runs[-1][0] == names:
            runs[-1] = (names, (*runs[-1][1], path))
        else:
            runs.append((names, (path,)))
    return runs


def _csv_options(
    table: FileTable, files: tuple[Path, ...], names: list[str], con: duckdb.DuckDBPyConnection
) -> str:
    """Explicit, strict read options for `files`, whose header is `names`.

    DuckDB's dialect sniffer can settle on a wrong column count for a short malformed file and
    then return no rows at all. So the dialect comes from the catalog, the column names from the
    header row, the types from a sniff under that dialect, and the read itself is strict: a row
    with too many fields or a value of the wrong type fails with its file and line.
    """
    dialect = (
        f"delim={literal(table.separator)}, quote={literal(table.quote)}, "
        f"escape={literal(table.quote)}, {_compression(table)}"
    )
    if table.null_strings:
        dialect += ", nullstr=[" + ", ".join(literal(s) for s in table.null_strings) + "]"
    types = _sniffed_types(files, names, dialect, table.header, con)
    types.update({name: kind for name, kind in table.columns.items() if name in types})
    columns = "{" + ", ".join(f"{literal(n)}: {literal(types[n])}" for n in names) + "}"
    return (
        f"{dialect}, header={str(table.header).lower()}, auto_detect=false, "
        f"columns={columns}, strict_mode=true"
    )


def _header(path: Path, table: FileTable) -> list[str]:
    gz = table.compression == "gzip" or (table.compression == "auto" and path.suffix == ".gz")
    try:
        with (
            gzip.open(path, "rb") if gz else path.open("rb") as raw,
            io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as text,
        ):
            row = next(csv.reader(text, delimiter=table.separator, quotechar=table.quote), [])
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise FileReadError(f"{path}: cannot read the header row: {error}") from None
    return [name.strip() for name in row]


def _sniffed_types(
    files: tuple[Path, ...],
    names: list[str],
    dialect: str,
    header: bool,
    con: duckdb.DuckDBPyConnection,
) -> dict[str, str]:
    """Types DuckDB detects under the fixed dialect, or VARCHAR where it cannot tell."""
    try:
        rows = con.execute(
            f"DESCRIBE SELECT * FROM read_csv({literal(str(files[0]))}, {dialect}, "
            f"header={str(header).lower()})"
        ).fetchall()
    except duckdb.Error:
        rows = []
    detected = [str(row[1]) for row in rows]
    if len(detected) != len(names):
        return dict.fromkeys(names, "VARCHAR")
    return dict(zip(names, detected, strict=True))
