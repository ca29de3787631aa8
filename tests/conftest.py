"""Shared fixtures: a project folder in `tmp_path` with its own catalog, samples and warehouse."""

from __future__ import annotations

import contextlib
import os
import secrets
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pytest
from dagster import DagsterInstance

from platform_assets import demo_api
from platform_assets.catalog import Catalog
from platform_assets.files_kind.reader import FileReader
from platform_assets.platform import load_platform_catalog
from platform_assets.rest_kind.reader import RestReader
from platform_assets.runner import RunReport, run_sources
from resources.warehouse import Warehouse
from tests.servers.mariadb import MariaDbServer
from tests.servers.postgres import PostgresServer

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Project:
    """A throwaway Tributary project: catalog files, input files and a warehouse under one root."""

    root: Path
    instance: DagsterInstance

    @property
    def catalog_dir(self) -> Path:
        return self.root / "catalog"

    @property
    def warehouse(self) -> Warehouse:
        return Warehouse(
            path=str(self.root / "warehouse.duckdb"), staging_dir=str(self.root / ".staging")
        )

    def source(self, name: str, yaml_text: str) -> Path:
        """Write `catalog/<name>.yaml`."""
        self.catalog_dir.mkdir(exist_ok=True)
        path = self.catalog_dir / f"{name}.yaml"
        path.write_text(textwrap.dedent(yaml_text), encoding="utf-8")
        return path

    def file(self, relative: str, content: str | bytes) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content).lstrip("\n"), encoding="utf-8")
        return path

    def catalog(self) -> Catalog:
        return load_platform_catalog(self.catalog_dir)

    def resources(self) -> dict[str, Any]:
        return {
            "warehouse": self.warehouse,
            "files": FileReader(root=str(self.root)),
            "rest": RestReader(cache_dir=str(self.root / "data" / ".cache")),
        }

    def run(self, *sources: str) -> RunReport:
        """Materialize the named sources (all when none) through Dagster."""
        catalog = self.catalog()
        chosen = [s for s in catalog.sources if not sources or s.name in sources]
        return run_sources(catalog, chosen, instance=self.instance, resources=self.resources())

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        with duckdb.connect(str(self.root / "warehouse.duckdb"), read_only=True) as con:
            return con.execute(sql).fetchall()

    def scalar(self, sql: str) -> Any:
        return self.query(sql)[0][0]


@pytest.fixture(scope="session", autouse=True)
def demo_apis() -> Iterator[None]:
    """The local stand-in for the demo catalog's REST APIs, for tests that run the demo catalog."""
    server = demo_api.start()
    names = demo_api.base_urls(server.server_address[1])
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update(names)
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    server.shutdown()
    server.server_close()


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    with DagsterInstance.ephemeral() as ephemeral:
        yield ephemeral


@pytest.fixture
def project(tmp_path: Path, instance: DagsterInstance) -> Project:
    return Project(root=tmp_path, instance=instance)


@pytest.fixture
def warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Warehouse]:
    """A DuckDB-file warehouse in `tmp_path`; a DuckLake one for tests marked `both_backends`."""
    with warehouse_on(getattr(request, "param", "duckdb"), tmp_path) as chosen:
        yield chosen


POSTGRES = "host=127.0.0.1 port=5432 user=postgres"


@contextlib.contextmanager
def lake_database() -> Iterator[str]:
    """A fresh PostgreSQL database (unique name) for a DuckLake catalog, dropped afterwards."""
    prefix = os.environ.get("TRIBUTARY_TEST_DATABASE_PREFIX", "tributary_lake")
    name = f"{prefix}_{secrets.token_hex(6)}"
    with psycopg.connect(f"{POSTGRES} dbname=postgres", autocommit=True) as pg:
        pg.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(f"{POSTGRES} dbname=postgres", autocommit=True) as pg:
            pg.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def lake_warehouse_at(root: Path, database: str, **options: Any) -> Warehouse:
    """A DuckLake warehouse: catalog in `database`, Parquet files under `root/lake`."""
    return Warehouse(
        path=f"ducklake:postgres:dbname={database} {POSTGRES}",
        data_path=str(root / "lake"),
        staging_dir=str(root / ".staging"),
        **options,
    )


@pytest.fixture(scope="session")
def logical_postgres() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL server with `wal_level=logical` (the machine's own runs without
    it), started once per test session and stopped after it."""
    server = PostgresServer.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def binlog_mariadb() -> Iterator[MariaDbServer]:
    """A throwaway MariaDB server with the binary log on (row format, full row metadata),
    started once per test session and stopped after it."""
    server = MariaDbServer.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def lake_warehouse(tmp_path: Path) -> Iterator[Warehouse]:
    with lake_database() as database:
        yield lake_warehouse_at(tmp_path, database)


@contextlib.contextmanager
def warehouse_on(backend: str, root: Path) -> Iterator[Warehouse]:
    """A warehouse under `root` on `backend`: `duckdb` (a file) or `ducklake` (a fresh catalog
    database, dropped afterwards)."""
    if backend == "duckdb":
        yield Warehouse(path=str(root / "warehouse.duckdb"), staging_dir=str(root / ".staging"))
        return
    with lake_database() as database:
        yield lake_warehouse_at(root, database)


both_backends = pytest.mark.parametrize("warehouse", ["duckdb", "ducklake"], indirect=True)
"""For the writer's core tests: run them on a DuckDB file and on a DuckLake (the `warehouse`
fixture reads the parameter; unmarked tests use a file)."""
