"""Reading local files with DuckDB's own readers: CSV/TSV, JSON, JSON lines, Parquet, gzip."""

from __future__ import annotations

import csv
import glob
import gzip
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Protocol

import duckdb
from dagster import ConfigurableResource
from pydantic import Field

from resources.duckdb_client import scratch_connection
from resources.duckdb_sql import literal, quote
from resources.errors import TributaryError
from resources.file_ledger import FileVersion
from resources.naming import ColumnNameError, ColumnNaming, renames
from resources.type_lattice import (
    INTEGER_TYPES,
    NULL,
    VARCHAR,
    canonical,
    integer_type_for,
    is_null_type,
    join,
    survives_sql,
    value_join,
)
from resources.warehouse_schema import SOURCE_FILE


class FileTable(Protocol):
    """What the files reader reads of a table's settings (the catalog's files table fits):
    `path` a glob; `file_format` csv, tsv, json, jsonl or parquet; `compression` auto, gzip or
    none; the CSV dialect (`separator`, `quote`, `header`, `null_strings`); `columns`
    `{name: DuckDB type}` declared; `column_names` snake_case or keep."""

    @property
    def path(self) -> str: ...
    @property
    def file_format(self) -> str: ...
    @property
    def compression(self) -> str: ...
    @property
    def separator(self) -> str: ...
    @property
    def quote(self) -> str: ...
    @property
    def header(self) -> bool: ...
    @property
    def null_strings(self) -> Sequence[str]: ...
    @property
    def columns(self) -> Mapping[str, str]: ...
    @property
    def column_names(self) -> ColumnNaming: ...


class FileReadError(TributaryError):
    """A file table cannot be read: no file matches, a header is unreadable, a column is unknown."""


@dataclass(frozen=True)
class FileScan:
    """A query that reads every file of a table, and what it will read."""

    sql: str
    files: tuple[Path, ...]
    bytes: int
    source_names: dict[str, str] = field(default_factory=dict)
    """`{column: name in the files}` for each column that `column_names` renamed."""


