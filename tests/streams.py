"""Test helpers for streams: unique Redis stream keys and NATS JetStream streams on the
machine's brokers, removed afterwards, and a throwaway nats-server."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import nats
import redis

REDIS_URL = "redis://127.0.0.1:6379/0"
NATS_URL = "nats://127.0.0.1:4222"


def unique(prefix: str = "stream20a") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


@contextmanager
def redis_stream(url: str = REDIS_URL) -> Iterator[str]:
    """A stream key no one else uses; deleted afterwards."""
    name = unique()
    client = redis.Redis.from_url(url)
    try:
        yield name
    finally:
        client.close()
        redis_delete(name, url)


def redis_delete(name: str, url: str = REDIS_URL) -> None:
    client = redis.Redis.from_url(url)
    client.delete(name)
    client.close()


def redis_publish(name: str, payloads: Iterable[bytes | str], url: str = REDIS_URL) -> None:
    client = redis.Redis.from_url(url)
    pipe = client.pipeline(transaction=False)
    for payload in payloads:
        pipe.xadd(name, {"payload": payload})
    pipe.execute()
    client.close()


async def _nats(url: str, work: object) -> None:
    nc = await nats.connect(url)
    try:
        await work(nc.jetstream())  # type: ignore[operator]
    finally:
        await nc.close()


@contextmanager
def nats_stream(url: str = NATS_URL, storage: str = "memory") -> Iterator[str]:
    """A JetStream stream on subjects `<name>.>`, deleted afterwards. Yields the name."""
    from nats.js.api import StorageType

    name = unique()
    kind = StorageType.FILE if storage == "file" else StorageType.MEMORY

    async def add(js: nats.js.JetStreamContext) -> None:
        await js.add_stream(name=name, subjects=[f"{name}.>"], storage=kind)

    async def delete(js: nats.js.JetStreamContext) -> None:
        await js.delete_stream(name)

    asyncio.run(_nats(url, add))
    try:
        yield name
    finally:
        with contextlib.suppress(Exception):  # a fault test's server may be gone already
            asyncio.run(_nats(url, delete))


def nats_publish(subject: str, payloads: Iterable[bytes | str], url: str = NATS_URL) -> None:
    async def publish(js: nats.js.JetStreamContext) -> None:
        for payload in payloads:
            data = payload.encode() if isinstance(payload, str) else payload
            await js.publish(subject, data)

    asyncio.run(_nats(url, publish))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class NatsServer:
    """A throwaway `nats-server -js` on a free port, its store under `directory`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        binary = shutil.which("nats-server")
        assert binary is not None, "nats-server is not installed"
        self.process = subprocess.Popen(
            [binary, "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", str(self.directory)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("nats-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None
