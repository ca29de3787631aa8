"""Count every rule's failures where the batch lives: in DuckDB, in one pass, no rows exported.

pandera's built-in checks (`ge`, `le`, `isin`, `str_matches`, `str_length`...) have narwhals
implementations; applied to a narwhals frame over the batch table they become DuckDB expressions.
Those, `nullable`, and the catalog's SQL `expressions` are counted where the batch lies, one
filtered count for the rules that read the same columns, so each column is scanned once. Each
filter reaches DuckDB's table scan, where the zone maps (each row group's min and max) skip the row
groups that cannot fail it: a range check on a numeric column costs next to nothing when the data
passes. Samples and failing row ids are fetched only for rules that failed. Nulls are judged by
`nullable` alone: a rule fails where it is false, and a filter drops the rows where it is null.

A regular expression costs far more per row than reading the row: about 180 ns of CPU per value in
DuckDB's RE2, against 40 for a length check, both reading the column. Where DuckDB's statistics say
a column repeats its values (at most a quarter of them distinct), its rules are judged once per
distinct value, each weighted by how many rows hold it: a hash aggregate over the column costs
less than the regex on every row.

Checks written in Python (the custom checks of a `DataFrameModel`) cannot run as SQL: they run on
polars chunks of the columns the schema names, and only when there are some.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import reduce
from operator import or_
from typing import Any

import duckdb
import narwhals.stable.v1 as nw
import pandera.backends.narwhals.builtin_checks  # noqa: F401  (registers the narwhals built-ins)
import pandera.polars as pa
import polars as pl
from pandera.api.function_dispatch import Dispatcher
from pandera.backends.narwhals.checks import NarwhalsCheckBackend

from checks.rules import CompiledChecks, rule_label, rule_name
from resources.duckdb_sql import column_list, quote

pa.Check.register_backend(nw.LazyFrame, NarwhalsCheckBackend)

ROW_ID = "__row_id"
SAMPLE_SIZE = 5
CHUNK_ROWS = 1_000_000
ROWS_WITH_VALUE = "__rows"
COSTLY_CHECKS = frozenset({"str_matches", "str_contains"})
"""pandera built-ins that DuckDB answers with a regular expression."""
MOST_DISTINCT_SHARE = 0.25
"""Judge a column per distinct value when DuckDB estimates at most this share of its values are
distinct. Measured on 5M strings: per row 0.41 s; per value 0.17 s at 5% distinct, 0.9 s at 100%."""
MEMBERSHIP = {"isin": "allowed_values", "notin": "forbidden_values"}
"""pandera's membership checks, and the statistic that holds their list of values."""
_APPROX_UNIQUE = re.compile(r"\[Approx Unique: (\d+)\]")


@dataclass
class RuleCount:
    """What the evaluation found for one rule."""

    failures: int = 0
    samples: list[Any] = field(default_factory=list)
    failing_rows: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class _Predicate:
    """A rule as a narwhals boolean expression, true where a row passes."""

    name: str
    columns: tuple[str, ...]
    """What a sample of a failing row shows: the checked column, or those a condition reads."""
    passes: nw.Expr
    on_value: nw.Expr | None = None
    """The rule on its column's own value, where `passes` reads a column the batch's relation
    computes: judging per distinct value groups the column and needs the rule itself."""
    by_value: bool = False
    """A function of its one column's value alone (a column check, not an expression)."""
    costly: bool = False
    """A regular expression: worth judging once per distinct value."""


def is_builtin(check: pa.Check) -> bool:
    """A pandera built-in check (which has a narwhals, hence SQL, implementation)."""
    return isinstance(check._check_fn, Dispatcher)


def count_failures(
    compiled: CompiledChecks,
    con: duckdb.DuckDBPyConnection,
    batch: str,
    keep_rows: bool,
    rows: int,
) -> dict[str, RuleCount]:
    """Failures per row-level rule of `compiled` on the table `batch` (quoted SQL name), which
    holds `rows` rows.

    With `keep_rows`, the `rowid`s of failing rows are kept too, for quarantine.
    """
    counts = _count_in_sql(compiled, con, batch, keep_rows, rows)
    counts.update(_count_in_python(compiled, con, batch, keep_rows))
    return counts


