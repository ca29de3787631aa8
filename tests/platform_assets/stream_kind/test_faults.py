"""Faults against real brokers: a consumer killed (-9) between the commit and the ack, a
connection dropped or a broker restarted mid-drain. Every message lands exactly once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import redis

from platform_assets.stream_kind.config import StreamSource
from resources.streams.base import Message
from resources.warehouse import Warehouse
from tests.platform_assets.stream_kind.test_drain import (
    rows,
    run,
    signal,
    source_of,
    stream_of,
    warehouse_in,
)
from tests.streams import REDIS_URL, NatsServer, nats_publish, nats_stream

REPO = Path(__file__).resolve().parents[3]
TABLE = "SELECT * EXCLUDE (_load_id, _loaded_at) FROM signals.pulse ORDER BY _message_id"


def _kill_between_commit_and_ack(source: dict[str, Any], directory: Path, batch: int) -> None:
    directory.mkdir()
    process = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.platform_assets.stream_kind.crash_consumer",
            json.dumps(source),
            str(directory),
            str(batch),
        ],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert process.returncode == -9, process.stderr
    assert "killing before the ack" in process.stdout


def test_kill_9_between_commit_and_ack_replays_into_an_identical_table(tmp_path: Path) -> None:
    for kind in ("redis", "nats"):
        with stream_of(kind) as (broker, stream, publish):
            publish([signal(i) for i in range(40)] + ["bad"] + [signal(i) for i in range(40, 60)])
            settings: dict[str, Any] = {
                "name": "signals",
                "kind": "stream",
                "broker": broker,
                "tables": [
                    {
                        "name": "pulse",
                        "stream": stream,
                        "max_batch": 16,
                        "max_wait": "0.2s",
                        "group": "crashing",
                    }
                ],
            }
            crashed = tmp_path / f"{kind}-crashed"
            _kill_between_commit_and_ack(settings, crashed, batch=2)
            warehouse = Warehouse(path=str(crashed / "w.duckdb"), staging_dir=str(crashed / "s"))
            assert rows(warehouse, "SELECT count(*) FROM signals.pulse") == [(32,)]
            if kind == "nats":
                time.sleep(2.2)  # ack_wait: JetStream redelivers what was never acknowledged
            source = StreamSource.model_validate(settings)
            replay = run(source, warehouse, consumer="crash")
            assert replay.lag_after == 0 and replay.replayed == 16  # the batch never acked
            settings["tables"][0]["group"] = "clean"
            clean = warehouse_in(tmp_path / f"{kind}-clean")
            run(StreamSource.model_validate(settings), clean)
            assert rows(warehouse, TABLE) == rows(clean, TABLE)
            assert len(rows(warehouse, TABLE)) == 60
            letters = "SELECT message_id, reason, payload FROM _tributary.dead_letters"
            assert (
                rows(warehouse, letters) == rows(clean, letters) and len(rows(clean, letters)) == 1
            )


def test_redis_connections_killed_mid_drain_reconnect_and_lose_nothing(tmp_path: Path) -> None:
    warehouse = warehouse_in(tmp_path)
    admin = redis.Redis.from_url(REDIS_URL)
    stop = threading.Event()
    kills = 0

    def killer() -> None:
        nonlocal kills
        while not stop.is_set():
            for client in admin.client_list():
                if client.get("name") == "tributary:c1":
                    kills += admin.client_kill_filter(_id=client["id"])
            time.sleep(0.25)

    with stream_of("redis") as (broker, stream, publish):
        publish([signal(i) for i in range(3000)])
        thread = threading.Thread(target=killer, daemon=True)
        thread.start()
        try:
            result = run(source_of(broker, stream, max_batch=100), warehouse)
        finally:
            stop.set()
            thread.join()
        assert kills > 0 and result.lag_after == 0
        ids = [r[0] for r in rows(warehouse, "SELECT signal_id FROM signals.pulse ORDER BY 1")]
        assert ids == list(range(3000))
    admin.close()


def test_nats_restarted_mid_drain_reconnects_with_backoff_and_loses_nothing(
    tmp_path: Path,
) -> None:
    server = NatsServer(tmp_path / "nats")
    server.start()
    warehouse = warehouse_in(tmp_path)
    try:
        with nats_stream(server.url, storage="file") as name:
            subject = f"{name}.signals"
            nats_publish(subject, [signal(i) for i in range(600)], server.url)
            broker = {"type": "nats", "url": server.url, "ack_wait": "2s"}
            source = source_of(broker, subject, max_batch=50)
            restarted = threading.Event()

            def restart(_batch: list[Message]) -> None:
                if not restarted.is_set():
                    restarted.set()
                    server.stop()
                    threading.Timer(1.0, server.start).start()

            first = run(source, warehouse, after_commit=restart)
            assert restarted.is_set() and first.messages >= 50
            deadline = time.monotonic() + 30
            while rows(warehouse, "SELECT count(*) FROM signals.pulse") != [(600,)]:
                assert time.monotonic() < deadline, "messages lost"
                time.sleep(0.5)
                run(source, warehouse)
            ids = [r[0] for r in rows(warehouse, "SELECT signal_id FROM signals.pulse ORDER BY 1")]
            assert ids == list(range(600))
    finally:
        server.stop()
