"""`kind: stream` through Dagster: a catalog YAML, a run, its metadata and checks."""

from __future__ import annotations

import json

from dagster import AssetCheckKey, AssetKey

from tests.conftest import Project
from tests.streams import redis_publish, redis_stream

CATALOG = """
name: signals
kind: stream
broker: {{type: redis, url: "${{STREAM20A_REDIS:-redis://127.0.0.1:6379/0}}"}}
lag_alert: 5
tables:
  - name: pulse
    stream: {stream}
    primary_key: signal_id
    write: merge
    max_batch: 4
    max_wait: 0.2s
    checks:
      columns:
        value: {{min: 0}}
"""


def test_a_run_lands_the_stream_and_reports_lag_and_dead_letters(project: Project) -> None:
    with redis_stream() as stream:
        project.source("signals", CATALOG.format(stream=stream))
        good = [json.dumps({"signal_id": i, "value": i}) for i in range(9)]
        redis_publish(stream, [*good, "not json", json.dumps({"signal_id": 50, "value": -3})])
        report = project.run("signals")
        assert report.success, report.failures
        assert project.scalar("SELECT count(*) FROM signals.pulse") == 9
        assert project.scalar("SELECT count(*) FROM _tributary.dead_letters") == 2
        key = AssetKey(["signals", "pulse"])
        event = project.instance.get_latest_materialization_event(key)
        assert event is not None and event.asset_materialization is not None
        metadata = {k: v.value for k, v in event.asset_materialization.metadata.items()}
        assert metadata["messages"] == 11 and metadata["batches"] == 3
        assert metadata["lag_before"] == 11 and metadata["lag_after"] == 0
        assert metadata["dead_letters"] == 2 and metadata["batch_size_max"] == 4
        checks = project.instance.event_log_storage.get_latest_asset_check_execution_by_key(
            [AssetCheckKey(key, "consumer_lag"), AssetCheckKey(key, "value_min")]
        )
        lag = checks[AssetCheckKey(key, "consumer_lag")].evaluation
        assert lag is not None and lag.passed
        value = checks[AssetCheckKey(key, "value_min")].evaluation
        assert value is not None and not value.passed  # the poison row, dead-lettered


def test_a_broker_that_cannot_be_reached_fails_the_table_in_one_line(
    project: Project, monkeypatch: object
) -> None:
    import pytest

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    monkeypatch.setenv("STREAM20A_REDIS", "redis://127.0.0.1:1/0")
    project.source(
        "signals",
        CATALOG.format(stream="nowhere")
        .replace("lag_alert: 5\n", "")
        .replace("broker: {", "broker: {reconnect_attempts: 1, "),
    )
    report = project.run("signals")
    assert not report.success
    (line,) = report.failures
    assert line.startswith("source 'signals', table 'pulse': redis redis://127.0.0.1:1/0")
    assert not (project.root / "warehouse.duckdb").exists() or project.query(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'signals'"
    ) == [(0,)]