def _count_in_sql(
    compiled: CompiledChecks,
    con: duckdb.DuckDBPyConnection,
    batch: str,
    keep_rows: bool,
    rows: int,
) -> dict[str, RuleCount]:
    computed = {
        _expression_column(name): f"coalesce(({condition.sql}), true)"
        for name, condition in compiled.expressions
    } | {_expression_column(name): sql for name, sql in _memberships(compiled)}
    expressions = "".join(f", {sql} AS {quote(column)}" for column, sql in computed.items())
    frame = nw.from_native(con.sql(f"SELECT rowid AS {ROW_ID}, *{expressions} FROM {batch}")).lazy()
    predicates = list(_predicates(compiled, frame, set(computed)))
    if not predicates:
        return {}
    by_columns: dict[tuple[str, ...], list[_Predicate]] = {}
    for predicate in predicates:
        by_columns.setdefault(predicate.columns, []).append(predicate)
    counts = {p.name: RuleCount() for p in predicates}
    # With keep_rows, the rules judged per row are counted by the scan that collects their rows.
    per_row: list[_Predicate] = []
    for columns, group in by_columns.items():
        if _judge_per_value(con, batch, rows, columns, group):
            # Grouped over the column alone: over `frame`, DuckDB computes its extra columns
            # for every row although the grouping reads none of them.
            values = nw.from_native(con.sql(f"SELECT {quote(columns[0])} FROM {batch}")).lazy()
            if keep_rows:
                _collect_by_value(con, values, batch, columns[0], group, counts)
                continue
            totals = _run(con, _tally_per_value(values, columns[0], group))
        elif keep_rows:
            per_row.extend(group)
            continue
        else:
            totals = _run(con, _tally(frame, group))
        for predicate in group:
            counts[predicate.name].failures = int(totals[predicate.name] or 0)
    if keep_rows:
        if per_row:
            _collect_in_one_scan(con, frame, per_row, counts)
        return counts
    for predicate in predicates:
        if counts[predicate.name].failures:
            _collect_failures(frame, predicate, counts[predicate.name], keep_rows)
    return counts


def _memberships(compiled: CompiledChecks) -> Iterator[tuple[str, str]]:
    """Each `isin` and `notin` rule as (rule name, SQL), written as DuckDB's own `IN`.

    narwhals writes membership as a `contains(list, value)` call per row; DuckDB pushes an `IN`
    into the table scan instead, which made the gate's scan of failing rows a quarter cheaper on
    `bench.checks`. A null value is neither in nor out of the list: the rule passes it, as it
    does through narwhals."""
    for name, column in compiled.schema.columns.items():
        for check in column.checks:
            kind = check._check_fn.__name__ if is_builtin(check) else None
            if kind not in MEMBERSHIP:
                continue
            values = [duckdb.ConstantExpression(v) for v in check.statistics[MEMBERSHIP[kind]]]
            if not values:
                continue
            member = duckdb.ColumnExpression(name)
            sql = member.isin(*values) if kind == "isin" else member.isnotin(*values)
            yield rule_name(name, check), str(sql)


def _predicates(
    compiled: CompiledChecks, frame: nw.LazyFrame, computed: set[str]
) -> Iterator[_Predicate]:
    for name, column in compiled.schema.columns.items():
        if not column.nullable:
            yield _Predicate(
                f"{rule_label(name)}_not_null", (name,), ~nw.col(name).is_null(), by_value=True
            )
        for check in column.checks:
            if is_builtin(check):
                rule = rule_name(name, check)
                output = check(frame, name).check_output
                costly = check._check_fn.__name__ in COSTLY_CHECKS
                if _expression_column(rule) in computed:
                    yield _Predicate(
                        rule,
                        (name,),
                        nw.col(_expression_column(rule)),
                        on_value=output,
                        by_value=True,
                        costly=costly,
                    )
                else:
                    yield _Predicate(rule, (name,), output, by_value=True, costly=costly)
    for name, condition in compiled.expressions:
        yield _Predicate(name, tuple(sorted(condition.columns)), nw.col(_expression_column(name)))


def _run(con: duckdb.DuckDBPyConnection, query: nw.LazyFrame) -> dict[str, Any]:
    """The one row `query` returns, run from its SQL text.

    DuckDB plans a statement parsed from text better than the same relation built through its
    Python API, as narwhals builds it: where a column's statistics prove a range rule cannot fail
    but the column has nulls, the text's plan is empty, while the relation's still tests every
    row (`NOT constant_or_null(...)`). On `bench.checks` that was 0.05 s of the gate's 0.30 s."""
    cursor = con.execute(query.to_native().sql_query())
    (row,) = cursor.fetchall()
    assert cursor.description is not None
    return {column[0]: value for column, value in zip(cursor.description, row, strict=True)}


def _tally(frame: nw.LazyFrame, group: list[_Predicate]) -> nw.LazyFrame:
    """One row: how many rows fail each rule of `group` (rules that read the same columns, which
    are scanned once). Only rows failing one of them are counted; that filter is written as plain
    `NOT`s joined by `OR`, so that DuckDB can push it into the scan."""
    fails_any = reduce(or_, (~p.passes for p in group))
    return frame.filter(fails_any).select([(~p.passes).sum().alias(p.name) for p in group])


