"""Write the demo catalog's sample inputs under `data/samples/`; the same bytes on every run.

    python -m platform_assets.demo_samples

A small shop: customers (CSV), products (Parquet) and monthly order files (JSON lines, one of
them gzipped) that refer to both. A handful of orders are dirty, as real exports are.
"""

from __future__ import annotations

import csv
import gzip
import json
import random
from datetime import date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from platform_assets import settings

COUNTRIES = ["FR", "DE", "ES", "IT", "NL", "BE", "PT", "IE", "PL", "SE"]
FIRST = ["Ada", "Ben", "Chloe", "Dmitri", "Elena", "Farid", "Greta", "Hugo", "Ines", "Jonas"]
LAST = ["Martin", "Schmidt", "Garcia", "Rossi", "de Vries", "Peeters", "Silva", "Murphy", "Nowak"]
CATEGORIES = {
    "coffee": ["Espresso beans", "Filter roast", "Decaf blend", "Cold brew pack"],
    "tea": ["Sencha", "Earl Grey", "Rooibos", "Chai"],
    "equipment": ["Pour-over kit", "Grinder", "Kettle", "Scale", "Tamper"],
}


def customers(rng: random.Random, count: int = 200) -> list[dict[str, object]]:
    start = date(2024, 1, 1)
    rows = []
    for customer_id in range(1, count + 1):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        rows.append(
            {
                "customer_id": customer_id,
                "name": f"{first} {last}",
                "email": f"{first}.{last.replace(' ', '')}{customer_id}@example.com".lower(),
                "country": rng.choice(COUNTRIES),
                "signup_date": (start + timedelta(days=rng.randrange(700))).isoformat(),
                "marketing_opt_in": rng.random() < 0.4,
            }
        )
    return rows


def products(rng: random.Random) -> pa.Table:
    rows = [
        {
            "product_id": 100 + i,
            "name": name,
            "category": category,
            "unit_price": round(rng.uniform(4, 180), 2),
        }
        for i, (category, name) in enumerate(
            (c, n) for c, names in CATEGORIES.items() for n in names
        )
    ]
    return pa.Table.from_pylist(rows).cast(
        pa.schema(
            [
                ("product_id", pa.int32()),
                ("name", pa.string()),
                ("category", pa.string()),
                ("unit_price", pa.decimal128(10, 2)),
            ]
        )
    )


def orders(
    rng: random.Random, month: int, first_id: int, count: int, product_ids: list[int]
) -> list[dict[str, object]]:
    rows = []
    for order_id in range(first_id, first_id + count):
        placed = datetime(2026, month, 1) + timedelta(minutes=rng.randrange(28 * 24 * 60))
        rows.append(
            {
                "order_id": order_id,
                "customer_id": rng.randint(1, 200),
                "product_id": rng.choice(product_ids),
                "quantity": rng.randint(1, 5),
                "status": rng.choices(["paid", "shipped", "cancelled"], [5, 12, 1])[0],
                "placed_at": placed.isoformat(timespec="seconds") + "Z",
                "shipping": {
                    "method": rng.choice(["standard", "express"]),
                    "country": rng.choice(COUNTRIES),
                },
            }
        )
    # What real exports carry: a non-positive quantity, an unknown customer, a bad status.
    rows[7]["quantity"] = 0
    rows[19]["customer_id"] = 9999
    rows[31]["status"] = "PAID?"
    return rows


def write(root: Path) -> list[Path]:
    rng = random.Random(20261123)
    samples = root / "data" / "samples"
    (samples / "orders").mkdir(parents=True, exist_ok=True)
    written = []

    path = samples / "customers.csv"
    people = customers(rng)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(people[0]))
        writer.writeheader()
        writer.writerows(people)
    written.append(path)

    table = products(rng)
    path = samples / "products.parquet"
    pq.write_table(table, path, compression="zstd")
    written.append(path)

    ids = table.column("product_id").to_pylist()
    next_id = 50_001
    for month, count in ((1, 600), (2, 650), (3, 700)):
        lines = "".join(json.dumps(r) + "\n" for r in orders(rng, month, next_id, count, ids))
        next_id += count
        name = f"orders-2026-{month:02d}.jsonl"
        if month == 3:
            path = samples / "orders" / (name + ".gz")
            path.write_bytes(gzip.compress(lines.encode(), mtime=0))
        else:
            path = samples / "orders" / name
            path.write_text(lines, encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for written_path in write(settings.project_root()):
        print(written_path)
