"""The reader of `kind: sql`: DuckDB's own postgres, mysql and sqlite scanners (and, for
MariaDB tables, connectorx: see `mysql_arrow`).

It takes plain values (a URL, names, a start value) and a DuckDB connection to read into (the
load's staging file), never the catalog's models. The source is attached read-only as `src`;
a table is read with one `SELECT` whose filters the scanner pushes down to the database (the
incremental `cursor >= start` becomes the database's own `WHERE`), and each column is landed as
the type that holds its values exactly (see `types`). Every error leaves here as one
`SqlSourceError` line with the connection's secrets masked.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, timedelta
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qsl, unquote, urlsplit
from urllib.parse import quote as url_quote
from zoneinfo import ZoneInfo

import duckdb
import sqlglot
from sqlglot import exp

import platform_assets.sql_kind.mysql_arrow as mysql_arrow
from platform_assets.sql_kind.types import SourceColumn, land_as
from resources.cursors import bare_number, column_maximum, parse_timestamp
from resources.duckdb_extensions import load_extension
from resources.duckdb_sql import literal, quote
from resources.errors import TributaryError
from resources.naming import ColumnNaming, normalize
from resources.redaction import Redactor, redact

Dialect = Literal["postgres", "mysql", "sqlite"]
OnNullCursor = Literal["include_once", "exclude", "fail"]

ALIAS = "src"
"""The name the source database is attached under in the reading connection."""

_EXTENSION: dict[str, str] = {"postgres": "postgres", "mysql": "mysql", "sqlite": "sqlite"}
_DEFAULT_SCHEMA: dict[str, str | None] = {"postgres": "public", "mysql": None, "sqlite": None}


class SqlSourceError(TributaryError):
    """Reading the database failed; the message names the table (and column) and the cause,
    with the connection's password masked."""


@dataclass(frozen=True)
class Database:
    """Where to read: the resolved connection URL and how to attach it."""

    url: str
    dialect: Dialect
    root: Path
    """Where a relative SQLite path starts."""
    statement_timeout: timedelta | None = None
    secrets: tuple[str, ...] = ()
    """Values to mask in every message (the URL's password, the variables it was built from)."""

    def redact(self, text: str) -> str:
        password = urlsplit(self.url).password if "://" in self.url else None
        found = [*self.secrets, *([unquote(password)] if password else [])]
        return redact(Redactor(found)(text), found)

    @property
    def sqlite_path(self) -> Path:
        """The SQLite file: `sqlite:///rel.db` is relative to `root`, `sqlite:////abs.db`
        absolute."""
        path = Path(unquote(self.url.split("://", 1)[1][1:].split("?", 1)[0]))
        return path if path.is_absolute() else self.root / path


@dataclass(frozen=True)
class ReflectedTable:
    """A table `tables: "*"` found: its schema (None where the database has none), name and
    primary key columns (empty when it has none)."""

    schema: str | None
    name: str
    primary_key: tuple[str, ...]


@dataclass(frozen=True)
class TableRead:
    """What to read: a table (`schema`, `name`) or a `query` in the database's own SQL; with
    `cursor_field` (its name in the source), rows from `start` on, and rows whose cursor is
    NULL as `on_null_cursor` says (`first_load`: no cursor was stored yet)."""

    label: str
    schema: str | None = None
    name: str | None = None
    query: str | None = None
    cursor_field: str | None = None
    start: str | None = None
    on_null_cursor: OnNullCursor = "fail"
    first_load: bool = True
    naming: ColumnNaming = "snake_case"
    source_timezone: str | None = None


def _mysql_attach_string(url: str) -> str:
    """A libmysql key=value string for a `mysql://` URL (the extension's own form)."""
    parts = urlsplit(url)
    pairs = {
        "host": parts.hostname or "127.0.0.1",
        "port": str(parts.port or 3306),
        "user": unquote(parts.username or ""),
        "database": unquote(parts.path.lstrip("/")),
    }
    if parts.password:
        pairs["password"] = unquote(parts.password)
    pairs.update(dict(parse_qsl(parts.query)))
    return " ".join(f"{key}={value}" for key, value in pairs.items() if value)


