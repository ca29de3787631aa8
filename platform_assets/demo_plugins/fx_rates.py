"""Daily reference exchange rates from a central-bank style API, through the platform's client.

The API has no paging a catalog could describe: a calendar lists the publication days after a
date, each day is fetched on its own, and a day's rates come as one object keyed by currency.
The plugin walks the calendar from the stored cursor and pivots each day into one row per
currency, with rates as exact decimals.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal

import pyarrow as pa

import tributary
from tributary import DataSource, RestError, State, TableRequest

SCHEMA = pa.schema(
    [
        ("rate_date", pa.date32()),
        ("base_currency", pa.string()),
        ("currency", pa.string()),
        ("rate", pa.decimal128(18, 6)),
    ]
)


class FxRates(DataSource):
    """One batch per publication day after `state.cursor` (an ISO date), oldest first."""

    class Options(tributary.Options):
        currencies: tuple[str, ...] = ()
        """Only these currencies (all when empty)."""

    options: Options

    def fetch(self, table: TableRequest, state: State) -> Iterator[pa.Table]:
        calendar = self.get_json("/v1/calendar", params={"after": state.cursor or "1999-01-01"})
        for day in calendar["dates"]:
            response = self.http.request("GET", self.http.url("/v1/rates"), params={"date": day})
            try:
                # Decimals as published: a float would turn 0.8547 into 0.85470000000000001.
                published = json.loads(response.text, parse_float=Decimal)
            except ValueError:
                raise RestError(f"rates of {day}: the response is not JSON") from None
            yield self._rows(published)

    def _rows(self, published: dict[str, object]) -> pa.Table:
        rates = published["rates"]
        assert isinstance(rates, dict)
        wanted = set(self.options.currencies) or set(rates)
        rows = [
            {
                "rate_date": published["date"],
                "base_currency": published["base"],
                "currency": currency,
                "rate": rate,
            }
            for currency, rate in sorted(rates.items())
            if currency in wanted
        ]
        days = pa.array([row.pop("rate_date") for row in rows], pa.string())
        table = pa.Table.from_pylist(rows, schema=SCHEMA.remove(0))
        return table.add_column(0, SCHEMA.field(0), days.cast(pa.date32()))
