"""Throwaway Mosquitto brokers (own port, config and persistence file) and a QoS 1 publisher."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

needs_mosquitto = pytest.mark.skipif(
    shutil.which("mosquitto") is None, reason="no mosquitto binary on this machine"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Mosquitto:
    """A mosquitto process on a free loopback port; `restart` keeps its port and its
    persistence file (sessions and queued messages survive, as on a real restart)."""

    def __init__(self, directory: Path, max_queued_messages: int) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.config = directory / "mosquitto.conf"
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "user root\n"
            "persistence true\n"
            f"persistence_location {directory}/\n"
            f"max_queued_messages {max_queued_messages}\n"
            f"log_dest file {directory}/mosquitto.log\n"
        )
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(["mosquitto", "-c", str(self.config)])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"mosquitto did not listen on {self.port}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()  # SIGTERM: mosquitto writes its persistence file
            self.process.wait(10)
            self.process = None

    def restart(self, down_seconds: float = 0.0) -> None:
        self.stop()
        time.sleep(down_seconds)
        self.start()

    def log(self) -> str:
        path = self.directory / "mosquitto.log"
        return path.read_text() if path.exists() else ""


@contextmanager
def mosquitto(directory: Path, max_queued_messages: int = 1000) -> Iterator[Mosquitto]:
    broker = Mosquitto(directory, max_queued_messages)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def unique_topic() -> str:
    return f"stream20b/{uuid.uuid4().hex[:10]}"


def publish(url_port: int, topic: str, records: list[dict[str, object]] | list[bytes]) -> None:
    """Publish each record (a dict as JSON, or raw bytes) with QoS 1, each confirmed."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}")
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", url_port)
    client.loop_start()
    try:
        pending = [
            client.publish(
                topic, record if isinstance(record, bytes) else json.dumps(record), qos=1
            )
            for record in records
        ]
        for info in pending:
            info.wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()
