"""An internal data generator: the web shop's page views, one every `every_seconds`.

Deterministic: the view at a given moment is the same on every run (its values are drawn from
a generator seeded with `seed` and the view's number), so an incremental run that starts from
the stored cursor fetches exactly the views that are new since.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pyarrow as pa

import tributary
from tributary import DataSource, State, TableRequest

PAGES = ("/", "/search", "/product", "/product", "/product", "/cart", "/checkout", "/account")
REFERRERS = ("direct", "google", "newsletter", "instagram", "partner")
DEVICES = ("mobile", "mobile", "desktop", "tablet")
COUNTRIES = ("FR", "DE", "NL", "BE", "ES", "IT", "US")


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Clickstream(DataSource):
    """Page views from `start` until `end` (an ISO time, or `now`), `batch_rows` per batch."""

    class Options(tributary.Options):
        seed: int = 42
        start: str = "2026-01-01T00:00:00Z"
        end: str = "now"
        every_seconds: int = 60
        batch_rows: int = 10_000
        users: int = 500

    options: Options

    def fetch(self, table: TableRequest, state: State) -> Iterator[pa.Table]:
        o = self.options
        start, step = _moment(o.start), timedelta(seconds=o.every_seconds)
        end = datetime.now(UTC) if o.end == "now" else _moment(o.end)
        first = 0
        if state.cursor is not None:
            # The view right after the cursor: the cursor's own view has landed already.
            first = int((_moment(state.cursor) - start) / step) + 1
        last = int((end - start) / step)
        for low in range(max(first, 0), last + 1, o.batch_rows):
            numbers = range(low, min(low + o.batch_rows, last + 1))
            yield pa.Table.from_pylist([self._view(n, start + n * step) for n in numbers])

    def _view(self, number: int, at: datetime) -> dict[str, object]:
        draw = random.Random(self.options.seed * 1_000_003 + number)
        user = draw.randrange(1, self.options.users + 1)
        return {
            "view_id": number,
            "viewed_at": at,
            "user_id": user,
            "session_id": f"s{user:05d}-{number // 30:07d}",
            "page": draw.choice(PAGES),
            "referrer": draw.choice(REFERRERS),
            "device": draw.choice(DEVICES),
            "country": draw.choice(COUNTRIES),
            "duration_ms": int(draw.lognormvariate(8.5, 0.9)),
        }
