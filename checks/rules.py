"""Compile a table's `checks:` into a pandera (polars) schema and the list of rules it enforces.

Per-column value checks and `nullable` live in the pandera schema (with a `DataFrameModel`'s
own checks); SQL `expressions` are kept as SQL. `unique`, `dtype` and the table-level rules are
answered by the warehouse with aggregates (see `checks.gate`). Every rule has a stable name,
which is also the name of its Dagster asset check.

The rules (names, severities, descriptions) are what definitions need; the pandera schema is
built when a batch is first judged, so building a catalog's assets never loads pandera.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

from resources.naming import snake_case

if TYPE_CHECKING:  # the catalog's models, read for their fields: the catalog imports this layer
    import pandera.polars as pa

    from checks.expressions import RowCondition
    from platform_assets.config.checks import ColumnChecks, TableChecks

RuleKind = Literal["value", "not_null", "expression", "unique", "dtype", "table", "model"]


@dataclass(frozen=True)
class Rule:
    name: str
    kind: RuleKind
    severity: str
    description: str
    column: str | None = None

    @property
    def row_level(self) -> bool:
        """Failures point at rows, which `quarantine_rows` can set aside."""
        return self.kind in ("value", "not_null", "expression", "unique", "model")


@dataclass(frozen=True)
class CompiledChecks:
    checks: TableChecks
    rules: tuple[Rule, ...]
    model: pa.DataFrameSchema | None = field(default=None, repr=False)
    """The schema of the `DataFrameModel` the checks name, if any."""

    @cached_property
    def schema(self) -> pa.DataFrameSchema:
        """The pandera schema of the column rules (and the named model's), built on first use."""
        import pandera.polars as pa

        columns = {
            name: pa.Column(nullable=spec.nullable, checks=value_checks(name, spec, []), name=name)
            for name, spec in self.checks.columns.items()
        }
        schema = pa.DataFrameSchema(columns)
        return schema if self.model is None else _merge(schema, self.model)

    @cached_property
    def expressions(self) -> tuple[tuple[str, RowCondition], ...]:
        """The row-level SQL rules, by rule name, parsed on first use."""
        from checks.expressions import parse_condition

        return tuple((e.name, parse_condition(e.expr)) for e in self.checks.expressions)

    def rule(self, name: str) -> Rule:
        return next(r for r in self.rules if r.name == name)


def compile_checks(checks: TableChecks) -> CompiledChecks:
    """The rules of `checks`, each named as its asset check; the pandera schema that runs the
    column rules is built when first asked for. Raises ValueError when two rules share a name
    or the named `DataFrameModel` cannot be imported."""
    rules: list[Rule] = []
    for name, spec in checks.columns.items():
        label = rule_label(name)
        rules.extend(
            Rule(f"{label}_{suffix}", "value", spec.severity, description, name)
            for suffix, description, _check in _value_rules(name, spec)
        )
        if not spec.nullable:
            rules.append(
                Rule(f"{label}_not_null", "not_null", spec.severity, f"{name} is never null", name)
            )
        if spec.unique:
            rules.append(
                Rule(f"{label}_unique", "unique", spec.severity, f"{name} values are unique", name)
            )
        if spec.dtype:
            rules.append(
                Rule(
                    f"{label}_dtype",
                    "dtype",
                    spec.severity,
                    f"{name} has type {spec.dtype}",
                    name,
                )
            )
    for expression in checks.expressions:
        rules.append(
            Rule(
                expression.name,
                "expression",
                expression.severity,
                f"every row satisfies: {expression.expr}",
            )
        )
    rules.extend(_table_rules(checks))
    model = None
    if checks.schema_model:
        model = load_model(checks.schema_model)
        rules.extend(_model_rules(model))
    names = [r.name for r in rules]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"checks: two rules are named {', '.join(repeated)}")
    return CompiledChecks(checks=checks, rules=tuple(rules), model=model)


def _value_rules(name: str, spec: ColumnChecks) -> list[tuple[str, str, Callable[[], pa.Check]]]:
    """Column `name`'s value rules: (suffix, description, the pandera built-in that runs it,
    made when called)."""
    found: list[tuple[str, str, Callable[[], pa.Check]]] = []
    if (low := spec.min) is not None:
        found.append(("min", f"{name} >= {low:g}", lambda: _pa().Check.ge(low)))
    if (high := spec.max) is not None:
        found.append(("max", f"{name} <= {high:g}", lambda: _pa().Check.le(high)))
    if (isin := spec.isin) is not None:
        allowed = ", ".join(map(str, isin))
        found.append(("isin", f"{name} is one of {allowed}", lambda: _pa().Check.isin(list(isin))))
    if (pattern := spec.regex) is not None:
        found.append(("regex", f"{name} matches {pattern}", lambda: _str_matches(pattern)))
    if (bounds := spec.str_length) is not None:
        shortest, longest = bounds.min, bounds.max
        if shortest == longest:
            # One comparison: a range makes DuckDB compute each value's length twice.
            length = f"{name} has length {shortest}"
            found.append(
                ("str_length", length, lambda: _pa().Check.str_length(exact_value=shortest))
            )
        else:
            length = f"{name} has length {shortest or 0}..{'any' if longest is None else longest}"
            found.append(("str_length", length, lambda: _pa().Check.str_length(shortest, longest)))
    return found