class FileReader(ConfigurableResource):
    """Resolves a file table's glob under `root` and plans a scan with DuckDB's own readers.

    Rows are never touched in Python: the writer runs the query, so the files stream from disk
    through DuckDB's parallel readers straight into the warehouse.
    """

    root: str = Field(description="Relative `path` globs are taken from here.")

    def scan(
        self,
        table: FileTable,
        files: Sequence[Path] | None = None,
        stored: Mapping[str, str] | None = None,
    ) -> FileScan:
        """Plan the read of the table's matching files, or of `files` (some of them) only.
        `stored` (column → type) are the types of the table as stored, to read CSV columns in
        (under `schema_policy: freeze`): a value that does not fit then fails naming its file,
        line and column."""
        files = self.matching_files(table) if files is None else tuple(files)
        source_names: dict[str, str] = {}
        with scratch_connection() as scratch:
            sql = _scan_sql(table, files, scratch, stored or {}, source_names)
        return FileScan(
            sql=self._with_relative_names(sql, files),
            files=files,
            bytes=sum(f.stat().st_size for f in files),
            source_names=source_names,
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


def _scan_sql(
    table: FileTable,
    files: tuple[Path, ...],
    con: duckdb.DuckDBPyConnection,
    stored: Mapping[str, str],
    source_names: dict[str, str],
) -> str:
    """The query reading `files`, its columns named as `column_names` lands them; each column
    it renames is added to `source_names`."""
    source_file = f"filename={literal(SOURCE_FILE)}"
    if table.file_format in ("csv", "tsv"):
        return _csv_scan(table, files, con, source_file, stored, source_names)
    scan = _renamed_scan(table, _by_name_scan(table, files, con, source_file), con, source_names)
    return f"SELECT {_typed_columns(table, scan, con)} FROM {scan}"


def _renamed_scan(
    table: FileTable, scan: str, con: duckdb.DuckDBPyConnection, source_names: dict[str, str]
) -> str:
    """`scan` (a table function) with its columns renamed by `column_names`, e.g.
    `(SELECT * RENAME ("Body Mass (g)" AS "body_mass_g") FROM read_parquet(...))`."""
    if table.column_names == "keep":
        return scan  # nothing to rename: spare DuckDB the sampling pass that names the columns
    names = [str(row[0]) for row in con.execute(f"DESCRIBE SELECT * FROM {scan}").fetchall()]
    renamed = _landing_names(table.path, [n for n in names if n != SOURCE_FILE], table)
    if not renamed:
        return scan
    source_names.update({new: old for old, new in renamed.items()})
    pairs = ", ".join(f"{quote(old)} AS {quote(new)}" for old, new in renamed.items())
    return f"(SELECT * RENAME ({pairs}) FROM {scan})"


def _landing_names(where: str | Path, names: list[str], table: FileTable) -> dict[str, str]:
    """`{name in the file: column}` for the names `column_names` changes. Raises FileReadError
    naming `where` when two names land as one column."""
    try:
        return renames(names, table.column_names)
    except ColumnNameError as error:
        raise FileReadError(f"{where}: {error}") from None


def _reader(table: FileTable, files: Sequence[Path], source_file: str) -> str:
    """DuckDB's reader over `files`, matching columns by name across them: read by position,
    Parquet would take the first file's columns and types, and JSON the keys of the first files
    it samples (a key only a later file has fails the read: "unknown key")."""
    paths = _paths(files)
    union = ", union_by_name=true" if len(files) > 1 else ""
    if table.file_format == "parquet":
        return f"read_parquet({paths}, {source_file}{union})"
    layout = "newline_delimited" if table.file_format == "jsonl" else "array"
    return (
        f"read_json({paths}, format={literal(layout)}, {_compression(table)}, {source_file}{union})"
    )


def _by_name_scan(
    table: FileTable, files: tuple[Path, ...], con: duckdb.DuckDBPyConnection, source_file: str
) -> str:
    """Parquet or JSON files read by column name, each column in the type-lattice join of its
    files' types. DuckDB's own union of files would make BIGINT and DOUBLE a DOUBLE, rounding
    integers beyond 2^53; so runs of files that agree are each read on their own and cast to
    the joined types before they are united."""
    if len(files) == 1:
        return _reader(table, files, source_file)
    runs: list[tuple[dict[str, str], tuple[Path, ...]]] = []
    for path in files:
        types = _described(con, _reader(table, (path,), source_file))
        if runs and runs[-1][0] == types:
            runs[-1] = (types, (*runs[-1][1], path))
        else:
            runs.append((types, (path,)))
    if len(runs) == 1:
        return _reader(table, files, source_file)
    joined: dict[str, str] = {}
    for types, _ in runs:
        for name, kind in types.items():
            joined[name] = join(joined[name], kind) if name in joined else kind
    for name, kind in joined.items():
        candidate = _value_join([types[name] for types, _ in runs if name in types])
        if kind == VARCHAR and candidate is not None:
            fits = all(
                _all_survive(con, _reader(table, run, source_file), name, types[name], candidate)
                for types, run in runs
                if name in types
            )
            joined[name] = candidate if fits else VARCHAR
    selects = []
    for types, run in runs:
        casts = ", ".join(
            f"CAST({quote(name)} AS {joined[name]}) AS {quote(name)}"
            for name, kind in types.items()
            if kind != joined[name] and name != SOURCE_FILE
        )
        columns = f"* REPLACE ({casts})" if casts else "*"
        selects.append(f"SELECT {columns} FROM {_reader(table, run, source_file)}")
    return "(" + " UNION ALL BY NAME ".join(selects) + ")"


def _described(con: duckdb.DuckDBPyConnection, relation: str) -> dict[str, str]:
    return {
        str(name): str(kind)
        for name, kind, *_ in con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
    }


def _all_survive(
    con: duckdb.DuckDBPyConnection, relation: str, column: str, kind: str, target: str
) -> bool:
    found = con.execute(
        f"SELECT bool_and({survives_sql(quote(column), kind, target)}) FROM {relation}"
    ).fetchone()
    return found is None or found[0] is not False


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
    table: FileTable,
    files: tuple[Path, ...],
    con: duckdb.DuckDBPyConnection,
    source_file: str,
    stored: Mapping[str, str],
    source_names: dict[str, str],
) -> str:
    """One strict `read_csv` per run of consecutive files that share a header, united by name.

    Files whose header differs (a column added to the export one day) are each read as strictly
    as the others; a column a file lacks is null in its rows. Each file is sniffed on its own and
    a column's type is the join (see `resources.type_lattice`) of its files' types, so a value
    of a later file is never forced into a type guessed from an earlier one. Runs keep the files'
    order, so the latest file's rows still come last.
    """
    runs = _runs_by_header(table, files, source_names)
    _require_declared_columns(table, sorted({name for names, _ in runs for name in names}))
    dialect = _csv_dialect(table)
    types, per_file = _csv_types(table, runs, dialect, con)
    types.update(table.columns)
    for path, sniffed in per_file if stored else ():
        _require_stored_fit(con, path, sniffed, stored, dialect)
    types.update({name: kind for name, kind in stored.items() if name in types})
    return " UNION ALL BY NAME ".join(
        f"SELECT * FROM read_csv({_paths(run)}, {_csv_options(table, names, dialect, types)}, "
        f"{source_file})"
        for names, run in runs
    )


