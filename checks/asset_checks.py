"""A table's quality rules as Dagster asset checks: specs at definition time, results per load."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import TYPE_CHECKING

from dagster import (
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
)

from checks.rules import CompiledChecks

if TYPE_CHECKING:  # read for its fields: the gate itself loads with the first batch judged
    from checks.gate import Verdict


def check_specs(key: AssetKey, compiled: CompiledChecks) -> list[AssetCheckSpec]:
    """One check per rule; error-severity rules block downstream assets when they fail."""
    return [
        AssetCheckSpec(
            name=rule.name,
            asset=key,
            blocking=rule.severity == "error",
            description=rule.description,
        )
        for rule in compiled.rules
    ]


def check_results(
    key: AssetKey, verdict: Verdict, selected: Collection[AssetCheckKey]
) -> Iterator[AssetCheckResult]:
    """A failure is an ERROR (failing the run, skipping downstream) only when it kept the batch
    out; when bad rows were quarantined, or `on_fail: warn` let them land, it is a WARN."""
    for outcome in verdict.outcomes:
        if AssetCheckKey(key, outcome.rule.name) not in selected:
            continue
        refused = verdict.blocked and outcome.rule.severity == "error"
        severity = AssetCheckSeverity.ERROR if refused else AssetCheckSeverity.WARN
        yield AssetCheckResult(
            asset_key=key,
            check_name=outcome.rule.name,
            passed=outcome.passed,
            severity=severity,
            metadata={**outcome.metadata(), "on_fail": verdict.on_fail},
        )
