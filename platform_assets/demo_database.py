"""The demo's operational database: a small purchasing schema for the `erp` source (`kind: sql`).

    python -m platform_assets.demo_database            # load it into PostgreSQL, print its URL
    python -m platform_assets.demo_database --sqlite   # rewrite data/samples/erp.sqlite

Suppliers, purchase orders (amounts as numeric(12,2), order lines as jsonb, `updated_at` for
incremental loads) and stock movements; the same rows on every run. Loaded into the database
`tributary_demo` of the PostgreSQL at `DEMO_POSTGRES_URL` (default: the local server), or, when
no PostgreSQL answers, the SQLite file the project ships is used as it is. Prints the URL the
`erp` source should read (`ERP_DATABASE_URL`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import sqlite3
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from platform_assets import settings

DATABASE = "tributary_demo"
SQLITE_URL = "sqlite:///data/samples/erp.sqlite"
SQLITE_FILE = "data/samples/erp.sqlite"

SUPPLIERS = [
    ("Nordic Beans AB", "SE"),
    ("Café Origens Lda", "PT"),
    ("Rösterei Hansen GmbH", "DE"),
    ("Tea Gardens of Assam", "IN"),
    ("Porcelaine de Limoges", "FR"),
    ("Brew Gear BV", "NL"),
    ("Andes Altura SAC", "PE"),
    ("Kyoto Sencha Co.", "JP"),
]
PRODUCTS = ["espresso beans", "filter roast", "sencha", "earl grey", "grinder", "kettle", "cups"]
STATUSES = ["ordered", "confirmed", "shipped", "received", "cancelled"]

POSTGRES_SCHEMA = """
CREATE TABLE suppliers (
  supplier_id integer PRIMARY KEY, name text NOT NULL, country char(2) NOT NULL,
  rating numeric(3,1), active boolean NOT NULL, created_at timestamptz NOT NULL);
CREATE TABLE purchase_orders (
  order_id integer PRIMARY KEY, supplier_id integer NOT NULL REFERENCES suppliers,
  status text NOT NULL, total numeric(12,2) NOT NULL, currency char(3) NOT NULL,
  lines jsonb NOT NULL, ordered_at timestamptz NOT NULL, updated_at timestamptz NOT NULL);
CREATE TABLE stock_movements (
  movement_id bigint PRIMARY KEY, product text NOT NULL, quantity integer NOT NULL,
  moved_at timestamptz NOT NULL, order_id integer REFERENCES purchase_orders)
"""

SQLITE_SCHEMA = """
CREATE TABLE suppliers (
  supplier_id integer PRIMARY KEY, name text NOT NULL, country char(2) NOT NULL,
  rating decimal(3,1), active boolean NOT NULL, created_at timestamp NOT NULL);
CREATE TABLE purchase_orders (
  order_id integer PRIMARY KEY, supplier_id integer NOT NULL REFERENCES suppliers,
  status text NOT NULL, total decimal(12,2) NOT NULL, currency char(3) NOT NULL,
  lines json NOT NULL, ordered_at timestamp NOT NULL, updated_at timestamp NOT NULL);
CREATE TABLE stock_movements (
  movement_id bigint PRIMARY KEY, product text NOT NULL, quantity integer NOT NULL,
  moved_at timestamp NOT NULL, order_id integer REFERENCES purchase_orders)
"""


def rows() -> dict[str, list[tuple[Any, ...]]]:
    """The demo's rows, table by table: the same on every call."""
    rng = random.Random(19)
    start = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    suppliers = [
        (
            n,
            name,
            country,
            Decimal(rng.randint(25, 50)) / 10,
            n != 7,
            start - timedelta(days=400 - n),
        )
        for n, (name, country) in enumerate(SUPPLIERS, start=1)
    ]
    orders, movements = [], []
    for order_id in range(1, 241):
        ordered = start + timedelta(hours=order_id * 7, minutes=rng.randint(0, 59))
        lines = [
            {"product": rng.choice(PRODUCTS), "quantity": rng.randint(1, 40)}
            for _ in range(rng.randint(1, 4))
        ]
        for line in lines:
            line["unit_price"] = str(Decimal(rng.randint(150, 9000)) / 100)
        total = sum(
            (Decimal(str(line["unit_price"])) * int(str(line["quantity"])) for line in lines),
            Decimal(0),
        )
        status = STATUSES[min(4, rng.randint(0, 5))] if order_id < 220 else "ordered"
        updated = ordered + timedelta(days=rng.randint(0, 6), minutes=rng.randint(0, 600))
        orders.append(
            (
                order_id,
                rng.randint(1, len(SUPPLIERS)),
                status,
                total.quantize(Decimal("0.01")),
                "EUR",
                json.dumps(lines),
                ordered,
                updated,
            )
        )
        if status == "received":
            for n, line in enumerate(lines):
                movements.append(
                    (order_id * 10 + n, line["product"], line["quantity"], updated, order_id)
                )
    return {"suppliers": suppliers, "purchase_orders": orders, "stock_movements": movements}


def write_sqlite(path: Path) -> None:
    """Write the demo database as an SQLite file (timestamps as UTC text)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)

    def plain(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
        if isinstance(value, Decimal):
            return float(value)
        return value

    with contextlib.closing(sqlite3.connect(path)) as lite:
        lite.executescript(SQLITE_SCHEMA)
        for table, values in rows().items():
            marks = ", ".join("?" * len(values[0]))
            lite.executemany(
                f"INSERT INTO {table} VALUES ({marks})", [tuple(map(plain, r)) for r in values]
            )
        lite.commit()


def load_postgres(server_url: str) -> str:
    """(Re)create the database `tributary_demo` on the server at `server_url` with the demo's
    rows; returns its URL. Raises psycopg's error when the server does not answer."""
    import psycopg

    with psycopg.connect(server_url, autocommit=True, connect_timeout=3) as con:
        exists = con.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone()
        if not exists:
            con.execute(f"CREATE DATABASE {DATABASE}")
    url = server_url.rsplit("/", 1)[0] + f"/{DATABASE}"
    with psycopg.connect(url, autocommit=False) as con:
        con.execute("DROP TABLE IF EXISTS stock_movements, purchase_orders, suppliers")
        for statement in POSTGRES_SCHEMA.split(";"):
            con.execute(statement)
        for table, values in rows().items():
            marks = ", ".join(["%s"] * len(values[0]))
            with con.cursor() as cursor:
                cursor.executemany(f"INSERT INTO {table} VALUES ({marks})", values)
        con.commit()
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sqlite", action="store_true", help=f"rewrite {SQLITE_FILE}")
    args = parser.parse_args()
    if args.sqlite:
        write_sqlite(settings.resolve(SQLITE_FILE))
        print(SQLITE_URL)
        return
    server = os.environ.get("DEMO_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    try:
        print(load_postgres(server))
    except Exception as error:  # no PostgreSQL here: the shipped SQLite file serves
        print(
            f"no PostgreSQL at {server} ({type(error).__name__}); using {SQLITE_FILE}",
            file=sys.stderr,
        )
        print(SQLITE_URL)


if __name__ == "__main__":
    main()