def _csv_types(
    table: FileTable,
    runs: list[tuple[list[str], tuple[Path, ...]]],
    dialect: str,
    con: duckdb.DuckDBPyConnection,
) -> tuple[dict[str, str], list[tuple[Path, dict[str, str]]]]:
    """Each column's type: its files' sniffed types joined along the type lattice; and each
    file's own types."""
    if not table.header:
        return dict.fromkeys(table.columns, "VARCHAR"), []
    per_file = [
        (path, _sniffed_types(path, names, dialect, con)) for names, run in runs for path in run
    ]
    if len(per_file) > 1:
        for path, types in per_file:
            for name in _empty_columns(con, path, types, dialect):
                types[name] = NULL  # nulls are no evidence of a type: the other files decide
    joined: dict[str, str] = {}
    for _, types in per_file:
        for name, kind in types.items():
            joined[name] = join(joined[name], kind) if name in joined else kind
    for name, kind in joined.items():
        candidate = _value_join([t[name] for _, t in per_file if name in t])
        if kind == VARCHAR and candidate is not None:
            exact = candidate != "DOUBLE" or all(
                _fits_a_double(con, path, list(t), name, dialect)
                for path, t in per_file
                if name in t
            )
            joined[name] = candidate if exact else VARCHAR
    joined = {name: VARCHAR if is_null_type(kind) else kind for name, kind in joined.items()}
    return joined, per_file


def _empty_columns(
    con: duckdb.DuckDBPyConnection, path: Path, types: dict[str, str], dialect: str
) -> list[str]:
    """The columns DuckDB typed VARCHAR in `path` whose sampled values are all null or empty."""
    texts = [name for name, kind in types.items() if kind == VARCHAR]
    if not texts:
        return []
    as_text = "{" + ", ".join(f"{literal(n)}: 'VARCHAR'" for n in types) + "}"
    sample = (
        f"(SELECT * FROM read_csv({literal(str(path))}, {dialect}, header=true, "
        f"auto_detect=false, columns={as_text}) LIMIT {_SAMPLE_ROWS})"
    )
    counts = ", ".join(f"count(nullif(trim({quote(n)}), ''))" for n in texts)
    found = con.execute(f"SELECT {counts} FROM {sample}").fetchone()
    assert found is not None
    return [name for name, count in zip(texts, found, strict=True) if count == 0]


