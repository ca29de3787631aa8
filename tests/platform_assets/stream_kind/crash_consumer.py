"""A stream consumer that dies by SIGKILL between a batch's commit and its ack:
`python -m tests.platform_assets.stream_kind.crash_consumer <source json> <warehouse dir> <n>`
kills itself after the n-th batch's commit."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

from platform_assets.stream_kind.brokers import OPENERS
from platform_assets.stream_kind.config import StreamSource
from platform_assets.stream_kind.drain import drain
from resources.streams.base import Message
from resources.warehouse import Warehouse


def main() -> None:
    source = StreamSource.model_validate(json.loads(sys.argv[1]))
    directory, kill_after = Path(sys.argv[2]), int(sys.argv[3])
    warehouse = Warehouse(path=str(directory / "w.duckdb"), staging_dir=str(directory / "staging"))
    table = source.tables[0]
    broker = OPENERS[source.broker.type](source.broker, table.stream, table.group, "crash")
    committed = 0

    def after_commit(_batch: list[Message]) -> None:
        nonlocal committed
        committed += 1
        if committed == kill_after:
            print("committed, killing before the ack", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)

    drain(broker, warehouse, source, table, after_commit=after_commit)


if __name__ == "__main__":
    main()
