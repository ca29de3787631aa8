"""librdkafka's mock cluster in a process of its own, for Kafka tests (no Kafka broker can run
here): `python -m tests.resources.streams.kafka_mock` prints the bootstrap servers, then serves
until killed. Mock clusters are for functional tests only: they have lost messages under load."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from confluent_kafka import Producer

REPO = Path(__file__).resolve().parents[3]


FAST_GROUPS = {"session.timeout.ms": "6000", "heartbeat.interval.ms": "500"}
"""Consumer options for tests: the mock cluster waits a whole session timeout for members that
left before it rebalances (45 s by default; 6 s is the least it accepts)."""


class MockCluster:
    """A mock cluster process: `bootstrap` for clients; `pause`/`resume` freeze it (SIGSTOP)
    so clients' connections time out and drop, as when a broker hangs or a network fails."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.resources.streams.kafka_mock"],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.process.stdout is not None
        self.bootstrap = self.process.stdout.readline().strip()
        assert self.bootstrap, "the mock cluster did not start"

    def pause(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGCONT)
        self.process.kill()
        self.process.wait(10)


@contextmanager
def mock_cluster() -> Iterator[MockCluster]:
    cluster = MockCluster()
    try:
        yield cluster
    finally:
        cluster.stop()


def unique_topic() -> str:
    return f"stream20b-{uuid.uuid4().hex[:10]}"


def produce(
    bootstrap: str, topic: str, payloads: Iterable[bytes | str], partitions: int = 4
) -> None:
    """Each payload to partition `i % partitions` (the mock creates topics with 4), confirmed."""
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for i, payload in enumerate(payloads):
        producer.produce(topic, payload, partition=i % partitions)
        if i % 1000 == 999:
            producer.poll(0)
    assert producer.flush(30) == 0, "messages not delivered to the mock cluster"


def _serve() -> None:
    cluster = Producer({"test.mock.num.brokers": 1, "log_level": 0})
    brokers = cluster.list_topics(timeout=10).brokers.values()
    print(",".join(f"{b.host}:{b.port}" for b in brokers), flush=True)
    while True:
        cluster.poll(1.0)
        time.sleep(0.1)


if __name__ == "__main__":
    _serve()