def _postgres_url(url: str, timeout_millis: int | None) -> str:
    """The URL libpq reads, with the statement timeout as a server option of every connection
    the scanner opens."""
    scheme, rest = url.split("://", 1)
    if scheme.lower().split("+")[0] == "postgres":
        url = f"postgresql://{rest}"
    if timeout_millis:
        option = url_quote(f"-c statement_timeout={timeout_millis}", safe="")
        url += ("&" if "?" in url else "?") + f"options={option}"
    return url


def attach(con: duckdb.DuckDBPyConnection, database: Database, extension_dir: Path) -> None:
    """Attach `database` read-only to `con` as `src`, its scanner loaded from `extension_dir`.
    Raises `SqlSourceError` (the password masked) when it cannot be reached."""
    dialect = database.dialect
    try:
        load_extension(con, _EXTENSION[dialect], extension_dir)
        timeout = database.statement_timeout
        millis = int(timeout.total_seconds() * 1000) if timeout else None
        if dialect == "postgres":
            target, kind = _postgres_url(database.url, millis), "postgres"
        elif dialect == "mysql":
            # TIMESTAMP columns are instants: read them in UTC, not in the server's zone.
            con.execute("SET mysql_session_time_zone = '+00:00'")
            con.execute("SET mysql_time_as_time = true")
            if millis:
                con.execute(f"SET mysql_query_timeout_min_ms = {millis}")
                con.execute(f"SET mysql_query_timeout_max_ms = {millis}")
            target, kind = _mysql_attach_string(database.url), "mysql"
        else:
            path = database.sqlite_path
            if not path.is_file():
                raise SqlSourceError(f"SQLite database {str(path)!r} does not exist")
            target, kind = str(path), "sqlite"
        con.execute(f"ATTACH {literal(target)} AS {ALIAS} (TYPE {kind}, READ_ONLY)")
    except duckdb.Error as error:
        cause = " ".join(database.redact(str(error)).split())
        raise SqlSourceError(f"cannot connect to the {dialect} database: {cause}") from None


def uncompressed_staging(con: duckdb.DuckDBPyConnection) -> None:
    """Have `con` (a load's staging file) write its tables uncompressed, for a source that
    delivers rows faster than DuckDB compresses them (PostgreSQL's scanner, Arrow in memory):
    the file is read once, by the commit, and deleted, so compressing it would only add time.
    Behind a slower source (MySQL's scanner, SQLite's) staging stays compressed: compressing
    runs while the scanner waits, and the commit reads a file about a quarter the size, which
    keeps the load's memory near DuckDB's own copy."""
    con.execute("SET force_compression = 'uncompressed'")


def _relation(schema: str | None, name: str) -> str:
    """The attached table, for DuckDB."""
    return f"{ALIAS}.{quote(schema)}.{quote(name)}" if schema else f"{ALIAS}.{quote(name)}"


def _source_quote(name: str, dialect: Dialect) -> str:
    return exp.to_identifier(name, quoted=True).sql(dialect=dialect)


def _remote(con: duckdb.DuckDBPyConnection, dialect: Dialect, sql: str) -> list[tuple[str, ...]]:
    """Rows of `sql`, run by the database itself (its own SQL), every value as text."""
    function = {"postgres": "postgres_query", "mysql": "mysql_query"}[dialect]
    rows = con.execute(f"SELECT * FROM {function}({literal(ALIAS)}, {literal(sql)})").fetchall()
    return [tuple("" if v is None else str(v) for v in row) for row in rows]


def _mysql_database(con: duckdb.DuckDBPyConnection) -> str:
    rows = _remote(con, "mysql", "SELECT DATABASE()")
    return rows[0][0] if rows else ""