def _require_stored_fit(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    sniffed: dict[str, str],
    stored: Mapping[str, str],
    dialect: str,
) -> None:
    """Fail naming file, line and column where a value of `path` does not fit its stored column
    (the table's `schema_policy` is freeze). DuckDB would read `12.5` into an integer column as
    13 and `01067` as 1067, so a file whose sniffed type the stored one does not hold is looked
    at value by value."""
    as_text = "{" + ", ".join(f"{literal(n)}: 'VARCHAR'" for n in sniffed) + "}"
    for name, kind in sniffed.items():
        target = stored.get(name)
        if target is None or join(target, kind) == canonical(target):
            continue
        text = f"trim({quote(name)})"
        fits = f"TRY_CAST({text} AS {target}) IS NOT NULL"
        if canonical(target) in INTEGER_TYPES:
            fits += f" AND regexp_full_match({text}, '[+-]?(0|[1-9][0-9]*)')"
        # Named as the header lands (column_names), each column read as its text.
        rows = (
            f"read_csv({literal(str(path))}, {dialect}, header=true, auto_detect=false, "
            f"columns={as_text})"
        )
        found = con.execute(
            f"SELECT n, v FROM (SELECT row_number() OVER () AS n, {quote(name)} AS v, "
            f"{fits} AS fits FROM {rows}) WHERE v IS NOT NULL AND NOT coalesce(fits, false) "
            "ORDER BY n LIMIT 1"
        ).fetchone()
        if found is not None:
            raise FileReadError(
                f"{path}, line {found[0] + 1}: column {name!r} holds {found[1]!r}, which its "
                f"stored type {target} cannot hold (schema_policy: freeze)"
            )


def _runs_by_header(
    table: FileTable, files: tuple[Path, ...], source_names: dict[str, str]
) -> list[tuple[list[str], tuple[Path, ...]]]:
    """The files in runs of one header: (column names as they land, files), in the files'
    order. The header's names are renamed by `column_names` (read_csv takes the names given)."""
    if not table.header:
        return [(list(table.columns), files)]
    runs: list[tuple[list[str], tuple[Path, ...]]] = []
    for path in files:
        names = _header(path, table)
        if not names:
            raise FileReadError(f"{path}: no header row (set header: false and declare columns)")
        renamed = _landing_names(path, names, table)
        source_names.update({new: old for old, new in renamed.items()})
        names = [renamed.get(name, name) for name in names]
        if runs and runs[-1][0] == names:
            runs[-1] = (names, (*runs[-1][1], path))
        else:
            runs.append((names, (path,)))
    return runs


def _value_join(kinds: list[str]) -> str | None:
    """The type that holds values of all `kinds` if the values fit it (see
    `type_lattice.value_join`), or None."""
    joined: str | None = kinds[0]
    for kind in kinds[1:]:
        if joined is None:
            return None
        by_type = join(joined, kind)
        joined = by_type if by_type != VARCHAR else value_join(joined, kind)
    return joined


def _csv_dialect(table: FileTable) -> str:
    dialect = (
        f"delim={literal(table.separator)}, quote={literal(table.quote)}, "
        f"escape={literal(table.quote)}, {_compression(table)}"
    )
    if table.null_strings:
        dialect += ", nullstr=[" + ", ".join(literal(s) for s in table.null_strings) + "]"
    return dialect


def _csv_options(table: FileTable, names: list[str], dialect: str, types: dict[str, str]) -> str:
    """Explicit, strict read options for files whose header is `names`.

    DuckDB's dialect sniffer can settle on a wrong column count for a short malformed file and
    then return no rows at all. So the dialect comes from the catalog, the column names from the
    header row, the types from a sniff of every file under that dialect, and the read itself is
    strict: a row with too many fields or a value its column's type cannot hold fails with its
    file and line.
    """
    columns = "{" + ", ".join(f"{literal(n)}: {literal(types.get(n, VARCHAR))}" for n in names)
    return (
        f"{dialect}, header={str(table.header).lower()}, auto_detect=false, "
        f"columns={columns}}}, strict_mode=true"
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
    path: Path, names: list[str], dialect: str, con: duckdb.DuckDBPyConnection
) -> dict[str, str]:
    """Types DuckDB detects in one file (with a header) under the fixed dialect, or VARCHAR where
    it cannot tell; a DOUBLE that would round a sampled value is replaced (`_exact_number`)."""
    try:
        rows = con.execute(
            f"DESCRIBE SELECT * FROM read_csv({literal(str(path))}, {dialect}, header=true)"
        ).fetchall()
    except duckdb.Error:
        rows = []
    detected = [str(row[1]) for row in rows]
    if len(detected) != len(names):
        return dict.fromkeys(names, VARCHAR)
    types = dict(zip(names, detected, strict=True))
    floats = [name for name, kind in types.items() if kind in ("DOUBLE", "FLOAT")]
    for name, texts in _number_texts(con, path, names, floats, dialect).items():
        types[name] = _exact_number(texts)
    return types


