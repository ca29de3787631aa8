"""Real databases for `kind: sql` tests: a schema of the machine's PostgreSQL, a database of
its MariaDB, an SQLite file; each unique to its test and dropped after it."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pymysql
import pytest

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
MARIADB_URL = "mysql://root@127.0.0.1:3306"


@dataclass
class PgSchema:
    """A schema of its own in the machine's PostgreSQL."""

    name: str
    url: str = PG_URL

    def run(self, *statements: str, params: Any = None) -> None:
        with psycopg.connect(self.url, autocommit=True) as con:
            con.execute(f'SET search_path TO "{self.name}"')
            for statement in statements:
                con.execute(statement, params)

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url, autocommit=True) as con:
            con.execute(f'SET search_path TO "{self.name}"')
            return list(con.execute(sql).fetchall())


@dataclass
class MariaDb:
    """A database of its own in the machine's MariaDB."""

    name: str

    @property
    def url(self) -> str:
        return f"{MARIADB_URL}/{self.name}"

    def run(self, *statements: str) -> None:
        con = pymysql.connect(host="127.0.0.1", user="root", database=self.name, autocommit=True)
        try:
            with con.cursor() as cursor:
                for statement in statements:
                    cursor.execute(statement)
        finally:
            con.close()


def unique(prefix: str) -> str:
    return f"sql19_{prefix}_{secrets.token_hex(4)}"


@pytest.fixture
def pg() -> Iterator[PgSchema]:
    schema = PgSchema(unique("pg"))
    with psycopg.connect(PG_URL, autocommit=True) as con:
        con.execute(f'CREATE SCHEMA "{schema.name}"')
    yield schema
    with psycopg.connect(PG_URL, autocommit=True) as con:
        con.execute(f'DROP SCHEMA "{schema.name}" CASCADE')


@pytest.fixture
def maria() -> Iterator[MariaDb]:
    database = MariaDb(unique("my"))
    con = pymysql.connect(host="127.0.0.1", user="root", autocommit=True)
    try:
        with con.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE `{database.name}`")
        yield database
        with con.cursor() as cursor:
            cursor.execute(f"DROP DATABASE `{database.name}`")
    finally:
        con.close()