def _tally_per_value(values: nw.LazyFrame, column: str, group: list[_Predicate]) -> nw.LazyFrame:
    """`_tally` over the distinct values of `column` (`values` holds it alone), each failure
    counted once per row.

    There is no filter: DuckDB would push one on the grouped column below the aggregate, back
    onto every row."""
    rows = nw.col(ROWS_WITH_VALUE)
    return (
        values.group_by(column)
        .agg(nw.len().alias(ROWS_WITH_VALUE))
        .select([((~_on_value(p)).cast(nw.Int64) * rows).sum().alias(p.name) for p in group])
    )


def _judge_per_value(
    con: duckdb.DuckDBPyConnection,
    batch: str,
    rows: int,
    columns: tuple[str, ...],
    group: list[_Predicate],
) -> bool:
    """Whether `group` is cheaper judged once per distinct value of its one column: it holds a
    regular expression, and DuckDB's statistics (kept with every table, read without a scan)
    estimate that few of the column's values are distinct."""
    if len(columns) != 1 or not all(p.by_value for p in group):
        return False
    if not any(p.costly for p in group):
        return False
    distinct = _approx_distinct(con, batch, columns[0])
    return distinct is not None and distinct <= MOST_DISTINCT_SHARE * rows


def _approx_distinct(con: duckdb.DuckDBPyConnection, batch: str, column: str) -> int | None:
    """DuckDB's estimate of how many distinct values `column` of the table `batch` holds, from
    the statistics it keeps per column (`stats()`), or None where it keeps none."""
    row = con.execute(f"SELECT stats({quote(column)}) FROM {batch} LIMIT 1").fetchone()
    found = _APPROX_UNIQUE.search(row[0]) if row is not None else None
    return int(found.group(1)) if found else None


def _on_value(predicate: _Predicate) -> nw.Expr:
    """`predicate` as a function of its column's value, for a frame grouped by that column."""
    return predicate.passes if predicate.on_value is None else predicate.on_value


def _expression_column(rule: str) -> str:
    return f"__rule_{rule}"


def _collect_failures(
    frame: nw.LazyFrame, predicate: _Predicate, count: RuleCount, keep_rows: bool
) -> None:
    failing = frame.filter(~predicate.passes)
    if len(predicate.columns) == 1:
        sample = failing.select(predicate.columns).head(SAMPLE_SIZE).collect()
        count.samples = sample[sample.columns[0]].to_list()  # as DuckDB spells the column
    elif predicate.columns:
        sample = failing.select(predicate.columns).head(SAMPLE_SIZE).collect()
        count.samples = sample.rows(named=True)
    if keep_rows:
        count.failing_rows = failing.select(ROW_ID).collect()[ROW_ID].to_list()


def _flag(rule: str) -> str:
    return f"__fails_{rule}"


def _fill(count: RuleCount, predicate: _Predicate, failing: pl.DataFrame) -> None:
    """Take `predicate`'s failures from `failing`, the rows failing it in row order: their
    number, the first `SAMPLE_SIZE` of their values (as `_collect_failures` samples them) and
    their row ids."""
    count.failures = failing.height
    count.failing_rows = failing[ROW_ID].to_list()
    sample = failing.select(predicate.columns).head(SAMPLE_SIZE)
    if len(predicate.columns) == 1:
        count.samples = sample[sample.columns[0]].to_list()
    elif predicate.columns:
        count.samples = sample.rows(named=True)


def _collect_in_one_scan(
    con: duckdb.DuckDBPyConnection,
    frame: nw.LazyFrame,
    failed: list[_Predicate],
    counts: dict[str, RuleCount],
) -> None:
    """Every failing row of the rules in `failed` (judged per row) in one scan, filtered to the
    rows failing any of them and flagged per rule, rather than a filtered scan per rule."""
    columns = sorted({c for p in failed for c in p.columns})
    fails_any = reduce(or_, (~p.passes for p in failed))
    query = frame.filter(fails_any).select(
        [nw.col(ROW_ID), *(nw.col(c) for c in columns)]
        + [(~p.passes).alias(_flag(p.name)) for p in failed]
    )
    rows = _fetch(con, query.to_native().sql_query())
    for predicate in failed:
        flag = pl.col(_flag(predicate.name)).fill_null(False)
        _fill(counts[predicate.name], predicate, rows.filter(flag))


