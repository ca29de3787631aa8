"""Evaluate a compiled pandera schema over a batch: one polars pass counts every rule's failures.

Each pandera check yields its boolean output; all of them are summed in a single `select`, so
the cost is one pass over the data however many rules there are. Samples and failing row ids are
extracted only for rules that failed. Nulls are judged by `nullable` alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pandera.polars as pa
import polars as pl

from checks.rules import ROW_WISE, CompiledChecks, rule_name

ROW_ID = "__row_id"
SAMPLE_SIZE = 5


@dataclass
class RuleCount:
    """What the pass found for one rule, accumulated over the chunks of a batch."""

    failures: int = 0
    samples: list[Any] = field(default_factory=list)
    failing_rows: list[pl.Series] = field(default_factory=list)


def _outputs(
    schema: pa.DataFrameSchema, frame: pl.LazyFrame
) -> tuple[dict[str, pl.LazyFrame], dict[str, pl.LazyFrame]]:
    """Each rule's pandera boolean output (true = passes): those known to give one value per row,
    and the frame-wide checks of a model, which may give a single value for the whole frame."""
    rows: dict[str, pl.LazyFrame] = {}
    frames: dict[str, pl.LazyFrame] = {}
    for name, column in schema.columns.items():
        if not column.nullable:
            rows[f"{name}_not_null"] = frame.select(pl.col(name).is_not_null())
        for check in column.checks:
            rows[rule_name(name, check)] = check(frame, name).check_output
    for check in schema.checks:
        row_wise = (check.statistics or {}).get(ROW_WISE, False)
        (rows if row_wise else frames)[rule_name(None, check)] = check(frame).check_output
    return rows, frames


def count_failures(
    compiled: CompiledChecks, chunks: Iterable[pl.DataFrame], keep_rows: bool
) -> dict[str, RuleCount]:
    """Failures per row-level rule over all `chunks` (each with a `__row_id` column when
    `keep_rows`, whose failing ids are then kept for quarantine)."""
    counts: dict[str, RuleCount] = {}
    for chunk in chunks:
        outputs, frame_outputs = _outputs(compiled.schema, chunk.lazy())
        for name, output in frame_outputs.items():
            _count_frame_check(compiled, name, output, chunk, counts, keep_rows)
        if not outputs:
            continue
        passes = pl.concat(
            [out.select(pl.first().fill_null(True).alias(name)) for name, out in outputs.items()],
            how="horizontal",
        )
        totals = passes.select([(~pl.col(name)).sum().alias(name) for name in outputs]).collect()
        failed = [name for name in outputs if totals[name][0]]
        for name in outputs:
            counts.setdefault(name, RuleCount()).failures += int(totals[name][0] or 0)
        if failed:
            _collect_failures(compiled, chunk, passes.collect(), failed, counts, keep_rows)
    return counts


def _count_frame_check(
    compiled: CompiledChecks,
    name: str,
    output: pl.LazyFrame,
    chunk: pl.DataFrame,
    counts: dict[str, RuleCount],
    keep_rows: bool,
) -> None:
    """A model's frame-wide check: row-wise if it yields a value per row, else one verdict."""
    passes = output.select(pl.first().fill_null(True).alias(name)).collect()
    count = counts.setdefault(name, RuleCount())
    failing = int((~passes[name]).sum())
    if passes.height != chunk.height:
        count.failures = max(count.failures, 1 if failing else 0)
        return
    count.failures += failing
    if failing:
        _collect_failures(compiled, chunk, passes, [name], counts, keep_rows)


def _collect_failures(
    compiled: CompiledChecks,
    chunk: pl.DataFrame,
    passes: pl.DataFrame,
    failed: list[str],
    counts: dict[str, RuleCount],
    keep_rows: bool,
) -> None:
    for name in failed:
        count = counts[name]
        bad = chunk.filter(~passes[name])
        rule = compiled.rule(name)
        if len(count.samples) < SAMPLE_SIZE:
            wanted = SAMPLE_SIZE - len(count.samples)
            if rule.column is not None:
                values = bad[rule.column].head(wanted).to_list()
            else:
                values = bad.drop(ROW_ID, strict=False).head(wanted).to_dicts()
            count.samples.extend(values)
        if keep_rows and ROW_ID in bad.columns:
            count.failing_rows.append(bad[ROW_ID])


def uniqueness(values: pl.Series) -> tuple[int, list[Any]]:
    """(rows beyond the first of each repeated value, up to 5 repeated values).

    `n_unique` answers the common case fast; the duplicates are extracted only when it fails.
    """
    present = values.drop_nulls()
    repeats = present.len() - present.n_unique()
    if repeats == 0:
        return 0, []
    duplicated = present.filter(present.is_duplicated()).unique(maintain_order=True)
    return repeats, duplicated.head(SAMPLE_SIZE).to_list()