def _pa() -> Any:
    """pandera's polars API, imported when the first check is made."""
    import pandera.polars as pa

    return pa


def value_checks(name: str, spec: ColumnChecks, rules: list[Rule]) -> list[pa.Check]:
    """The pandera built-ins for column `name`'s value rules, each named `<name>_<rule>`; their
    `Rule`s are appended to `rules`."""
    checks = []
    for suffix, description, make in _value_rules(name, spec):
        check = make()
        check.name = f"{rule_label(name)}_{suffix}"
        rules.append(Rule(check.name, "value", spec.severity, description, name))
        checks.append(check)
    return checks


def _str_matches(pattern: str) -> pa.Check:
    """pandera's `str_matches`, without its test compile by Python's `re`: DuckDB runs the
    pattern, with RE2's syntax (`\\p{Greek}` is RE2's, look-arounds are Python's only), and
    the catalog has had DuckDB compile it."""
    import pandera.polars as pa

    check: pa.Check = pa.Check.from_builtin_check_name(
        "str_matches",
        {},
        error=f"str_matches('{pattern}')",
        defaults={"determined_by_unique": True},
        statistics={"pattern": pattern},
        pattern=pattern,
    )
    return check


def _table_rules(checks: TableChecks) -> list[Rule]:
    rules = []
    if (count := checks.row_count) is not None:
        bounds = f"between {count.min or 0} and {count.max if count.max is not None else 'any'}"
        rules.append(Rule("row_count", "table", count.severity, f"the batch has {bounds} rows"))
    if (volume := checks.volume_anomaly) is not None:
        rules.append(
            Rule(
                "volume_anomaly",
                "table",
                volume.severity,
                f"the row count is within ±{volume.tolerance:.0%} of the range of the "
                f"last {volume.lookback} loads",
            )
        )
    if (change := checks.schema_change) is not None:
        rules.append(
            Rule(
                "schema_change", "table", change.severity, "the columns are those of the last load"
            )
        )
    for reference in checks.references:
        rules.append(
            Rule(
                f"references_{rule_label(reference.column)}",
                "table",
                reference.severity,
                f"every {reference.column} exists in {reference.to}",
                reference.column,
            )
        )
    if (age := checks.max_age) is not None:
        rules.append(
            Rule(
                f"max_age_{rule_label(age.column)}",
                "table",
                age.severity,
                f"the newest {age.column} is at most {age.max_age} old",
                age.column,
            )
        )
    return rules


def rule_label(column: str) -> str:
    """A column as it appears in rule (and Dagster asset check) names, which allow only
    letters, digits and `_`: its snake_case form (`Body Mass (g)` → `body_mass_g`)."""
    return snake_case(column)


def rule_name(column: str | None, check: pa.Check) -> str:
    """The rule (and asset check) name of a pandera check: `<column>_<check>`."""
    name = str(check.name)
    if column is None or name.startswith(f"{rule_label(column)}_"):
        return name
    return f"{rule_label(column)}_{name}"


def load_model(path: str) -> pa.DataFrameSchema:
    """The schema of a pandera `DataFrameModel` named `package.module:Model`."""
    import pandera.polars as pa

    module_name, _, attribute = path.partition(":")
    try:
        model = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"schema: cannot import {path}: {error}") from None
    if not (isinstance(model, type) and issubclass(model, pa.DataFrameModel)):
        raise ValueError(f"schema: {path} is not a pandera polars DataFrameModel")
    schema: pa.DataFrameSchema = model.to_schema()
    return schema


def _model_rules(schema: pa.DataFrameSchema) -> list[Rule]:
    rules = []
    for name, column in schema.columns.items():
        if not column.nullable:
            rules.append(
                Rule(f"{name}_not_null", "not_null", "error", f"{name} is never null", name)
            )
        for check in column.checks:
            rules.append(
                Rule(rule_name(name, check), "model", "error", str(check.error or check.name), name)
            )
    for check in schema.checks:
        rules.append(Rule(str(check.name), "model", "error", str(check.error or check.name)))
    return rules


def _merge(schema: pa.DataFrameSchema, model: pa.DataFrameSchema) -> pa.DataFrameSchema:
    import pandera.polars as pa

    columns = {**schema.columns, **model.columns}
    return pa.DataFrameSchema(columns, checks=[*schema.checks, *model.checks])
