"""A throwaway PostgreSQL server for tests that stop, restart or reconfigure one: started from
the installed binaries (`pg_config --bindir`) under a temporary directory, on a free port, as
the `postgres` user when run as root."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path


def _bindir() -> Path:
    return Path(subprocess.check_output(["pg_config", "--bindir"], text=True).strip())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Postgres:
    """One server: `url` connects as `postgres` to database `postgres` (trust, loopback)."""

    def __init__(self, directory: Path, settings: Sequence[str] = ()) -> None:
        self.directory = directory
        self.data = directory / "data"
        self.port = _free_port()
        self.settings = settings

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        command = [str(_bindir() / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def init(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")

    def start(self) -> None:
        options = [f"-p {self.port}", "-k /tmp", "-c listen_addresses=127.0.0.1", "-c fsync=off"]
        options += [f"-c {setting}" for setting in self.settings]
        log = str(self.directory / "server.log")
        self._run("pg_ctl", "-D", str(self.data), "-l", log, "-o", " ".join(options), "-w", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")


@contextmanager
def throwaway_postgres(settings: Sequence[str] = ()) -> Iterator[Postgres]:
    """A started server, stopped and removed afterwards."""
    directory = Path(tempfile.mkdtemp(prefix="sql19-pg-"))
    os.chmod(directory, 0o755)
    server = Postgres(directory / "pg", settings)
    server.init()
    server.start()
    try:
        yield server
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # stopped by the test
            server.stop()
        shutil.rmtree(directory, ignore_errors=True)