def source_columns(
    con: duckdb.DuckDBPyConnection, database: Database, schema: str | None, name: str
) -> list[SourceColumn]:
    """The columns of a table, in order: the type the database declares and the type
    DuckDB's scanner gives it. Raises `SqlSourceError` when the table does not exist."""
    dialect = database.dialect
    schema = schema or _DEFAULT_SCHEMA[dialect]
    if dialect == "mysql" and schema is None:
        schema = _mysql_database(con)
    where = f"{schema}.{name}" if schema else name
    try:
        relation = _relation(schema, name)
        scanned = {
            str(row[0]): str(row[1]) for row in con.execute(f"DESCRIBE {relation}").fetchall()
        }
    except duckdb.CatalogException:
        raise SqlSourceError(f"table {where} does not exist in the {dialect} database") from None
    if dialect == "postgres":
        regclass = f"{_source_quote(schema or 'public', dialect)}.{_source_quote(name, dialect)}"
        declared = _remote(
            con,
            dialect,
            "SELECT a.attname::text AS name, format_type(a.atttypid, a.atttypmod) AS declared, "
            "t.typtype::text AS typtype, coalesce(format_type(e.oid, NULL), '') AS element, "
            "coalesce(e.typtype::text, '') AS element_typtype "
            "FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
            "LEFT JOIN pg_type e ON e.oid = t.typelem AND t.typcategory = 'A' "
            f"WHERE a.attrelid = {literal(regclass)}::regclass AND a.attnum > 0 "
            "AND NOT a.attisdropped ORDER BY a.attnum",
        )
        kinds = {row[0]: (row[1], row[2], row[3], row[4]) for row in declared}
        return [
            SourceColumn(column, *kinds.get(column, ("", "", "", "")), scanned=kind)
            for column, kind in scanned.items()
        ]
    if dialect == "mysql":
        assert schema is not None
        declared = _remote(
            con,
            dialect,
            "SELECT COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS "
            f"WHERE TABLE_SCHEMA = {literal(schema)} AND TABLE_NAME = {literal(name)}",
        )
        json_columns = _mariadb_json_columns(con, schema, name)
        types = {row[0]: "json" if row[0] in json_columns else row[1].lower() for row in declared}
        return [
            SourceColumn(column, types.get(column, ""), scanned=kind)
            for column, kind in scanned.items()
        ]
    with contextlib.closing(
        sqlite3.connect(f"file:{database.sqlite_path}?mode=ro", uri=True)
    ) as lite:
        info = lite.execute(f"PRAGMA table_info({quote(name)})").fetchall()
    types = {str(row[1]): str(row[2]).lower() for row in info}
    return [
        SourceColumn(column, types.get(column, ""), scanned=kind)
        for column, kind in scanned.items()
    ]