_SAMPLE_ROWS = 20480
"""As many rows as DuckDB's sniffer samples by default."""
_DOUBLE_DIGITS = 15
"""A decimal of at most this many significant digits reads back the same from a double (DBL_DIG)."""


@dataclass(frozen=True)
class _NumberTexts:
    """What the sampled texts of one column need to be held exactly."""

    integers: bool
    negative: bool
    exponent: bool
    scale: int
    whole: int
    wide: tuple[str, ...]
    """The distinct texts of more than `_DOUBLE_DIGITS` digits."""


def _number_texts(
    con: duckdb.DuckDBPyConnection, path: Path, names: list[str], columns: list[str], dialect: str
) -> dict[str, _NumberTexts]:
    """The first rows' texts of each of `columns` in `path` (whose header is `names`), summed up,
    in one read of the sample as text."""
    if not columns:
        return {}
    as_text = "{" + ", ".join(f"{literal(n)}: 'VARCHAR'" for n in names) + "}"
    texts = (
        f"read_csv({literal(str(path))}, {dialect}, header=true, auto_detect=false, "
        f"columns={as_text})"
    )
    sample = f"(SELECT * FROM {texts} LIMIT {_SAMPLE_ROWS})"
    lengths = ", ".join(f"coalesce(max(length({quote(n)})), 0)" for n in columns)
    longest = con.execute(f"SELECT {lengths} FROM {sample}").fetchone()
    assert longest is not None
    # Texts no longer than a double's digits cannot lose one: the common case, settled here.
    found = {
        name: _NumberTexts(True, False, False, 0, 0, ())
        for name, length in zip(columns, longest, strict=True)
        if length <= _DOUBLE_DIGITS
    }
    columns = [name for name in columns if name not in found]
    if not columns:
        return found
    sums = []
    for index, name in enumerate(columns):
        v = f"nullif(trim({quote(name)}), '')"
        digits = f"length(regexp_replace({v}, '[^0-9]', '', 'g'))"
        sums.append(
            f"coalesce(bool_and(regexp_full_match({v}, '[+-]?[0-9]+')), true), "
            f"coalesce(bool_or(starts_with({v}, '-')), false), "
            f"coalesce(bool_or({v} ILIKE '%e%'), false), "
            f"coalesce(max(length(split_part({v}, '.', 2))), 0), "
            f"coalesce(max(length(regexp_replace(split_part({v}, '.', 1), '[^0-9]', '', 'g'))), "
            "0), "
            f"coalesce(list(DISTINCT {v}) FILTER ({digits} > {_DOUBLE_DIGITS}), [])"
            f" AS c{index}"
        )
    row = con.execute(f"SELECT {', '.join(sums)} FROM {sample}").fetchone()
    assert row is not None
    for index, name in enumerate(columns):
        integers, negative, exponent, scale, whole, wide = row[index * 6 : index * 6 + 6]
        found[name] = _NumberTexts(
            bool(integers), bool(negative), bool(exponent), int(scale), int(whole), tuple(wide)
        )
    return found


def _exact_number(texts: _NumberTexts) -> str:
    """The type that holds every sampled number exactly, for a column DuckDB sniffed as a
    float: an integer type for integers (the sniffer gives DOUBLE beyond BIGINT), DOUBLE where
    each text reads back the same from a double, else a DECIMAL wide enough, else VARCHAR."""
    try:
        wide = [Decimal(text) for text in texts.wide]
    except InvalidOperation:
        return VARCHAR
    if not wide or all(Decimal(repr(float(n))) == n for n in wide):
        return "DOUBLE"
    if texts.integers:
        ints = [int(n) for n in wide] + ([-1] if texts.negative else [])
        return integer_type_for(min(ints), max(ints)) or VARCHAR
    width = texts.whole + texts.scale
    if texts.exponent or width > 38:
        return VARCHAR
    return f"DECIMAL({width},{texts.scale})"


def _fits_a_double(
    con: duckdb.DuckDBPyConnection, path: Path, names: list[str], column: str, dialect: str
) -> bool:
    """Whether every sampled text of `column` reads back the same from a double."""
    texts = _number_texts(con, path, names, [column], dialect)[column]
    return _exact_number(texts) == "DOUBLE"
