"""A throwaway PostgreSQL server with `wal_level=logical`, from the installed binaries.

`initdb` and `pg_ctl` are not on PATH (`pg_config --bindir` says where) and refuse to run as
root, so as root they run as the `postgres` user. The cluster lives under a temporary directory
and listens on a free loopback port; `stop()` shuts it down and removes it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_postgres(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@dataclass
class PostgresServer:
    directory: Path
    port: int
    bindir: Path

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @classmethod
    def start(cls, **overrides: str) -> PostgresServer:
        """Start a server; `overrides` replace settings of postgresql.conf by name."""
        bindir = Path(subprocess.check_output(["pg_config", "--bindir"], text=True).strip())
        directory = Path(tempfile.mkdtemp(prefix="tributary-pg-"))
        os.chmod(directory, 0o777)
        data = directory / "data"
        port = free_port()
        subprocess.run(
            _as_postgres(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--no-sync",
                ]
            ),
            check=True,
            capture_output=True,
        )
        settings = {
            "wal_level": "logical",
            "max_replication_slots": "20",
            "max_wal_senders": "20",
            "listen_addresses": "'127.0.0.1'",
            "port": str(port),
            "unix_socket_directories": f"'{directory}'",
            "fsync": "off",
            "full_page_writes": "off",
            "shared_buffers": "64MB",
            "max_slot_wal_keep_size": "64MB",  # small, so tests can see a slot invalidated
            **overrides,
        }
        with (data / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{k} = {v}\n" for k, v in settings.items())
        server = cls(directory, port, bindir)
        subprocess.run(
            _as_postgres(
                [
                    str(bindir / "pg_ctl"),
                    "-D",
                    str(data),
                    "-l",
                    str(directory / "log"),
                    "-w",
                    "start",
                ]
            ),
            check=True,
            capture_output=True,
        )
        return server

    def stop(self) -> None:
        subprocess.run(
            _as_postgres(
                [
                    str(self.bindir / "pg_ctl"),
                    "-D",
                    str(self.directory / "data"),
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                ]
            ),
            capture_output=True,
        )
        shutil.rmtree(self.directory, ignore_errors=True)
