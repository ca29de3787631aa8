"""Publish the demo's device signals to the Redis stream the `signals` catalog source reads.

    python -m platform_assets.demo_signals

A few hundred signals from a dozen devices, a few of them sent twice (they land once), and a
handful that cannot land: cut-off JSON, a list instead of an object, no `signal_id`, a battery
reading of 140 %, bytes that are not UTF-8. Those end in `_tributary.dead_letters`. The stream
is replaced on every call, so the demo lands the same rows each time.

Exits 2, after one line saying so, when no Redis answers at the source's URL.
"""

from __future__ import annotations

import json
import random
import sys
from datetime import UTC, datetime, timedelta

import redis

from platform_assets.platform import load_platform_catalog
from platform_assets.stream_kind.config import StreamSource
from resources.redaction import redact

SIGNALS = 300
METRICS = {
    "temperature": ("celsius", 18.0, 85.0),
    "humidity": ("percent", 20.0, 90.0),
    "pressure": ("kPa", 95.0, 110.0),
    "vibration": ("mm/s", 0.0, 12.0),
}
SITES = ["lyon-1", "lyon-2", "porto-1"]


def signals(rng: random.Random, count: int = SIGNALS) -> list[bytes]:
    start = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    devices = [
        (f"dev-{n:03d}", SITES[n % len(SITES)], rng.choice(list(METRICS))) for n in range(12)
    ]
    out: list[bytes] = []
    for number in range(1, count + 1):
        device, site, metric = devices[number % len(devices)]
        unit, low, high = METRICS[metric]
        record = {
            "signalId": f"sig-{number:05d}",
            "deviceId": device,
            "site": site,
            "metric": metric,
            "value": round(rng.uniform(low, high), 2),
            "unit": unit,
            "recordedAt": (start + timedelta(seconds=7 * number)).isoformat(),
            "batteryPct": rng.randint(5, 100),
        }
        out.append(json.dumps(record).encode())
        if number % 97 == 0:
            out.append(out[-1])  # sent twice: lands once
    bad = [
        b'{"signalId": "sig-bad-1", "deviceId": "dev-003", "metric": "temp',
        b'["dev-004", "humidity", 41.5]',
        json.dumps({"deviceId": "dev-005", "metric": "pressure", "value": 101.2}).encode(),
        json.dumps(
            {
                "signalId": "sig-bad-4",
                "deviceId": "dev-006",
                "metric": "vibration",
                "value": 3.1,
                "batteryPct": 140,
            }
        ).encode(),
        b"\xff\xfe not utf-8",
    ]
    for index, payload in enumerate(bad):
        out.insert(40 + 50 * index, payload)
    return out


def main() -> int:
    source = load_platform_catalog().source("signals")
    assert isinstance(source, StreamSource)
    table = source.tables[0]
    url = source.broker.resolved_url()
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError:
        print(f"no Redis answers at {redact(url)}: the signals stream is left out of the demo")
        return 2
    payloads = signals(random.Random(7))
    pipe = client.pipeline(transaction=True)
    pipe.delete(table.stream)
    for payload in payloads:
        pipe.xadd(table.stream, {"payload": payload})
    pipe.execute()
    client.close()
    print(f"published {len(payloads)} signals to Redis stream {table.stream!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
