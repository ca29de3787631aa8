"""The quality gate: judge a batch inside the load's transaction, before it lands.

`QualityGate(...)(con, batch)` evaluates every rule of a table on the batch table and returns a
`Verdict`: the outcome of each rule, whether the batch is blocked, and which rows go to
quarantine. The writer then records the outcomes and acts on the verdict in the same transaction.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import duckdb

from checks.rules import CompiledChecks, Rule
from resources.duckdb_sql import quote
from resources.errors import TributaryError
from resources.uniqueness import KeyCounts, key_counts

# checks.evaluate (pandera, narwhals, polars) loads with the first batch a gate judges.

if TYPE_CHECKING:  # the catalog's model, read for its fields: the catalog imports this layer
    from platform_assets.config.base import TableConfig


class _Columns(dict[str, str]):
    """The batch's column types by name, found whatever the case, as DuckDB finds columns."""

    def __missing__(self, name: str) -> str:
        for column, kind in self.items():
            if column.lower() == name.lower():
                return kind
        raise KeyError(name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and any(c.lower() == name.lower() for c in self)


class CheckSetupError(TributaryError):
    """A rule cannot be evaluated on this batch (e.g. it names a column the batch lacks)."""


@dataclass
class CheckOutcome:
    rule: Rule
    passed: bool
    failures: int
    rows: int
    samples: list[Any] = field(default_factory=list)
    detail: str = ""

    @property
    def failure_rate(self) -> float:
        return self.failures / self.rows if self.rows else 0.0

    def metadata(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "rule": self.rule.description,
            "failing_rows": self.failures,
            "failure_rate": round(self.failure_rate, 6),
        }
        if self.samples:
            data["sample_failing_values"] = json.dumps(self.samples, default=str)
        if self.detail:
            data["detail"] = self.detail
        return data


@dataclass
class Verdict:
    outcomes: list[CheckOutcome]
    on_fail: str
    blocked: bool = False
    quarantine: dict[int, list[str]] = field(default_factory=dict)
    seconds: float = 0.0
    """How long judging the batch took."""
    key_counts: dict[tuple[str, ...], KeyCounts] = field(default_factory=dict)
    """What the `unique` rules counted (or were given), by column."""

    @property
    def failed_errors(self) -> list[CheckOutcome]:
        return [o for o in self.outcomes if not o.passed and o.rule.severity == "error"]

    def summary(self) -> str:
        failed = [o for o in self.outcomes if not o.passed]
        if not failed:
            return "all checks passed"
        return "; ".join(f"{o.rule.name} ({o.failures} failing)" for o in failed)


class QualityGate:
    """The compiled rules of one table and how to act on their failure (`on_fail`)."""

    def __init__(self, source: str, table: TableConfig, compiled: CompiledChecks) -> None:
        self.source = source
        self.table = table
        self.compiled = compiled

    def __call__(
        self,
        con: duckdb.DuckDBPyConnection,
        batch: str,
        known: Mapping[tuple[str, ...], KeyCounts] | None = None,
    ) -> Verdict:
        """Judge `batch`. `known` holds key counts already taken on it (by the writer, which
        resolves a merge's repeated keys first), so a `unique` rule on them is not counted
        again."""
        from checks.evaluate import count_failures

        started = time.perf_counter()
        columns = _Columns(
            (str(r[0]), str(r[1])) for r in con.execute(f"DESCRIBE {batch}").fetchall()
        )
        self._require_columns(columns)
        rows = int(con.execute(f"SELECT count(*) FROM {batch}").fetchone()[0])  # type: ignore[index]
        keep_rows = self.table.on_fail == "quarantine_rows"
        counts = count_failures(self.compiled, con, batch, keep_rows, rows)
        outcomes = []
        row_ids: dict[str, list[int]] = {}
        counted: dict[tuple[str, ...], KeyCounts] = dict(known or {})
        for rule in self.compiled.rules:
            if rule.name in counts:
                count = counts[rule.name]
                outcomes.append(
                    CheckOutcome(rule, count.failures == 0, count.failures, rows, count.samples)
                )
                row_ids[rule.name] = count.failing_rows
            elif rule.kind == "unique":
                outcomes.append(self._unique(con, batch, rule, rows, keep_rows, row_ids, counted))
            elif rule.kind == "dtype":
                outcomes.append(self._dtype(rule, columns, rows))
            elif rule.kind == "table":
                outcomes.append(
                    self._table_rule(con, batch, rule, columns, rows, keep_rows, row_ids)
                )
        verdict = self._verdict(outcomes, row_ids)
        verdict.key_counts = counted
        verdict.seconds = time.perf_counter() - started
        return verdict

    def _require_columns(self, columns: dict[str, str]) -> None:
        wanted = {r.column for r in self.compiled.rules if r.column and r.kind != "table"}
        wanted |= {c for c in self.compiled.schema.columns}
        if self.table.checks.max_age:
            wanted.add(self.table.checks.max_age.column)
        wanted |= {ref.column for ref in self.table.checks.references}
        for _, condition in self.compiled.expressions:
            wanted |= condition.columns
        missing = sorted(name for name in wanted if name not in columns)
        if missing:
            available = ", ".join(c for c in columns if not c.startswith("_"))
            raise CheckSetupError(
                f"checks name column(s) the batch does not have: {', '.join(missing)} "
                f"(it has: {available})"
            )

    def _unique(
        self,
        con: duckdb.DuckDBPyConnection,
        batch: str,
        rule: Rule,
        rows: int,
        keep_rows: bool,
        row_ids: dict[str, list[int]],
        counted: dict[tuple[str, ...], KeyCounts],
    ) -> CheckOutcome:
        """Counted first (polars' `n_unique`); the repeated values and their rows are fetched
        only when there are some."""
        from checks.evaluate import SAMPLE_SIZE

        assert rule.column is not None
        column = quote(rule.column)
        counts = counted.get((rule.column,)) or key_counts(con, batch, [rule.column])
        counted[(rule.column,)] = counts
        repeats = counts.repeats
        repeated = f"SELECT {column} FROM {batch} GROUP BY ALL HAVING count(*) > 1"
        samples = (
            [r[0] for r in con.execute(f"{repeated} LIMIT {SAMPLE_SIZE}").fetchall()]
            if repeats
            else []
        )
        if repeats and keep_rows:
            row_ids[rule.name] = [
                r[0]
                for r in con.execute(
                    f"SELECT rowid FROM {batch} WHERE {column} IN ({repeated})"
                ).fetchall()
            ]
        return CheckOutcome(rule, repeats == 0, repeats, rows, samples)

    def _dtype(self, rule: Rule, columns: dict[str, str], rows: int) -> CheckOutcome:
        assert rule.column is not None
        declared = self.table.checks.columns[rule.column].dtype
        assert declared is not None
        actual = columns[rule.column]
        passed = declared == actual
        detail = "" if passed else f"{rule.column} is {actual}, expected {declared}"
        return CheckOutcome(rule, passed, 0 if passed else rows, rows, detail=detail)

    def _table_rule(
        self,
        con: duckdb.DuckDBPyConnection,
        batch: str,
        rule: Rule,
        columns: dict[str, str],
        rows: int,
        keep_rows: bool,
        row_ids: dict[str, list[int]],
    ) -> CheckOutcome:
        checks = self.table.checks
        if rule.name == "row_count" and checks.row_count:
            low, high = checks.row_count.min, checks.row_count.max
            passed = (low is None or rows >= low) and (high is None or rows <= high)
            return CheckOutcome(rule, passed, 0 if passed else rows, rows, detail=f"{rows} rows")
        if rule.name == "volume_anomaly" and checks.volume_anomaly:
            return self._volume(con, rule, rows)
        if rule.name == "schema_change":
            return self._schema_change(con, rule, columns, rows)
        if rule.name.startswith("references_"):
            reference = next(r for r in checks.references if r.column == rule.column)
            return self._reference(
                con, batch, rule, reference.column, reference.to, rows, keep_rows, row_ids
            )
        assert checks.max_age is not None
        return self._max_age(con, batch, rule, rows)

    def _volume(self, con: duckdb.DuckDBPyConnection, rule: Rule, rows: int) -> CheckOutcome:
        assert self.table.checks.volume_anomaly is not None
        volume = self.table.checks.volume_anomaly
        history = [
            r[0]
            for r in con.execute(
                "SELECT rows_in FROM _tributary.loads WHERE source = ? AND table_name = ? "
                "AND status = 'succeeded' ORDER BY finished_at DESC LIMIT ?",
                [self.source, self.table.name, volume.lookback],
            ).fetchall()
        ]
        if len(history) < 2:
            return CheckOutcome(rule, True, 0, rows, detail="not enough history yet")
        low = min(history) * (1 - volume.tolerance)
        high = max(history) * (1 + volume.tolerance)
        passed = low <= rows <= high
        return CheckOutcome(
            rule,
            passed,
            0 if passed else rows,
            rows,
            detail=f"{rows} rows; expected {low:.0f}..{high:.0f} from {len(history)} loads",
        )

    def _schema_change(
        self, con: duckdb.DuckDBPyConnection, rule: Rule, columns: dict[str, str], rows: int
    ) -> CheckOutcome:
        stored = con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
            [self.source, self.table.name],
        ).fetchall()
        if not stored:
            return CheckOutcome(rule, True, 0, rows, detail="first load")
        before = {str(n): str(t) for n, t in stored if not str(n).startswith("_")}
        now = {n: t for n, t in columns.items() if not n.startswith("_")}
        changes = [f"+{n} {t}" for n, t in now.items() if n not in before]
        changes += [f"-{n}" for n in before if n not in now]
        changes += [
            f"{n}: {before[n]} -> {t}" for n, t in now.items() if n in before and before[n] != t
        ]
        return CheckOutcome(
            rule, not changes, 0, rows, samples=changes[:5], detail="; ".join(changes)
        )

    def _reference(
        self,
        con: duckdb.DuckDBPyConnection,
        batch: str,
        rule: Rule,
        column: str,
        target: str,
        rows: int,
        keep_rows: bool,
        row_ids: dict[str, list[int]],
    ) -> CheckOutcome:
        schema, table, target_column = target.split(".", 2)  # a kept name may hold dots
        exists = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? "
            "AND table_name = ?",
            [schema, table],
        ).fetchone()
        if not exists or not exists[0]:
            return CheckOutcome(rule, False, rows, rows, detail=f"{schema}.{table} does not exist")
        orphans = (
            f"FROM {batch} b WHERE b.{quote(column)} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM "
            f"{quote(schema)}.{quote(table)} r WHERE r.{quote(target_column)} = b.{quote(column)})"
        )
        failures = int(con.execute(f"SELECT count(*) {orphans}").fetchone()[0])  # type: ignore[index]
        samples = (
            [
                r[0]
                for r in con.execute(
                    f"SELECT DISTINCT b.{quote(column)} {orphans} LIMIT 5"
                ).fetchall()
            ]
            if failures
            else []
        )
        if failures and keep_rows:
            row_ids[rule.name] = [r[0] for r in con.execute(f"SELECT b.rowid {orphans}").fetchall()]
        return CheckOutcome(rule, failures == 0, failures, rows, samples)

    def _max_age(
        self, con: duckdb.DuckDBPyConnection, batch: str, rule: Rule, rows: int
    ) -> CheckOutcome:
        assert self.table.checks.max_age is not None
        age = self.table.checks.max_age
        newest = con.execute(
            f"SELECT max({quote(age.column)})::TIMESTAMPTZ FROM {batch}"
        ).fetchone()[0]  # type: ignore[index]
        if newest is None:
            return CheckOutcome(rule, False, rows, rows, detail=f"{age.column} is always null")
        newest_utc = newest if newest.tzinfo else newest.replace(tzinfo=UTC)
        passed = datetime.now(UTC) - newest_utc <= age.max_age
        return CheckOutcome(
            rule,
            passed,
            0 if passed else rows,
            rows,
            detail=f"newest {age.column}: {newest_utc.isoformat()}",
        )

    def _verdict(self, outcomes: list[CheckOutcome], row_ids: dict[str, list[int]]) -> Verdict:
        verdict = Verdict(outcomes, self.table.on_fail)
        failed = verdict.failed_errors
        if not failed or self.table.on_fail == "warn":
            return verdict
        if self.table.on_fail == "block" or any(not o.rule.row_level for o in failed):
            verdict.blocked = True
            return verdict
        for outcome in failed:
            for row in row_ids.get(outcome.rule.name, []):
                verdict.quarantine.setdefault(row, []).append(outcome.rule.name)
        if outcomes and len(verdict.quarantine) >= outcomes[0].rows:
            verdict.blocked, verdict.quarantine = True, {}
        return verdict
