"""A real corral daemon under test: its config, its process, its API and its CLI.

The daemon is started through corral's own spawn path as
`python tests/support/guarded_daemon.py -c CONFIG`, which runs the same entry
point as `corral daemon -c CONFIG` with the loop guard installed and asyncio debug
mode on (`daemon_argv`). A pipe passed as CORRAL_READY_FD gets "ready" once its
API socket listens, so the test waits for that event, not for a guess. Its
stdout (the event lines) goes to a file the tests can read.

A blocking call on the daemon's event loop fails the test: `stop()` raises with
the guard's report (the call and its stack), and the autouse fixture
`no_blocking_call_on_a_daemon_loop` fails a test whose daemon ended any other way.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import corral
from corral._control.client import Client
from corral._control.detach import wait_ready
from corral.sandbox import Sandbox
from tests.support.events import EventWatch
from tests.support.guarded_daemon import REPORT_VARIABLE
from tests.support.waiting import DEADLINE

PYTHON = sys.executable
GUARDED_DAEMON = Path(__file__).resolve().parent / "guarded_daemon.py"
SLEEP_FOREVER = '["sleep", "300"]'
"""A TOML command that runs until stopped (bounded at 300 s)."""
HELPERS = Path(__file__).resolve().parent.parent / "helpers"


def helper(name: str, *args: str) -> str:
    """A TOML array literal that runs tests/helpers/NAME.py with args."""
    argv = [PYTHON, str(HELPERS / f"{name}.py"), *args]
    return "[" + ", ".join(_toml_str(a) for a in argv) + "]"


def daemon_argv(config: Path | str, *, report_known: Iterable[str] = ()) -> list[str]:
    """The command that runs a daemon under test on `config` (with the loop guard).

    `report_known` names loop_guard.KNOWN entries (by function) the guard reports too.
    """
    known = [arg for function in report_known for arg in ("--report-known", function)]
    return [PYTHON, str(GUARDED_DAEMON), "-c", str(config), *known]


_UNCHECKED_REPORTS: set[Path] = set()
"""Loop reports of daemons started and not yet checked (`take_unchecked_loop_reports`)."""


def take_unchecked_loop_reports() -> str:
    """The loop reports of every daemon not checked at `stop()`; forgets them."""
    text = "".join(path.read_text() for path in sorted(_UNCHECKED_REPORTS) if path.exists())
    _UNCHECKED_REPORTS.clear()
    return text


def _toml_str(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Daemon:
    """One running daemon; call `stop()` (the fixture does) to shut it down."""

    def __init__(
        self,
        workdir: Path,
        programs: str,
        daemon_keys: str = "",
        *,
        report_known: Iterable[str] = (),
    ) -> None:
        self.workdir = workdir
        self.report_known = tuple(report_known)
        """loop_guard.KNOWN entries (by function) the loop guard reports too."""
        self.daemon_keys = textwrap.dedent(daemon_keys)
        """More lines for the [daemon] table (socket and log_dir are always set)."""
        self.socket = os.path.join(tempfile.mkdtemp(prefix="crl", dir="/tmp"), "api.sock")
        self.log_dir = str(workdir / "logs")
        self.config = workdir / "corral.toml"
        self.output = workdir / "daemon.out"
        self.loop_report = workdir / "daemon.loop-report"
        """The guard's reports of blocking calls on the daemon's loop (absent: none)."""
        self.write_config(programs)
        self.process: corral.Process | None = None

    def write_config(self, programs: str) -> None:
        """(Re)write the config file with these [programs.*] tables."""
        head = f"[daemon]\nsocket = {_toml_str(self.socket)}\nlog_dir = {_toml_str(self.log_dir)}\n"
        head += self.daemon_keys
        self.config.write_text(head + "\n" + textwrap.dedent(programs))

    def start(
        self,
        *,
        leak_fds: tuple[int, ...] = (),
        nofile: tuple[int, int] | None = None,
        env: Mapping[str, str] | None = None,
        argv: Sequence[str] | None = None,
    ) -> None:
        """Start the daemon and return once its API answers.

        `leak_fds` are passed to the daemon without close-on-exec, as a careless
        launcher (a shell, a parent with an open socket) would. `nofile` is the
        (soft, hard) RLIMIT_NOFILE it is started with (a launcher's limit). `env`
        adds variables to its environment (what a service manager sets). `argv`
        replaces the guarded daemon's command line, e.g. by `corral daemon -c CONFIG`
        as a user runs it (then there is no loop guard).
        """
        limits = None if nofile is None else Sandbox(rlimits={"nofile": nofile})
        read, write = os.pipe()
        _UNCHECKED_REPORTS.add(self.loop_report)
        try:
            self.process = corral.start(
                list(argv)
                if argv is not None
                else daemon_argv(self.config, report_known=self.report_known),
                extra_env={
                    **(env or {}),
                    "CORRAL_READY_FD": str(write),
                    REPORT_VARIABLE: str(self.loop_report),
                },
                pass_fds=[write, *leak_fds],
                stdout=corral.File(str(self.output)),
                stderr="merge",
                sandbox=limits,
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
        """Shut down through the API and wait for the daemon to exit.

        Raises AssertionError if the daemon made a blocking call on its loop.
        """
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
            self.assert_loop_never_blocked()  # first: it says why the daemon exited 3

    def assert_loop_never_blocked(self) -> None:
        """Fail with the guard's reports if the daemon made a blocking call on its loop."""
        _UNCHECKED_REPORTS.discard(self.loop_report)
        text = self.loop_report.read_text() if self.loop_report.exists() else ""
        if text:
            raise AssertionError(f"the daemon made blocking calls on its event loop:\n{text}")

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
def running_daemon(
    workdir: Path,
    programs: str,
    daemon_keys: str = "",
    *,
    report_known: Iterable[str] = (),
    nofile: tuple[int, int] | None = None,
    env: Mapping[str, str] | None = None,
) -> Iterator[Daemon]:
    """A started daemon that is shut down (and proven gone) when the block ends.

    `nofile` is the (soft, hard) RLIMIT_NOFILE the daemon is started with.
    """
    daemon = Daemon(workdir, programs, daemon_keys, report_known=report_known)
    daemon.start(nofile=nofile, env=env)
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