def _collect_by_value(
    con: duckdb.DuckDBPyConnection,
    values: nw.LazyFrame,
    batch: str,
    column: str,
    group: list[_Predicate],
    counts: dict[str, RuleCount],
) -> None:
    """The failures of `group`, rules on `column` alone (which `values` holds) judged once per
    distinct value, in one
    query: the failing distinct values, flagged per rule, then the rows holding them, joined by
    value.

    The failing values are gathered by a filtered aggregate (`list(...) FILTER`), which DuckDB
    cannot push below the grouping back onto every row, as it would a `WHERE`. A null value is
    joined like any other (`IS NOT DISTINCT FROM`): `nullable` fails it."""
    flags = [(~_on_value(p)).alias(_flag(p.name)) for p in group]
    flagged = (
        values.group_by(column)
        .agg(nw.len().alias(ROWS_WITH_VALUE))
        .select([nw.col(column).alias(ROWS_WITH_VALUE), *flags])
    )
    fails_any = " OR ".join(f"coalesce({quote(_flag(p.name))}, false)" for p in group)
    failing = ", ".join(
        f"unnest(list({sql}) FILTER ({fails_any})) AS {name}"
        for name, sql in [
            (quote(ROWS_WITH_VALUE), quote(ROWS_WITH_VALUE)),
            *((quote(_flag(p.name)), f"coalesce({quote(_flag(p.name))}, false)") for p in group),
        ]
    )
    rows = _fetch(
        con,
        f"WITH failing AS (SELECT {failing} FROM ({flagged.to_native().sql_query()}))"
        f" SELECT b.rowid AS {ROW_ID}, b.{quote(column)}, "
        + ", ".join(f"v.{quote(_flag(p.name))}" for p in group)
        + f" FROM {batch} AS b JOIN failing AS v"
        f" ON b.{quote(column)} IS NOT DISTINCT FROM v.{quote(ROWS_WITH_VALUE)}",
    )
    for predicate in group:
        _fill(counts[predicate.name], predicate, rows.filter(pl.col(_flag(predicate.name))))


def _fetch(con: duckdb.DuckDBPyConnection, sql: str) -> pl.DataFrame:
    """The rows `sql` returns, in row order (by `ROW_ID`)."""
    return con.execute(sql).pl().sort(ROW_ID)


def _count_in_python(
    compiled: CompiledChecks, con: duckdb.DuckDBPyConnection, batch: str, keep_rows: bool
) -> dict[str, RuleCount]:
    """The checks written in Python, on polars chunks of the columns the schema names."""
    column_checks = {
        name: [c for c in column.checks if not is_builtin(c)]
        for name, column in compiled.schema.columns.items()
    }
    if not any(column_checks.values()) and not compiled.schema.checks:
        return {}
    row_id = f"rowid AS {ROW_ID}, " if keep_rows else ""
    reader = con.execute(
        f"SELECT {row_id}{column_list(compiled.schema.columns)} FROM {batch}"
    ).to_arrow_reader(CHUNK_ROWS)
    counts: dict[str, RuleCount] = {}
    for record_batch in reader:
        chunk = pl.from_arrow(record_batch)
        assert isinstance(chunk, pl.DataFrame)
        lazy = chunk.lazy()
        for name, checks in column_checks.items():
            for check in checks:
                output = check(lazy, name).check_output
                _count_chunk(rule_name(name, check), name, output, chunk, counts, keep_rows)
        for check in compiled.schema.checks:
            output = check(lazy).check_output
            _count_chunk(str(check.name), None, output, chunk, counts, keep_rows)
    return counts


def _count_chunk(
    name: str,
    column: str | None,
    output: pl.LazyFrame,
    chunk: pl.DataFrame,
    counts: dict[str, RuleCount],
    keep_rows: bool,
) -> None:
    """Add one chunk's failures of a Python check. A frame-wide check that yields one verdict
    for the whole chunk (not one per row) fails once or not at all."""
    passes = output.select(pl.first().fill_null(True)).collect().to_series()
    count = counts.setdefault(name, RuleCount())
    failing = int((~passes).sum())
    if passes.len() != chunk.height:
        count.failures = max(count.failures, 1 if failing else 0)
        return
    count.failures += failing
    if not failing:
        return
    bad = chunk.filter(~passes)
    if len(count.samples) < SAMPLE_SIZE:
        wanted = SAMPLE_SIZE - len(count.samples)
        if column is not None:
            count.samples.extend(bad[column].head(wanted).to_list())
        else:
            count.samples.extend(bad.drop(ROW_ID, strict=False).head(wanted).to_dicts())
    if keep_rows and ROW_ID in bad.columns:
        count.failing_rows.extend(bad[ROW_ID].to_list())
