"""Kafka through the whole drain, against librdkafka's mock cluster (functional tests only):
a consumer killed (-9) between the commit and the ack, a poison message, the warehouse's
offsets winning over the group's, and a cluster that hangs mid-drain."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from platform_assets.stream_kind.config import StreamSource
from resources.streams.base import Message
from tests.platform_assets.stream_kind.test_drain import rows, run, signal, warehouse_in
from tests.platform_assets.stream_kind.test_faults import _kill_between_commit_and_ack
from tests.resources.streams.kafka_mock import (
    FAST_GROUPS,
    MockCluster,
    mock_cluster,
    produce,
    unique_topic,
)

TABLE = "SELECT * EXCLUDE (_load_id, _loaded_at) FROM signals.pulse ORDER BY _message_id"
LETTERS = "SELECT message_id, reason, payload FROM _tributary.dead_letters ORDER BY message_id"


@pytest.fixture(scope="module")
def cluster() -> Iterator[MockCluster]:
    with mock_cluster() as running:
        yield running


def settings(cluster: MockCluster, topic: str, **table: Any) -> dict[str, Any]:
    return {
        "name": "signals",
        "kind": "stream",
        "broker": {"type": "kafka", "url": cluster.bootstrap, "options": FAST_GROUPS},
        "tables": [{"name": "pulse", "stream": topic, "max_wait": "0.5s", **table}],
    }


def test_kill_9_between_commit_and_ack_replays_into_an_identical_table(
    cluster: MockCluster, tmp_path: Path
) -> None:
    topic = unique_topic()
    sent = (
        [signal(i) for i in range(40)] + ['{"signalId": oops'] + [signal(i) for i in range(40, 60)]
    )
    produce(cluster.bootstrap, topic, sent, partitions=1)  # one partition: batches in order
    crashed = tmp_path / "crashed"
    crashing = settings(cluster, topic, max_batch=16, group="crashing")
    _kill_between_commit_and_ack(crashing, crashed, batch=2)
    warehouse = warehouse_in(crashed)
    assert rows(warehouse, "SELECT count(*) FROM signals.pulse") == [(32,)]
    # The group never heard of the second batch; the warehouse has it, and says where to go on.
    replay = run(StreamSource.model_validate(crashing), warehouse, consumer="crash")
    assert replay.lag_after == 0 and replay.positions == {"0": "61"}
    clean = warehouse_in(tmp_path / "clean")
    run(StreamSource.model_validate(settings(cluster, topic, max_batch=16, group="clean")), clean)
    assert rows(warehouse, TABLE) == rows(clean, TABLE)
    assert len(rows(warehouse, TABLE)) == 60
    assert rows(warehouse, LETTERS) == rows(clean, LETTERS)
    assert [r[:1] + r[2:] for r in rows(clean, LETTERS)] == [("0:40", b'{"signalId": oops')]


def test_a_cluster_that_hangs_mid_drain_loses_nothing(cluster: MockCluster, tmp_path: Path) -> None:
    topic = unique_topic()
    produce(cluster.bootstrap, topic, [signal(i) for i in range(400)])
    source = settings(cluster, topic, max_batch=50, max_wait="2s")
    # Requests time out after 2 s: the frozen cluster's connections are dropped and reopened.
    source["broker"]["options"] = {**FAST_GROUPS, "socket.timeout.ms": "2000"}
    paused = threading.Event()

    def hang(_batch: list[Message]) -> None:
        if not paused.is_set():
            paused.set()
            cluster.pause()
            threading.Timer(4.0, cluster.resume).start()

    warehouse = warehouse_in(tmp_path)
    first = run(StreamSource.model_validate(source), warehouse, after_commit=hang)
    assert paused.is_set()
    if first.lag_after != 0:  # the run may end while the cluster hangs; the next goes on
        run(StreamSource.model_validate(source), warehouse)
    ids = [r[0] for r in rows(warehouse, "SELECT signal_id FROM signals.pulse ORDER BY 1")]
    assert ids == list(range(400))
