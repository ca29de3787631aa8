"""A throwaway MariaDB server with the binary log on in row format with full row metadata
(what change capture reads), from the installed `mariadb-install-db` and `mariadbd`, under a
temporary directory on a free loopback port. `stop()` shuts it down and removes it."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pymysql

from tests.servers.postgres import free_port


@dataclass
class MariaDbServer:
    directory: Path
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"mysql://root@127.0.0.1:{self.port}/test"

    def connect(self, database: str | None = "test") -> pymysql.Connection:  # type: ignore[type-arg]
        return pymysql.connect(
            host="127.0.0.1", port=self.port, user="root", database=database, autocommit=True
        )

    @classmethod
    def start(cls) -> MariaDbServer:
        directory = Path(tempfile.mkdtemp(prefix="tributary-mariadb-"))
        data = directory / "data"
        user = ["--user=root"] if os.geteuid() == 0 else []
        try:
            subprocess.run(
                [
                    "mariadb-install-db",
                    "--no-defaults",
                    f"--datadir={data}",
                    "--auth-root-authentication-method=normal",
                    "--skip-test-db",
                    *user,
                ],
                check=True,
                capture_output=True,
            )
        except subprocess.CalledProcessError:
            shutil.rmtree(directory, ignore_errors=True)
            raise
        port = free_port()
        process = subprocess.Popen(
            [
                "mariadbd",
                "--no-defaults",
                f"--datadir={data}",
                f"--port={port}",
                "--bind-address=127.0.0.1",
                f"--socket={directory / 'sock'}",
                f"--pid-file={directory / 'pid'}",
                "--log-bin=binlog",
                "--server-id=1",
                "--binlog-format=ROW",
                "--binlog-row-metadata=FULL",
                "--binlog-row-image=FULL",
                "--innodb-buffer-pool-size=64M",
                "--innodb-flush-log-at-trx-commit=0",
                "--sync-binlog=0",
                *user,
            ],
            stdout=subprocess.DEVNULL,
            stderr=(directory / "log").open("wb"),
        )
        server = cls(directory, port, process)
        deadline = time.monotonic() + 60
        while True:
            try:
                with server.connect(None) as con, con.cursor() as cursor:
                    cursor.execute("CREATE DATABASE IF NOT EXISTS test")
                return server
            except pymysql.err.OperationalError:
                if time.monotonic() > deadline or process.poll() is not None:
                    server.stop()
                    raise
                time.sleep(0.2)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)
