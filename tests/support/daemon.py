"""A real corral daemon under test: its config, its process, its API and its CLI.

The daemon is started as `python -m corral daemon -c CONFIG` through corral's own
spawn path, with a pipe passed as CORRAL_READY_FD: it writes "ready" there once
its API socket listens, so the test waits for that event, not for a guess.
Its stdout (the event lines) goes to a file the tests can read.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import corral
from corral._control.client import Client
from corral._control.detach import wait_ready
from tests.support.events import EventWatch
from tests.support.waiting import DEADLINE

PYTHON = sys.executable
SLEEP_FOREVER = '["sleep", "300"]'
"""A TOML command that runs until stopped (bounded at 300 s)."""
HELPERS = Path(__file__).resolve().parent.parent / "helpers"


def helper(name: str, *args: str) -> str:
    """A TOML array literal that runs tests/helpers/NAME.py with args."""
    argv = [PYTHON, str(HELPERS / f"{name}.py"), *args]
    return "[" + ", ".join(_toml_str(a) for a in argv) + "]"


def _toml_str(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Daemon:
    """One running daemon; call `stop()` (the fixture does) to shut it down."""

    def __init__(self, workdir: Path, programs: str, daemon_keys: str = "") -> None:
        self.workdir = workdir
        self.daemon_keys = textwrap.dedent(daemon_keys)
        """More lines for the [daemon] table (socket and log_dir are always set)."""
        self.socket = os.path.join(tempfile.mkdtemp(prefix="crl", dir="/tmp"), "api.sock")
        self.log_dir = str(workdir / "logs")
        self.config = workdir / "corral.toml"
        self.output = workdir / "daemon.out"
        self.write_config(programs)
        self.process: corral.Process | None = None

    def write_config(self, programs: str) -> None:
        """(Re)write the config file with these [programs.*] tables."""
        head = f"[daemon]\nsocket = {_toml_str(self.socket)}\nlog_dir = {_toml_str(self.log_dir)}\n"
        head += self.daemon_keys
        self.config.write_text(head + "\n" + textwrap.dedent(programs))

    def start(self, *, leak_fds: tuple[int, ...] = ()) -> None:
        """Start the daemon and return once its API answers.

        `leak_fds` are passed to the daemon without close-on-exec, as a careless
        launcher (a shell, a parent with an open socket) would.
        """
        read, write = os.pipe()
        try:
            self.process = corral.start(
                [PYTHON, "-m", "corral", "daemon", "-c", str(self.config)],
                extra_env={"CORRAL_READY_FD": str(write)},
                pass_fds=[write, *leak_fds],
                stdout=corral.File(str(self.output)),
                stderr="merge",
            )
        finally:
            os.close(write)
        try:
            ready = wait_ready(read, DEADLINE)
        finally:
            os.close(read)
        if not ready:
            detail = self.output.read_text() if self.output.exists() else ""
            self.kill()
            raise AssertionError(f"the daemon did not become ready; it printed:\n{detail}")

    # -- talking to it --------------------------------------------------------

    def call(self, method: str, path: str, body: object | None = None, **query: str) -> Any:
        """One API request (path without the /v1 prefix)."""
        with Client(self.socket, timeout=None) as client:
            return client.request(method, "/v1" + path, body=body, query=query or None)

    def status(self) -> dict[str, dict[str, Any]]:
        """Instance name -> its status row."""
        rows = cast(list[dict[str, Any]], self.call("GET", "/status")["instances"])
        return {row["name"]: row for row in rows}

    def state(self, name: str) -> str:
        """The state of one instance."""
        return cast(str, self.status()[name]["state"])

    def watch(self, since: int | None = None) -> EventWatch:
        """Subscribe to the event stream (from now, or replaying after seq `since`).

        Subscribe before acting, then wait for the event the action causes:
        `with daemon.watch() as events: act(); events.wait_state("web:0", "RUNNING")`.
        """
        return EventWatch(self.socket, since)

    def wait_state(self, name: str, *states: str) -> dict[str, Any]:
        """Wait until `name` is in one of `states`; returns its status row.

        Subscribes first, then reads the status once: if it is not there yet, the state
        event that gets it there comes after the subscription, and is waited for.
        """
        deadline = time.monotonic() + DEADLINE
        with self.watch() as events:
            row = self.status()[name]
            while row["state"] not in states:  # again if it moved on before the status read
                left = deadline - time.monotonic()
                events.wait_state(name, *states, timeout=left, start=len(events.seen))
                row = self.status()[name]
        return row

    def cli(self, *args: str, check: bool = False) -> corral.Result:
        """Run `corral --socket SOCK ARGS...` and return its Result."""
        argv = [PYTHON, "-m", "corral", *args]
        return corral.run(argv, extra_env={"CORRAL_SOCKET": self.socket}, check=check, timeout=120)

    def events(self, kind: str = "state") -> list[dict[str, Any]]:
        """Every event of `kind` still in the daemon's ring, oldest first."""
        rows = cast(list[dict[str, Any]], self.call("GET", "/events", since="0")["events"])
        return [row for row in rows if row["kind"] == kind]

    def log_path(self, instance: str, stream: str = "stdout") -> Path:
        """The log file of one instance's stream."""
        program, index = instance.split(":")
        return Path(self.log_dir) / f"{program}.{index}.{stream}.log"

    # -- ending it --------------------------------------------------------------

    def stop(self) -> corral.Result | None:
        """Shut down through the API and wait for the daemon to exit."""
        proc = self.process
        if proc is None:
            return None
        if proc.running:
            with contextlib.suppress(corral.CorralError):
                self.call("POST", "/shutdown")
        try:
            return proc.wait(timeout=DEADLINE * 2)
        finally:
            self._close()

    def kill(self) -> None:
        """Kill the daemon's tree at once (cleanup after a failure)."""
        if self.process is not None:
            self.process.kill()
            self._close()

    def _close(self) -> None:
        if self.process is not None:
            self.process.__exit__(None, None, None)
            self.process = None
        shutil.rmtree(os.path.dirname(self.socket), ignore_errors=True)


@contextmanager
def running_daemon(workdir: Path, programs: str, daemon_keys: str = "") -> Iterator[Daemon]:
    """A started daemon that is shut down (and proven gone) when the block ends."""
    daemon = Daemon(workdir, programs, daemon_keys)
    daemon.start()
    try:
        yield daemon
    except BaseException:
        try:
            daemon.stop()  # a graceful stop also ends the programs, which are not its tree
        finally:
            daemon.kill()
        raise
    result = daemon.stop()
    assert result is None or result.exit_code == 0, f"daemon ended with {result}"
