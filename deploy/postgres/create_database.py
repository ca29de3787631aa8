"""Create the PostgreSQL database a Dagster instance URL names, unless it exists.

    python deploy/postgres/create_database.py postgresql+psycopg2://postgres@127.0.0.1:5432/dagster

Connects to the server's `postgres` database as the URL's user; Dagster creates its own tables.
"""

from __future__ import annotations

import sys

import psycopg2
from psycopg2 import sql
from sqlalchemy.engine import make_url


def create_database(url: str) -> bool:
    """Create the database of `url`; False if it already existed."""
    parsed = make_url(url)
    if not parsed.database:
        raise SystemExit(f"{url}: names no database")
    server = psycopg2.connect(
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 5432,
        user=parsed.username or "postgres",
        password=parsed.password,
        dbname="postgres",
    )
    server.autocommit = True
    try:
        with server.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [parsed.database])
            if cursor.fetchone():
                return False
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(parsed.database)))
            return True
    finally:
        server.close()


if __name__ == "__main__":
    created = create_database(sys.argv[1])
    print(f"database {make_url(sys.argv[1]).database}: {'created' if created else 'exists'}")
