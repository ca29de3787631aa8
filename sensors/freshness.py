"""Freshness alerts: one alert when a table turns stale (past `warn_after` or `fail_after` since
its last materialization) and one when it recovers, not one per tick. The sensor's cursor keeps
each table's last state; the windows come from the catalog's `freshness`."""

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal

from dagster import (
    AssetKey,
    DagsterInstance,
    DefaultSensorStatus,
    SensorDefinition,
    SensorEvaluationContext,
    SkipReason,
    sensor,
)

from platform_assets.config.base import Freshness, SourceConfig
from resources.alerts import AlertSink

State = Literal["missing", "fresh", "warn", "fail"]
SENSOR_NAME = "freshness_alerts"
Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def freshness_state(
    instance: DagsterInstance, key: AssetKey, freshness: Freshness, now: datetime
) -> tuple[State, datetime | None]:
    """The table's state at `now`, and when it last materialized."""
    event = instance.get_latest_materialization_event(key)
    if event is None:
        return "missing", None
    last = datetime.fromtimestamp(event.timestamp, UTC)
    age = now - last
    if age > freshness.fail_after:
        return "fail", last
    if freshness.warn_after is not None and age > freshness.warn_after:
        return "warn", last
    return "fresh", last


def _alert_for(before: State | None, after: State) -> str | None:
    """`stale` when a table crosses into warn or fail, `recovered` when it is fresh again."""
    if after in ("warn", "fail") and before != after:
        return "stale"
    if after == "fresh" and before in ("warn", "fail"):
        return "recovered"
    return None


def build_freshness_sensor(
    sources: tuple[SourceConfig, ...], clock: Clock = _utc_now
) -> SensorDefinition | None:
    watched = {
        AssetKey([source.name, table.name]): (source, source.freshness)
        for source in sources
        if source.freshness is not None
        for table in source.tables
    }
    if not watched:
        return None

    @sensor(
        name=SENSOR_NAME,
        minimum_interval_seconds=60,
        description="Alerts once when a table turns stale and once when it recovers.",
        default_status=DefaultSensorStatus.RUNNING,
    )
    def _freshness(context: SensorEvaluationContext, alerts: AlertSink) -> SkipReason:
        previous: dict[str, State] = json.loads(context.cursor) if context.cursor else {}
        now = clock()
        states: dict[str, State] = {}
        sent = 0
        for key, (source, freshness) in watched.items():
            assert freshness is not None
            name = ".".join(key.path)
            state, last = freshness_state(context.instance, key, freshness, now)
            states[name] = state
            change = _alert_for(previous.get(name), state)
            if change is None:
                continue
            alerts.send(
                f"freshness_{change}",
                f"{name}:{state}:{now.isoformat()}",
                {
                    "asset": name,
                    "source": source.name,
                    "owner": source.owner,
                    "state": state,
                    "previous_state": previous.get(name),
                    "last_materialized_at": last.isoformat() if last else None,
                    "warn_after_seconds": freshness.warn_after.total_seconds()
                    if freshness.warn_after
                    else None,
                    "fail_after_seconds": freshness.fail_after.total_seconds(),
                },
                now=now,
            )
            sent += 1
        context.update_cursor(json.dumps(states, sort_keys=True))
        return SkipReason(f"{sent} freshness alert(s) sent; the sensor launches no runs")

    return _freshness
