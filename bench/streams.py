"""`python -m bench.streams`: draining a stream table against a plain client's consume-and-ack
loop of the same batches, per broker.

Each broker's stream gets `--messages` small JSON messages (a key, a device, a metric, a value,
a time). Each scenario runs in a process of its own, on its own fresh stream, and reports its
time (first fetch to last ack, imports and publishing excluded) and peak RSS:

- `plain <broker>`: the broker's client reads batches of `BATCH` and acknowledges each batch
  (Redis XREADGROUP + XACK; NATS JetStream pull fetch + acks confirmed by `ack_sync`; RabbitMQ
  pika's basic_consume with the largest prefetch and one `basic_ack(multiple=True)` per batch).
- `tributary <broker>`: `kind: stream` (`drain`): each batch decoded to Arrow, committed to a
  DuckDB warehouse with its dead letters and position, then acknowledged.
- `tributary <broker> (1/4)`: the same with a quarter of the messages, for the memory check.

Each round runs the three in turn (`--rounds`, default 3); the ratios are medians over rounds.
Asserted: both sides consumed every message; the table holds each message exactly once (0 lost,
0 duplicated). Targets: throughput at least 0.8x the plain loop's; peak RSS flat in the number of
messages (at most 1.25x from a quarter of the messages to all of them).

Adding a broker: one `BenchBroker` in `BROKERS` (publish, plain loop, stream settings, cleanup).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tabulate import tabulate

from bench.measure import Measurement, peak_rss_mb, run_scenario

MESSAGES, BATCH = 200_000, 50_000
THROUGHPUT_TARGET, RSS_TARGET = 0.8, 1.25
REDIS_URL = "redis://127.0.0.1:6379/0"
NATS_URL = "nats://127.0.0.1:4222"
RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"


def payloads(count: int) -> list[bytes]:
    """`count` small JSON messages, the same on every call."""
    metrics = ("temperature", "humidity", "pressure")
    return [
        (
            f'{{"signal_id":{i},"device":"dev-{i % 97:03d}","metric":"{metrics[i % 3]}",'
            f'"value":{(i * 7919) % 10000 / 100},"at":"2026-11-30T08:{i % 60:02d}:00Z"}}'
        ).encode()
        for i in range(count)
    ]


@dataclass(frozen=True)
class BenchBroker:
    """One broker in the bench: `publish(stream, payloads)` fills a new stream; `plain(stream,
    batch)` consumes and acks it all with the bare client, returning (messages, seconds);
    `settings(stream)` is the catalog's `broker:` and the table's `stream:`; `cleanup(stream)`."""

    publish: Callable[[str, list[bytes]], None]
    plain: Callable[[str, int], tuple[int, float]]
    settings: Callable[[str], tuple[dict[str, Any], str]]
    cleanup: Callable[[str], None]


# Redis Streams ------------------------------------------------------------------------------


def _redis_publish(stream: str, messages: list[bytes]) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    for low in range(0, len(messages), 10_000):
        pipe = client.pipeline(transaction=False)
        for payload in messages[low : low + 10_000]:
            pipe.xadd(stream, {"payload": payload})
        pipe.execute()
    client.close()


def _redis_plain(stream: str, batch: int) -> tuple[int, float]:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.xgroup_create(stream, "plain", id="0")
    started, count = time.perf_counter(), 0
    while True:
        reply = client.xreadgroup("plain", "c", {stream: ">"}, count=batch, block=200)
        if not reply:
            break
        entries = reply[0][1]
        count += len(entries)
        client.xack(stream, "plain", *[entry_id for entry_id, _ in entries])
    seconds = time.perf_counter() - started - 0.2  # the last, empty read's wait
    client.close()
    return count, seconds


def _redis_cleanup(stream: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.delete(stream)
    client.close()


# NATS JetStream -----------------------------------------------------------------------------


async def _nats_js(work: Callable[[Any], Any]) -> Any:
    import nats

    nc = await nats.connect(NATS_URL)
    try:
        return await work(nc.jetstream())
    finally:
        await nc.close()


def _nats_publish(stream: str, messages: list[bytes]) -> None:
    async def publish(js: Any) -> None:
        await js.add_stream(name=stream, subjects=[f"{stream}.>"])
        for low in range(0, len(messages), 1000):
            acks = [js.publish_async(f"{stream}.s", m) for m in messages[low : low + 1000]]
            await asyncio.gather(*(await asyncio.gather(*acks)))

    asyncio.run(_nats_js(publish))


def _nats_plain(stream: str, batch: int) -> tuple[int, float]:
    import nats.errors
    from nats.js.api import AckPolicy, ConsumerConfig

    async def consume(js: Any) -> tuple[int, float]:
        config = ConsumerConfig(
            durable_name="plain", ack_policy=AckPolicy.EXPLICIT, max_ack_pending=-1
        )
        sub = await js.pull_subscribe(f"{stream}.>", durable="plain", config=config)
        started, count = time.perf_counter(), 0
        while True:
            try:
                msgs = await sub.fetch(batch, timeout=0.2)
            except (TimeoutError, nats.errors.TimeoutError):
                break  # nats-py raises either when nothing more arrived in time
            count += len(msgs)
            for msg in msgs[:-1]:
                await msg.ack()
            await msgs[-1].ack_sync()
        return count, time.perf_counter() - started - 0.2

    result: tuple[int, float] = asyncio.run(_nats_js(consume))
    return result


def _nats_cleanup(stream: str) -> None:
    async def delete(js: Any) -> None:
        await js.delete_stream(stream)

    asyncio.run(_nats_js(delete))


# RabbitMQ -----------------------------------------------------------------------------------


def _rabbitmq_channel() -> Any:
    import pika

    return pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL)).channel()


def _rabbitmq_publish(queue: str, messages: list[bytes]) -> None:
    import pika

    channel = _rabbitmq_channel()
    channel.queue_declare(queue, durable=True)
    for i, payload in enumerate(messages):
        channel.basic_publish("", queue, payload, pika.BasicProperties(message_id=str(i)))
    # Unconfirmed publishing is fastest; wait until the queue holds them all.
    while channel.queue_declare(queue, passive=True).method.message_count < len(messages):
        time.sleep(0.1)
    channel.connection.close()


def _rabbitmq_plain(queue: str, batch: int) -> tuple[int, float]:
    channel = _rabbitmq_channel()
    connection = channel.connection
    channel.basic_qos(prefetch_count=65535)
    received: list[int] = []
    channel.basic_consume(queue, lambda _c, method, _p, _b: received.append(method.delivery_tag))
    started, count = time.perf_counter(), 0
    while True:
        while len(received) < batch:
            before = len(received)
            connection.process_data_events(time_limit=0.05)
            if len(received) == before and (
                received or channel.queue_declare(queue, passive=True).method.message_count == 0
            ):
                break  # a partial batch (nothing came for a while), or the queue is empty
        if not received:
            break
        taken, received[:] = received[:batch], received[batch:]
        count += len(taken)
        channel.basic_ack(taken[-1], multiple=True)
    seconds = time.perf_counter() - started
    connection.close()
    return count, seconds


def _rabbitmq_cleanup(queue: str) -> None:
    channel = _rabbitmq_channel()
    channel.queue_delete(queue)
    channel.connection.close()


BROKERS: dict[str, BenchBroker] = {
    "redis": BenchBroker(
        _redis_publish,
        _redis_plain,
        lambda s: ({"type": "redis", "url": REDIS_URL}, s),
        _redis_cleanup,
    ),
    "nats": BenchBroker(
        _nats_publish,
        _nats_plain,
        lambda s: ({"type": "nats", "url": NATS_URL}, f"{s}.>"),
        _nats_cleanup,
    ),
    "rabbitmq": BenchBroker(
        _rabbitmq_publish,
        _rabbitmq_plain,
        lambda s: ({"type": "rabbitmq", "url": RABBITMQ_URL}, s),
        _rabbitmq_cleanup,
    ),
}


def _tributary(broker: BenchBroker, stream: str, work: Path) -> tuple[int, float, int, int]:
    """(messages consumed, seconds, rows in the table, distinct keys in it)."""
    import duckdb

    from platform_assets.stream_kind.brokers import OPENERS
    from platform_assets.stream_kind.config import StreamSource
    from platform_assets.stream_kind.drain import drain
    from resources.warehouse import Warehouse

    settings, name = broker.settings(stream)
    source = StreamSource.model_validate(
        {
            "name": "bench",
            "kind": "stream",
            "broker": settings,
            "tables": [{"name": "signals", "stream": name, "max_batch": BATCH, "max_wait": "0.2s"}],
        }
    )
    table = source.tables[0]
    warehouse = Warehouse(path=str(work / "warehouse.duckdb"), staging_dir=str(work / "staging"))
    consumer = OPENERS[source.broker.type](source.broker, table.stream, table.group, "bench")
    started = time.perf_counter()
    result = drain(consumer, warehouse, source, table)
    seconds = time.perf_counter() - started
    consumer.close()
    with duckdb.connect(str(warehouse.file), read_only=True) as con:
        row = con.execute(
            "SELECT count(*), count(DISTINCT signal_id) FROM bench.signals"
        ).fetchone()
    assert row is not None
    return result.messages, seconds, int(row[0]), int(row[1])


def _scenario(side: str, kind: str, messages: int) -> None:
    broker = BROKERS[kind]
    stream = f"bench_{uuid.uuid4().hex[:10]}"
    work = Path(tempfile.mkdtemp(prefix="bench-streams-"))
    try:
        broker.publish(stream, payloads(messages))
        if side == "plain":
            count, seconds = broker.plain(stream, BATCH)
            detail: dict[str, object] = {"seconds": seconds, "messages": count}
        else:
            count, seconds, rows, distinct = _tributary(broker, stream, work)
            detail = {"seconds": seconds, "messages": count, "rows": rows, "distinct": distinct}
    finally:
        broker.cleanup(stream)
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({**detail, "peak_rss_mb": peak_rss_mb()}))


def _measure(kind: str, side: str, messages: int, name: str) -> Measurement:
    return run_scenario(
        name,
        "bench.streams",
        "--scenario",
        side,
        "--broker",
        kind,
        "--messages",
        str(messages),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--scenario", choices=["plain", "tributary"])
    parser.add_argument("--broker", choices=sorted(BROKERS), action="append")
    parser.add_argument("--messages", type=int, default=MESSAGES)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.scenario:
        _scenario(args.scenario, args.broker[0], args.messages)
        return

    n = args.messages
    table, failed = [], []
    for kind in args.broker or list(BROKERS):
        ratios, memory = [], []
        for round_ in range(1, args.rounds + 1):
            # Plain and ours alternate, so that a burst of load elsewhere hits both alike.
            plain = _measure(kind, "plain", n, f"plain {kind} #{round_}")
            ours = _measure(kind, "tributary", n, f"tributary {kind} #{round_}")
            quarter = _measure(kind, "tributary", n // 4, f"tributary {kind} (1/4) #{round_}")
            assert plain.detail["messages"] == n, (
                f"{plain.name} consumed {plain.detail['messages']}"
            )
            for m, want in ((ours, n), (quarter, n // 4)):
                got = (m.detail["messages"], m.detail["rows"], m.detail["distinct"])
                assert got == (want, want, want), f"{m.name}: (messages, rows, distinct) = {got}"
            ratios.append(plain.seconds / ours.seconds)
            memory.append(ours.peak_rss_mb / quarter.peak_rss_mb)
            for m in (plain, ours, quarter):
                count = int(str(m.detail["messages"]))
                table.append(
                    [
                        m.name,
                        count,
                        f"{m.seconds:.2f}",
                        f"{count / m.seconds:,.0f}",
                        f"{m.peak_rss_mb:.0f}",
                    ]
                )
        ratio, rss = statistics.median(ratios), statistics.median(memory)
        table.append(
            [
                f"{kind}: throughput ratio {ratio:.2f}x median of "
                f"{' '.join(f'{r:.2f}' for r in ratios)} (target >= {THROUGHPUT_TARGET}x), "
                f"RSS 1/4 -> all {rss:.2f}x (target <= {RSS_TARGET}x)",
                "",
                "",
                "",
                "",
            ]
        )
        if ratio < THROUGHPUT_TARGET:
            failed.append(f"{kind} throughput")
        if rss > RSS_TARGET:
            failed.append(f"{kind} RSS")
    print(f"{n:,} messages per broker, batches of {BATCH:,}; 0 lost, 0 duplicated")
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(tabulate(table, headers=["scenario", "messages", "seconds", "msg/s", "peak RSS MB"]))
    if failed:
        sys.exit(f"bench.streams: {', '.join(failed)} off target")


if __name__ == "__main__":
    main()
