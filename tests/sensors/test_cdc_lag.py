"""The slot lag sensor: each CDC table's lag observed, a lagging slot's table loaded."""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg
from dagster import AssetKey, DagsterInstance, build_sensor_context

from platform_assets.sql_kind.cdc_postgres import PostgresCdc
from platform_assets.sql_kind.config import SqlSource
from resources.warehouse import Warehouse
from resources.write_dispositions import WriteSpec
from sensors.cdc_lag import build_cdc_lag_sensor
from tests.servers.postgres import PostgresServer


def test_lag_is_observed_and_a_lagging_slot_gets_its_table_loaded(
    logical_postgres: PostgresServer, tmp_path: Path
) -> None:
    url, name = logical_postgres.url, f"cdc19_lag_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as con:
        con.execute(f"CREATE TABLE {name} (id int PRIMARY KEY, note text)")
    source = SqlSource.model_validate(
        {
            "name": "lagsrc",
            "kind": "sql",
            "connection": url,
            "tables": [
                {
                    "name": name,
                    "table": f"public.{name}",
                    "primary_key": "id",
                    "write": "merge",
                    "cdc": True,
                }
            ],
        }
    )
    sensor = build_cdc_lag_sensor((source,), threshold_bytes=50_000)
    assert sensor is not None
    key = AssetKey(["lagsrc", name])
    instance = DagsterInstance.ephemeral()

    def evaluate() -> tuple[list[str], dict[str, object]]:
        result = sensor.evaluate_tick(build_sensor_context(instance=instance))
        observed = {
            k: v.value
            for event in result.asset_events
            if event.asset_key == key
            for k, v in event.metadata.items()
        }
        return [str(r.asset_selection) for r in result.run_requests], observed

    requests, observed = evaluate()
    assert requests == [] and observed["slot_status"] == "missing"  # not loaded yet
    warehouse = Warehouse(path=str(tmp_path / "w.duckdb"), staging_dir=str(tmp_path / "st"))
    cdc = PostgresCdc(url, "lagsrc", name, "public", name, soft_delete=True)
    try:
        cdc.load(warehouse, WriteSpec("lagsrc", name, "merge", ("id",)))
        requests, observed = evaluate()
        assert requests == [] and observed["slot_status"] == "ok"
        with psycopg.connect(url, autocommit=True) as con:
            con.execute(
                f"INSERT INTO {name} SELECT g, repeat('x', 100) FROM generate_series(1, 2000) g"
            )
        requests, observed = evaluate()
        assert observed["slot_status"] == "ok"
        assert isinstance(observed["slot_lag_bytes"], int) and observed["slot_lag_bytes"] > 50_000
        assert requests == [str([key])]
        cdc.load(warehouse, WriteSpec("lagsrc", name, "merge", ("id",)))
        requests, observed = evaluate()
        assert requests == [] and observed["slot_lag_bytes"] < 50_000
    finally:
        with psycopg.connect(url, autocommit=True) as con:
            con.execute("SELECT pg_drop_replication_slot(%s)", [cdc.slot])
            con.execute(f"DROP TABLE {name}")
