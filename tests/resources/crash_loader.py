"""A load loop for the crash-safety tests: `python -m tests.resources.crash_loader <dir> <rows>
[replace|session|children|files] [lake database]`. Before each phase it prints `<phase> <g>` so
a test can kill it there. With a lake database, it loads into a DuckLake whose catalog is there.

- `replace`: each generation g replaces `src.items` with `rows` rows whose `generation` is g
  (staged in two parts, so through a staging file), and moves the cursor to g.
- `session`: the same with each batch one Arrow table, all committed through one writer session
  (`Warehouse.session`) that the loop keeps open.
- `children`: each generation g merges `rows` parent rows into `src.issues` and two child rows
  per parent into `src.issues__labels` (one load, `Load.child`), all carrying g; cursor g.
  Each batch is one Arrow table, which the commit reads from memory.
- `files`: each generation g writes a new file `in/<g>.csv` and rewrites `in/1.csv`, both of
  `rows` rows carrying g, and appends what the file ledger has not read.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import pyarrow as pa

from resources.duckdb_sql import literal
from resources.file_ledger import FileVersion
from resources.warehouse import Warehouse, WriterSession
from resources.write_dispositions import WriteSpec

PARENT_ID, INDEX = "_parent_id", "_index"


def replace(warehouse: Warehouse, generation: int, rows: int, _directory: Path) -> None:
    batch = pa.table({"id": pa.array(range(rows)), "generation": pa.repeat(generation, rows)})
    with warehouse.load("src", "items") as load:
        print(f"staging {generation}", flush=True)
        # In two parts, as a paginated source stages: through the staging file.
        load.stage([batch.slice(0, rows // 2), batch.slice(rows // 2)])
        print(f"commit {generation}", flush=True)
        load.commit(WriteSpec("src", "items", "replace"), cursor=str(generation))


def session(warehouse: Warehouse, generation: int, rows: int, _directory: Path) -> None:
    """`replace`, each batch one Arrow table (read from memory), every generation committed
    on the one connection of a writer session the loop keeps open."""
    global _session
    if _session is None:
        _session = contextlib.ExitStack().enter_context(warehouse.session(hold_seconds=3600))
    batch = pa.table({"id": pa.array(range(rows)), "generation": pa.repeat(generation, rows)})
    with _session.load("src", "items") as load:
        print(f"staging {generation}", flush=True)
        load.stage(batch)
        print(f"commit {generation}", flush=True)
        load.commit(WriteSpec("src", "items", "replace"), cursor=str(generation))


_session: WriterSession | None = None


def children(warehouse: Warehouse, generation: int, rows: int, _directory: Path) -> None:
    parents = pa.table({"id": pa.array(range(rows)), "generation": pa.repeat(generation, rows)})
    labels = pa.table(
        {
            "name": pa.array(["bug", "p1"] * rows),
            "generation": pa.repeat(generation, 2 * rows),
            PARENT_ID: pa.array([i for i in range(rows) for _ in (0, 1)]),
            INDEX: pa.array([0, 1] * rows),
        }
    )
    child_spec = WriteSpec("src", "issues__labels", "merge", (PARENT_ID, INDEX), allow_empty=True)
    with warehouse.load("src", "issues") as load:
        print(f"staging {generation}", flush=True)
        load.stage(parents)
        load.child("issues__labels", child_spec, PARENT_ID).stage(labels)
        print(f"commit {generation}", flush=True)
        load.commit(WriteSpec("src", "issues", "merge", ("id",)), cursor=str(generation))


def files(warehouse: Warehouse, generation: int, rows: int, directory: Path) -> None:
    folder = directory / "in"
    folder.mkdir(parents=True, exist_ok=True)
    print(f"staging {generation}", flush=True)
    content = "id,generation\n" + "".join(f"{i},{generation}\n" for i in range(rows))
    for name in {f"{generation}.csv", "1.csv"}:
        (folder / f"{name}.tmp").write_text(content)
        (folder / f"{name}.tmp").replace(folder / name)

    def versions() -> list[FileVersion]:
        return [FileVersion.of(p.name, p) for p in sorted(folder.glob("*.csv"))]

    def rows_sql(chosen: object) -> str:
        assert isinstance(chosen, list | tuple)
        paths = ", ".join(literal(str(v.path)) for v in chosen)
        return (
            f"SELECT * REPLACE (parse_filename(_source_file) AS _source_file) "
            f"FROM read_csv([{paths}], filename='_source_file')"
        )

    with warehouse.load("src", "events") as load:
        load.scan_files(versions, rows_sql)
        print(f"commit {generation}", flush=True)
        load.commit(WriteSpec("src", "events", "append"), cursor=str(generation))


def main(directory: str, rows: int, mode: str = "replace", lake_database: str = "") -> None:
    """`lake_database`: load into a DuckLake with its catalog in that PostgreSQL database."""
    warehouse = Warehouse(
        path=str(Path(directory) / "warehouse.duckdb"), staging_dir=str(Path(directory) / "stage")
    )
    if lake_database:
        from tests.conftest import lake_warehouse_at

        warehouse = lake_warehouse_at(Path(directory), lake_database)
    step = {"replace": replace, "session": session, "children": children, "files": files}[mode]
    generation = 0
    while True:
        generation += 1
        step(warehouse, generation, rows, Path(directory))
        print(f"done {generation}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), *sys.argv[3:])
