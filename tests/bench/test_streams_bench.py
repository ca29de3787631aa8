"""bench.streams compares like with like: both sides consume every message of the same stream,
and the drained table holds each once."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import streams


@pytest.mark.parametrize("kind", sorted(streams.BROKERS))
def test_both_sides_consume_every_message_and_the_table_holds_each_once(
    kind: str, tmp_path: Path
) -> None:
    broker = streams.BROKERS[kind]
    messages = streams.payloads(1_500)
    for side in ("plain", "tributary"):
        name = f"bench_test_{side}_{tmp_path.name[-8:]}"
        broker.publish(name, messages)
        try:
            if side == "plain":
                count, _seconds = broker.plain(name, 500)
                assert count == 1_500
            else:
                count, _seconds, rows, distinct = streams._tributary(broker, name, tmp_path)
                assert (count, rows, distinct) == (1_500, 1_500, 1_500)
        finally:
            broker.cleanup(name)