def _mariadb_json_columns(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> set[str]:
    """MariaDB stores JSON as LONGTEXT with a `json_valid(col)` check: the columns that have
    one (MySQL declares `json` itself, and has no such check)."""
    try:
        rows = _remote(
            con,
            "mysql",
            "SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS "
            f"WHERE CONSTRAINT_SCHEMA = {literal(schema)} AND TABLE_NAME = {literal(name)}",
        )
    except duckdb.Error:
        return set()
    found = set()
    for (clause,) in rows:
        text = clause.strip()
        if text.lower().startswith("json_valid(`") and text.endswith("`)"):
            found.add(text[len("json_valid(`") : -2].replace("``", "`"))
    return found


def _query_columns(con: duckdb.DuckDBPyConnection, sql: str) -> list[SourceColumn]:
    described = con.execute(f"DESCRIBE {sql}").fetchall()
    return [SourceColumn(str(row[0]), "", scanned=str(row[1])) for row in described]


def _source_literal(value: str, dialect: Dialect, zone: str | None) -> str:
    """A cursor value as a literal of the database's own SQL (timestamps in its spelling)."""
    moment = parse_timestamp(value)
    if moment is None:
        return value if bare_number(value) else literal(value)
    if dialect == "postgres":
        return literal(moment.isoformat(sep=" "))
    if moment.tzinfo is not None:
        moment = moment.astimezone(ZoneInfo(zone) if zone else UTC).replace(tzinfo=None)
    return literal(moment.isoformat(sep=" "))


def _duckdb_start(value: str, kind: str, zone: str | None) -> str:
    """A cursor value as a DuckDB constant of the cursor column's scanned type. A zone-less
    column read in `zone` compares with the value as that zone's wall-clock time."""
    moment = parse_timestamp(value)
    if moment is not None and moment.tzinfo is not None and "TIME ZONE" not in kind:
        value = moment.astimezone(ZoneInfo(zone) if zone else UTC).replace(tzinfo=None).isoformat()
    return f"CAST({literal(value)} AS {kind})"


@dataclass
class Plan:
    """The statements that read one table: rows from the cursor on, then (on their own, so
    that each filter reaches the database) rows whose cursor is NULL."""

    selects: list[str]
    cursor_column: str | None
    """The cursor as it lands (its name in the staged batch)."""
    source_names: dict[str, str]
    arrow: mysql_arrow.ArrowRead | None = None
    """A MariaDB table read through connectorx instead of `selects` (see `mysql_arrow`)."""


def plan_read(con: duckdb.DuckDBPyConnection, database: Database, read: TableRead) -> Plan:
    """The SELECTs (on `con`, where the source is attached) that read `read`, every column cast
    to the type it lands as. Raises `SqlSourceError` for a missing table or column, or a column
    whose type cannot land exactly (naming table and column)."""
    dialect = database.dialect
    if read.query is not None:
        if dialect == "sqlite":
            origin = f"({_sqlite_query_for_duckdb(read.query)})"
        else:
            origin = _remote_relation(dialect, read.query)
        columns = _query_columns(con, f"SELECT * FROM {origin}")
    else:
        assert read.name is not None
        columns = source_columns(con, database, read.schema, read.name)
        schema = read.schema or _DEFAULT_SCHEMA[dialect]
        if dialect == "mysql" and schema is None:
            schema = _mysql_database(con)
        origin = (
            f"{ALIAS}.{quote(schema)}.{quote(read.name)}"
            if schema
            else f"{ALIAS}.{quote(read.name)}"
        )
    landed: list[str] = []
    names: dict[str, str] = {}
    for column in columns:
        new = normalize(column.name, read.naming)
        try:
            expression = land_as(column, dialect, read.source_timezone)
        except ValueError as error:
            raise SqlSourceError(f"table {read.label}, column {column.name!r}: {error}") from None
        landed.append(f"{expression} AS {quote(new)}")
        if new != column.name:
            names[new] = column.name
    select = ", ".join(landed)
    cursor = next((c for c in columns if c.name == read.cursor_field), None)
    if read.cursor_field is not None and cursor is None:
        raise SqlSourceError(
            f"table {read.label}: incremental.cursor_field {read.cursor_field!r} is not a "
            f"column (columns: {', '.join(c.name for c in columns)})"
        )
    if dialect == "mysql" and read.query is None:
        arrow = _mysql_arrow_read(con, database, read, columns, landed, schema, cursor)
        if arrow is not None:
            cursor_column = normalize(cursor.name, read.naming) if cursor else None
            return Plan([], cursor_column, names, arrow)
    if read.cursor_field is None:
        return Plan([f"SELECT {select} FROM {origin}"], None, names)
    assert cursor is not None
    cursor_sql = quote(cursor.name)
    if read.query is not None and dialect != "sqlite":
        return _query_plan(read, dialect, select, columns, cursor, names)
    selects = []
    start = read.start
    main = f"SELECT {select} FROM {origin}"
    if start is not None:
        constant = _duckdb_start(start, cursor.scanned, read.source_timezone)
        selects.append(f"{main} WHERE {cursor_sql} >= {constant}")
    else:
        selects.append(f"{main} WHERE {cursor_sql} IS NOT NULL")
    nulls = f"{main} WHERE {cursor_sql} IS NULL"
    if read.on_null_cursor == "fail" or (read.on_null_cursor == "include_once" and read.first_load):
        selects.append(nulls)
    return Plan(selects, normalize(cursor.name, read.naming), names)


def _mysql_arrow_read(
    con: duckdb.DuckDBPyConnection,
    database: Database,
    read: TableRead,
    columns: Sequence[SourceColumn],
    landed: Sequence[str],
    schema: str | None,
    cursor: SourceColumn | None,
) -> mysql_arrow.ArrowRead | None:
    """The table read through connectorx, or None where it cannot read every column exactly
    (then the scanner reads)."""
    assert read.name is not None and schema is not None
    planned = [
        mysql_arrow.Column(c.name, c.declared, c.scanned, expression)
        for c, expression in zip(columns, landed, strict=True)
    ]
    version = _remote(con, "mysql", "SELECT VERSION()")[0][0]
    if not mysql_arrow.usable(database.url, planned, version):
        return None
    relation = f"{_source_quote(schema, 'mysql')}.{_source_quote(read.name, 'mysql')}"
    include_nulls = read.cursor_field is not None and (
        read.on_null_cursor == "fail" or (read.on_null_cursor == "include_once" and read.first_load)
    )
    by_name = {c.name: c for c in planned}
    return mysql_arrow.plan(
        planned,
        relation,
        by_name[cursor.name] if cursor is not None else None,
        read.start,
        include_nulls,
        read.source_timezone,
    )


def _mysql_session(database: Database) -> list[str]:
    """What each connectorx connection runs first: TIMESTAMP read in UTC (as the scanner's
    session), and the statement timeout (MariaDB's `max_statement_time`, in seconds)."""
    session = ["SET time_zone = '+00:00'"]
    if database.statement_timeout:
        session.append(f"SET max_statement_time = {database.statement_timeout.total_seconds()}")
    return session


def _sqlite_query_for_duckdb(query: str) -> str:
    """An SQLite query as DuckDB runs it over the attached file: its tables qualified with
    the attachment (common table expressions excepted), its functions translated."""
    tree = sqlglot.parse_one(query, read="sqlite")
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    for table in tree.find_all(exp.Table):
        if not table.args.get("db") and table.name not in ctes:
            table.set("db", exp.to_identifier("main"))
            table.set("catalog", exp.to_identifier(ALIAS))
    return tree.sql(dialect="duckdb")


def _remote_relation(dialect: Dialect, sql: str) -> str:
    function = {"postgres": "postgres_query", "mysql": "mysql_query"}[dialect]
    return f"{function}({literal(ALIAS)}, {literal(sql)})"


def _query_plan(
    read: TableRead,
    dialect: Dialect,
    select: str,
    columns: Sequence[SourceColumn],
    cursor: SourceColumn,
    names: dict[str, str],
) -> Plan:
    """A `query:` read incrementally: the filter is written into the database's own SQL around
    the query, so the database applies it."""
    assert read.query is not None
    column = _source_quote(cursor.name, dialect)
    inner = f"SELECT * FROM ({read.query}) AS q"
    if read.start is not None:
        value = _source_literal(read.start, dialect, read.source_timezone)
        rows = f"{inner} WHERE {column} >= {value}"
    else:
        rows = f"{inner} WHERE {column} IS NOT NULL"
    selects = [f"SELECT {select} FROM {_remote_relation(dialect, rows)}"]
    if read.on_null_cursor == "fail" or (read.on_null_cursor == "include_once" and read.first_load):
        nulls = f"{inner} WHERE {column} IS NULL"
        selects.append(f"SELECT {select} FROM {_remote_relation(dialect, nulls)}")
    del columns
    return Plan(selects, normalize(cursor.name, read.naming), names)


@dataclass
class ReadOutcome:
    """What a read reached: the cursor to store (None when not incremental)."""

    cursor: str | None


def stage_table(
    con: duckdb.DuckDBPyConnection,
    database: Database,
    read: TableRead,
    extension_dir: Path,
    stage: Callable[[list[duckdb.DuckDBPyRelation]], None],
    staged_cursor: Callable[[str], tuple[str | None, int]],
) -> ReadOutcome:
    """Attach the database to `con`, plan the read and hand its relations to `stage` (which
    copies them into the load's staging table); then ask `staged_cursor(column)` for the
    largest staged cursor value and the count of NULL cursors. Raises `SqlSourceError` (one
    line, secrets masked) for anything that goes wrong, NULL cursors under `fail` included."""
    try:
        if database.dialect == "postgres":
            uncompressed_staging(con)
        attach(con, database, extension_dir)
        plan = plan_read(con, database, read)
        if plan.arrow is not None:
            mysql_arrow.stage(con, database.url, plan.arrow, _mysql_session(database), stage)
        else:
            stage([con.sql(sql) for sql in plan.selects])
        if plan.cursor_column is None:
            return ReadOutcome(None)
        reached, nulls = staged_cursor(plan.cursor_column)
    except SqlSourceError:
        raise
    except (duckdb.Error, RuntimeError) as error:
        message = " ".join(database.redact(str(error)).split())
        raise SqlSourceError(f"table {read.label}: {message}") from None
    if nulls and read.on_null_cursor == "fail":
        raise SqlSourceError(
            f"table {read.label}: incremental.cursor_field {read.cursor_field!r} is NULL in "
            f"{nulls} rows; set on_null_cursor to include_once or exclude"
        )
    return ReadOutcome(reached)


def staged_maximum(
    con: duckdb.DuckDBPyConnection, table: str, column: str
) -> tuple[str | None, int]:
    """The largest value of `column` in the staged table `table` as a cursor, and how many of
    its rows hold NULL there."""
    arrow = con.execute(
        f"SELECT max({quote(column)}) AS m, count(*) FILTER ({quote(column)} IS NULL) AS n "
        f"FROM {table}"
    ).to_arrow_table()
    nulls = int(arrow.column("n")[0].as_py() or 0)
    return column_maximum(arrow.column("m")), nulls


def reflect(database: Database, schema: str | None, extension_dir: Path) -> list[ReflectedTable]:
    """The tables (and views) of `schema` with their primary keys, by name. Raises
    `SqlSourceError` when the database cannot be reached."""
    con = duckdb.connect()
    try:
        attach(con, database, extension_dir)
        if database.dialect == "postgres":
            schema = schema or "public"
            rows = _remote(
                con,
                "postgres",
                "SELECT c.relname::text AS name, "
                "coalesce((SELECT string_agg(a.attname, chr(31) ORDER BY k.n) "
                "FROM pg_index i CROSS JOIN unnest(i.indkey) WITH ORDINALITY AS k(attnum, n) "
                "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum "
                "WHERE i.indrelid = c.oid AND i.indisprimary), '') AS keys "
                "FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace "
                f"WHERE s.nspname = {literal(schema)} AND c.relkind IN ('r', 'p', 'v', 'm', 'f') "
                "AND NOT c.relispartition ORDER BY c.relname",
            )
        elif database.dialect == "mysql":
            schema = schema or _mysql_database(con)
            rows = _remote(
                con,
                "mysql",
                "SELECT t.TABLE_NAME AS name, coalesce((SELECT group_concat(k.COLUMN_NAME ORDER BY "
                "k.ORDINAL_POSITION SEPARATOR 0x1f) FROM information_schema.KEY_COLUMN_USAGE k "
                "WHERE k.TABLE_SCHEMA = t.TABLE_SCHEMA AND k.TABLE_NAME = t.TABLE_NAME "
                "AND k.CONSTRAINT_NAME = 'PRIMARY'), '') AS keys FROM information_schema.TABLES t "
                f"WHERE t.TABLE_SCHEMA = {literal(schema)} ORDER BY t.TABLE_NAME",
            )
        else:
            schema = None
            rows = list(_sqlite_tables(database.sqlite_path))
    except duckdb.Error as error:
        raise SqlSourceError(database.redact(str(error))) from None
    finally:
        con.close()
    return [
        ReflectedTable(schema, name, tuple(k for k in keys.split("\x1f") if k))
        for name, keys in rows
    ]


def _sqlite_tables(path: Path) -> list[tuple[str, ...]]:
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as lite:
        names = [
            str(row[0])
            for row in lite.execute(
                "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
                "AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        found: list[tuple[str, ...]] = []
        for name in names:
            info = lite.execute(f"PRAGMA table_info({quote(name)})").fetchall()
            keys = [str(row[1]) for row in sorted(info, key=lambda r: r[5]) if row[5]]
            found.append((name, "\x1f".join(keys)))
    return found
