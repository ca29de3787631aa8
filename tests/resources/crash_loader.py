"""A load loop for the crash-safety test: `python -m tests.resources.crash_loader <dir> <rows>`.

Each generation g replaces table `src.items` with `rows` rows whose `generation` is g, and moves
the cursor to g. Before each phase it prints `<phase> <g>` so the test can kill it there.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pyarrow as pa

from resources.warehouse import Warehouse
from resources.write_dispositions import WriteSpec


def main(directory: str, rows: int) -> None:
    warehouse = Warehouse(
        path=str(Path(directory) / "warehouse.duckdb"), staging_dir=str(Path(directory) / "stage")
    )
    generation = 0
    while True:
        generation += 1
        batch = pa.table({"id": pa.array(range(rows)), "generation": pa.repeat(generation, rows)})
        with warehouse.load("src", "items") as load:
            print(f"staging {generation}", flush=True)
            load.stage(batch)
            print(f"commit {generation}", flush=True)
            load.commit(WriteSpec("src", "items", "replace"), cursor=str(generation))
        print(f"done {generation}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
