"""`cdc_slot_lag`: how far each change-capture table's replication slot is behind its server.

Every evaluation records each CDC table's lag as an observation of its asset (`slot_lag_bytes`,
`slot_status`), and requests a load of the tables whose slot holds back more than
`LAG_THRESHOLD_BYTES` of WAL, so a slot that would otherwise grow until PostgreSQL invalidates
it is drained. A slot that is gone or lost is reported (`slot_status: lost` / `missing`): the
table's next load fails with the fix; the sensor never re-snapshots anything itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from dagster import (
    AssetKey,
    AssetObservation,
    AssetSelection,
    DefaultSensorStatus,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from platform_assets.config.base import SourceConfig
from platform_assets.sql_kind.config import SqlSource
from resources.env import interpolate

SENSOR_NAME = "cdc_slot_lag"
LAG_THRESHOLD_BYTES = 64 * 1024 * 1024
"""A slot holding back more WAL than this gets its table loaded."""


@dataclass(frozen=True)
class CdcTable:
    """A PostgreSQL CDC table: its asset, slot, and how to reach its server."""

    key: AssetKey
    slot: str
    connection: str
    """The source's connection template (`${VAR}` resolved at each evaluation)."""


def cdc_tables(sources: Sequence[SourceConfig]) -> list[CdcTable]:
    """Every `cdc: true` table of a PostgreSQL source."""
    found = [
        (source, table)
        for source in sources
        if isinstance(source, SqlSource) and source.dialect_or_none == "postgres"
        for table in source.tables
        if table.cdc
    ]
    if not found:
        return []
    # Change capture's module brings psycopg: imported only where a catalog has CDC tables.
    from platform_assets.sql_kind.cdc_postgres import slot_name

    return [
        CdcTable(AssetKey([s.name, t.name]), slot_name(s.name, t.name), s.connection)
        for s, t in found
    ]


def slot_report(table: CdcTable) -> tuple[str, int | None, str | None]:
    """(status, lag in bytes, confirmed LSN) of the table's slot: `ok`, `missing`, `lost`, or
    `unreachable: <error type>` (the message may hold the connection's secrets)."""
    import psycopg

    from resources import pg_cdc
    from resources.pgoutput import lsn_text

    try:
        with psycopg.connect(interpolate(table.connection), connect_timeout=10) as con:
            state = pg_cdc.slot_state(con, table.slot)
    except (psycopg.Error, ValueError) as error:
        return f"unreachable: {type(error).__name__}", None, None
    if state is None:
        return "missing", None, None
    if state.lost or state.confirmed_lsn is None:
        return "lost", state.lag_bytes, None
    return "ok", state.lag_bytes, lsn_text(state.confirmed_lsn)


def build_cdc_lag_sensor(
    sources: Sequence[SourceConfig],
    threshold_bytes: int = LAG_THRESHOLD_BYTES,
    report: Callable[[CdcTable], tuple[str, int | None, str | None]] = slot_report,
) -> SensorDefinition | None:
    """The sensor over every CDC table of the catalog, or None when there is none."""
    tables = cdc_tables(sources)
    if not tables:
        return None

    @sensor(
        name=SENSOR_NAME,
        target=AssetSelection.assets(*(t.key for t in tables)),
        minimum_interval_seconds=60,
        description=(
            "Reports each change-capture table's replication slot lag, and loads the tables "
            f"whose slot holds back more than {threshold_bytes:,} bytes of WAL."
        ),
        default_status=DefaultSensorStatus.RUNNING,
    )
    def _lag(context: SensorEvaluationContext) -> SensorResult:
        observations, requests, lines = [], [], []
        for table in tables:
            status, lag, confirmed = report(table)
            metadata: dict[str, str | int] = {"slot": table.slot, "slot_status": status}
            if lag is not None:
                metadata["slot_lag_bytes"] = lag
            observations.append(AssetObservation(asset_key=table.key, metadata=metadata))
            lines.append(f"{table.key.to_user_string()}: {status}, lag {lag} bytes")
            if status == "ok" and lag is not None and lag > threshold_bytes:
                requests.append(
                    RunRequest(
                        run_key=f"{table.slot}:{confirmed}",
                        asset_selection=[table.key],
                        tags={"tributary/trigger": SENSOR_NAME},
                    )
                )
        context.log.info("; ".join(lines))
        skip = None if requests else SkipReason("; ".join(lines))
        return SensorResult(run_requests=requests, asset_events=observations, skip_reason=skip)

    return _lag
