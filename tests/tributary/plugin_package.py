"""A plugin package as pip installs one: its module and a `.dist-info` with the entry points,
in a folder put on `sys.path`. The plugin reads events from a JSON file its options name, and
writes down what the platform asked it for."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest

MODULE = '''
import json
from pathlib import Path

import polars as pl

import tributary
from tributary import DataSource, Secret, State, TableRequest

ASKED = []
"""(table, state.cursor) of every fetch, for the tests to read."""


class Events(DataSource):
    """Events from a JSON file; `fail` makes table `events` raise in fetch, in transform or
    after 2 batches."""

    class Options(tributary.Options):
        path: str
        batch_rows: int = 2
        fail: str | None = None
        token: Secret | None = None

    class TableOptions(tributary.Options):
        kind: str = "event"

    def fetch(self, table: TableRequest, state: State):
        ASKED.append((table.name, state.cursor))
        if self.options.token is not None:
            token = self.secret(self.options.token)
            raise PermissionError(f"the vendor refused token {token}")
        fail = self.options.fail if table.name == "events" else None
        if fail == "fetch":
            raise RuntimeError("vendor API is down")
        records = json.loads(Path(self.options.path).read_text())
        fresh = [r for r in records if r["kind"] == table.options.kind]
        if state.cursor is not None:
            fresh = [r for r in fresh if r["updated_at"] > state.cursor]
        size = self.options.batch_rows
        if fail == "no_cursor":
            fresh = [{k: v for k, v in r.items() if k != "updated_at"} for r in fresh]
        for n, start in enumerate(range(0, len(fresh), size)):
            if fail == "midstream" and n == 2:
                raise ConnectionResetError("connection reset after 2 batches")
            yield "not a batch" if fail == "bad_batch" else fresh[start : start + size]

    def transform(self, batch, table):
        if not isinstance(batch, list):
            return batch
        if self.options.fail == "transform" and table.name == "events":
            raise ValueError("cannot parse amount 'n/a'")
        frame = pl.DataFrame(batch)
        return frame.with_columns(amount_cents=(pl.col("amount") * 100).cast(pl.Int64))
'''

MODULE += """

class Evolving(DataSource):
    \"\"\"Batches whose columns change on the way: a column appears, another widens.\"\"\"

    def fetch(self, table, state):
        import pyarrow as pa

        yield pa.table({"id": [1], "size": pa.array([10], pa.int32())})
        yield pl.DataFrame({"id": [2], "size": [2**40], "colour": ["red"]})
        yield [{"id": 3, "size": 30, "colour": "blue"}]
"""

BROKEN = """
import vendor_sdk_that_is_not_installed  # noqa: F401
"""


def install_plugin_package(site: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Install `events_plugin` (entry points `events`, `broken`) into `site`, on `sys.path`."""
    (site / "events_plugin").mkdir(parents=True)
    (site / "events_plugin" / "__init__.py").write_text(textwrap.dedent(MODULE))
    (site / "events_plugin" / "broken.py").write_text(textwrap.dedent(BROKEN))
    info = site / "events_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: events-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[tributary.sources]\nevents = events_plugin:Events\nbroken = events_plugin.broken:Broken\n"
    )
    monkeypatch.syspath_prepend(str(site))
    forget_plugin_modules()
    return site


def forget_plugin_modules() -> None:
    for name in [m for m in sys.modules if m.startswith("events_plugin")]:
        del sys.modules[name]


def write_events(path: Path, events: list[dict[str, object]]) -> Path:
    path.write_text(json.dumps(events))
    return path
