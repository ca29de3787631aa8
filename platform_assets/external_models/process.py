"""The model's own process, started before its inputs are exported and told to run once the
Pipes session is open.

`PipesSubprocessClient` starts the interpreter only when everything is ready, so a run waits for
the export, then for the interpreter to start and import `dagster_pipes`, one after the other.
Here the interpreter starts first, imports `dagster_pipes` (and nothing of the platform) while
the inputs are exported, then waits on its stdin. `ModelProcess.run` opens the Pipes session,
hands the child the session's environment variables in one line, and the child runs the model
file as `python <file>` would (`__main__`, `sys.argv`, its folder first on `sys.path`). Its
stdout and stderr are the step's, as with `PipesSubprocessClient(forward_stdio=True)`; its stdin
is empty once that line is read.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import warnings
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from dagster import (
    AssetExecutionContext,
    DagsterExecutionInterruptedError,
    PipesClientCompletedInvocation,
    PipesFileContextInjector,
    PipesFileMessageReader,
    open_pipes_session,
)

TERMINATION_SECONDS = 20.0
"""How long a model interrupted with SIGINT (the run was cancelled) may take to exit."""

BOOT = """
import json, os, runpy, sys
try:
    import dagster_pipes
except ImportError:
    pass
line = sys.stdin.readline()
if not line.strip():
    sys.exit(0)
path = sys.argv[1]
os.environ.update(json.loads(line))
sys.argv = [path]
sys.path[0] = os.path.dirname(path)
runpy.run_path(path, run_name="__main__")
"""
"""What the interpreter runs: import `dagster_pipes` while it waits, then the model's file as
its `__main__` once told the Pipes session's variables (an empty line: exit, nothing to run)."""


class ModelRunError(Exception):
    """The model's process failed or broke its declaration; nothing of it landed."""


class ModelProcess:
    """A model's interpreter, started at once and waiting to run `path` (see the module).

    Use as a context manager: leaving it without `run` (the export failed, say) tells the
    process to exit and waits for it, so no interpreter outlives its step."""

    def __init__(self, python: str, path: Path) -> None:
        self.command: Sequence[str] = [python, "-c", BOOT, str(path)]
        self._process = subprocess.Popen(self.command, stdin=subprocess.PIPE, text=True)

    def __enter__(self) -> ModelProcess:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._process.returncode is not None:
            return
        try:
            self._tell("")
            self._process.wait(timeout=TERMINATION_SECONDS)
        except (OSError, subprocess.TimeoutExpired):
            self._process.kill()
            self._process.wait()

    def run(
        self,
        context: AssetExecutionContext,
        extras: dict[str, dict[str, str]],
        directory: Path,
    ) -> PipesClientCompletedInvocation:
        """Run the model in a Pipes session whose context and message files are in `directory`,
        and wait for it to exit. Raises ModelRunError when it exits with a code other than 0."""
        with warnings.catch_warnings():
            # Dagster's session warns that a method it calls itself is in preview: noise in
            # every run's output that no user can act on.
            warnings.filterwarnings("ignore", message=".*expected_writer_count")
            with open_pipes_session(
                context=context,
                context_injector=PipesFileContextInjector(str(directory / "pipes_context.json")),
                message_reader=PipesFileMessageReader(str(directory / "pipes_messages.jsonl")),
                extras=extras,
            ) as session:
                # If it exited already (it cannot import, say), its exit code says why.
                with contextlib.suppress(OSError):
                    self._tell(json.dumps(dict(session.get_bootstrap_env_vars())))
                try:
                    code = self._process.wait()
                except DagsterExecutionInterruptedError:
                    context.log.info("[pipes] execution interrupted, sending SIGINT to the model.")
                    self._process.send_signal(signal.SIGINT)
                    self._process.wait(timeout=TERMINATION_SECONDS)
                    raise
        if code != 0:
            raise ModelRunError(f"its process failed with code {code}")
        return PipesClientCompletedInvocation(session)

    def _tell(self, line: str) -> None:
        stdin = self._process.stdin
        assert stdin is not None
        if stdin.closed:
            return
        try:
            stdin.write(line + "\n")
            stdin.flush()
        finally:
            with contextlib.suppress(OSError):
                stdin.close()
