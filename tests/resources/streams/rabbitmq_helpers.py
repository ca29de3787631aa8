"""The machine's RabbitMQ for tests: throwaway queues, publishing, dropping our own connection."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pika
import pytest

URL = "amqp://guest:guest@127.0.0.1:5672/%2F"


def available() -> bool:
    try:
        pika.BlockingConnection(pika.URLParameters(URL)).close()
    except pika.exceptions.AMQPError:
        return False
    return True


needs_rabbitmq = pytest.mark.skipif(not available(), reason="no RabbitMQ on 127.0.0.1:5672")


@contextmanager
def throwaway_queue() -> Iterator[str]:
    """A durable queue with a unique name, deleted afterwards."""
    name = f"stream20b.{uuid.uuid4().hex[:10]}"
    with pika.BlockingConnection(pika.URLParameters(URL)) as connection:
        connection.channel().queue_declare(name, durable=True)
    try:
        yield name
    finally:
        with pika.BlockingConnection(pika.URLParameters(URL)) as connection:
            connection.channel().queue_delete(name)


def publish(queue: str, records: list[dict[str, object]] | list[bytes], ids: bool = True) -> None:
    """Publish each record (a dict as JSON, or raw bytes), with `message_id` `m<i>` if `ids`."""
    with pika.BlockingConnection(pika.URLParameters(URL)) as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        for i, record in enumerate(records):
            body = record if isinstance(record, bytes) else json.dumps(record).encode()
            properties = pika.BasicProperties(message_id=f"m{i}" if ids else None, delivery_mode=2)
            channel.basic_publish("", queue, body, properties)


def ready(queue: str) -> int:
    with pika.BlockingConnection(pika.URLParameters(URL)) as connection:
        declared = connection.channel().queue_declare(queue, passive=True)
        return int(declared.method.message_count)


def close_connection(name: str) -> None:
    """Close, from the broker's side, the connection whose `connection_name` is `name`."""
    for _ in range(50):
        listed = subprocess.run(
            ["rabbitmqctl", "list_connections", "-q", "pid", "client_properties"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        pids = [line.split("\t")[0] for line in listed.splitlines() if f'"{name}"' in line]
        if pids:
            for pid in pids:
                subprocess.run(
                    ["rabbitmqctl", "close_connection", pid, "test: connection dropped"],
                    capture_output=True,
                    check=True,
                )
            return
        time.sleep(0.1)
    raise AssertionError(f"no RabbitMQ connection named {name}")
