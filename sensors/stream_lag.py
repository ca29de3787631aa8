"""`kind: stream`, `trigger: continuous`: one sensor per stream table. Each tick it asks the
broker how many messages wait for the table's consumer group, records that as an asset
observation (`consumer_lag`), and launches a run of the table when messages wait and no run of
it is queued or in progress, so one table never has two runs at once.

With the source's `lag_alert`, it alerts once when the lag passes it while growing, and once when
it is back under it (the cursor keeps the last lag and whether an alert is open)."""

import json
from typing import TYPE_CHECKING, Any

from dagster import (
    AssetKey,
    AssetObservation,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)

from platform_assets.config.base import SourceConfig
from platform_assets.stream_kind.assets import STREAM_TABLE_TAG, StreamConsumers
from platform_assets.stream_kind.config import StreamSource, StreamTable
from resources.alerts import AlertSink
from resources.streams.base import BrokerError

if TYPE_CHECKING:  # what `define_asset_job` returns; Dagster exports it under no public name
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )

ACTIVE = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
]


def sensor_name(source: SourceConfig, table: StreamTable) -> str:
    return f"{source.name}__{table.name}_stream"


def build_stream_sensor(
    source: StreamSource, table: StreamTable, job: "UnresolvedAssetJobDefinition"
) -> SensorDefinition:
    """The table's sensor: its run requests launch `job` (a job of every table, shared by
    every sensor and schedule) selecting the table."""
    key = AssetKey([source.name, table.name])
    name = f"{source.name}.{table.name}"

    @sensor(
        name=sensor_name(source, table),
        job=job,
        minimum_interval_seconds=max(1, int(source.sensor_interval.total_seconds())),
        description=f"Runs {name} while messages wait on {table.stream!r}.",
        default_status=DefaultSensorStatus.RUNNING,
    )
    def _stream(
        context: SensorEvaluationContext, streams: StreamConsumers, alerts: AlertSink
    ) -> SensorResult:
        previous: dict[str, Any] = json.loads(context.cursor) if context.cursor else {}
        try:
            broker = streams.open(source, table)
            try:
                lag = broker.lag()
            finally:
                broker.close()
        except BrokerError as error:
            return SensorResult(skip_reason=f"{name}: {error}")
        observed = AssetObservation(
            asset_key=key,
            metadata={"consumer_lag": lag if lag is not None else "unknown"},
        )
        alerted = _alert(alerts, source, name, previous, lag)
        cursor = json.dumps({"lag": lag, "alerted": alerted})
        if lag == 0:
            return SensorResult(
                skip_reason="no message waits", asset_events=[observed], cursor=cursor
            )
        active = context.instance.get_run_records(
            filters=RunsFilter(tags={STREAM_TABLE_TAG: name}, statuses=ACTIVE), limit=1
        )
        if active:
            return SensorResult(
                skip_reason=f"a run of {name} is in progress ({active[0].dagster_run.run_id})",
                asset_events=[observed],
                cursor=cursor,
            )
        request = RunRequest(
            asset_selection=[key],
            tags={
                "tributary/source": source.name,
                "tributary/trigger": "stream",
                STREAM_TABLE_TAG: name,
            },
        )
        return SensorResult(run_requests=[request], asset_events=[observed], cursor=cursor)

    return _stream


def _alert(
    alerts: AlertSink, source: StreamSource, name: str, previous: dict[str, Any], lag: int | None
) -> bool:
    """Whether an alert is open after this tick; sends one when the lag passes `lag_alert`
    while growing, and one when it is back under it."""
    limit, was = source.lag_alert, bool(previous.get("alerted"))
    if limit is None or lag is None:
        return was
    last = previous.get("lag")
    if not was and lag > limit and (last is None or lag > int(last)):
        alerts.send(
            "stream_lag",
            f"{name}:{lag}",
            {
                "asset": name,
                "source": source.name,
                "owner": source.owner,
                "lag": lag,
                "previous_lag": last,
                "lag_alert": limit,
            },
        )
        return True
    if was and lag <= limit:
        alerts.send(
            "stream_lag_recovered",
            f"{name}:{lag}",
            {
                "asset": name,
                "source": source.name,
                "owner": source.owner,
                "lag": lag,
                "lag_alert": limit,
            },
        )
        return False
    return was


def build_stream_sensors(
    sources: tuple[SourceConfig, ...], job: "UnresolvedAssetJobDefinition"
) -> list[SensorDefinition]:
    return [
        build_stream_sensor(source, table, job)
        for source in sources
        if isinstance(source, StreamSource) and source.trigger == "continuous"
        for table in source.tables
    ]
