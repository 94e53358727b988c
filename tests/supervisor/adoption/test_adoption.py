"""A daemon killed with SIGKILL under a keeper, started again, adopts its programs.

Real keeper, real daemons, real programs: several flood numbered lines at full speed;
the daemon is SIGKILLed mid-flood and started again (through the same command, which
finds the live keeper). The proof: same pids, nothing restarted, every line exactly
once and in order per stream, and a program that exited while no daemon ran shows its
real exit code and was restarted by its policy.
"""

from __future__ import annotations

import os
import select
import signal
import sys
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from tests.supervisor.adoption.kept import KeptDaemon
from tests.support.daemon import SLEEP_FOREVER, helper
from tests.support.waiting import DEADLINE, wait_until

LINES = 100_000
"""Numbered lines per stream and flooder: about 1.3 MB, twenty pipes' worth."""


def _programs(go: Path) -> str:
    wait_then_exit = (
        f"import os, time\nwhile not os.path.exists({str(go)!r}): time.sleep(0.01)\nos._exit(3)"
    )
    return f"""
[programs.flood]
command = {helper("numbered_flood", str(LINES))}
numprocs = 2
start_seconds = 0

[programs.quitter]
command = ["{sys.executable}", "-c", {wait_then_exit!r}]
start_seconds = 0
restart = "on-failure"
backoff = {{ initial = 0.1 }}

[programs.calm]
command = {SLEEP_FOREVER}
start_seconds = 0
"""


def _expected(stream: str) -> bytes:
    return "".join(f"{stream} {n}\n" for n in range(LINES)).encode()


def _lines(path: Path) -> int:
    try:
        with path.open("rb") as f:
            return f.read().count(b"\n")
    except FileNotFoundError:
        return 0


def _done(path: Path) -> bool:
    return _lines(path) >= LINES


def _wait_gone(pid: int) -> None:
    """Wait until that very process has exited (its pidfd polls readable)."""
    fd = os.pidfd_open(pid)
    try:
        assert select.select([fd], [], [], DEADLINE)[0], f"pid {pid} did not exit"
    finally:
        os.close(fd)


@pytest.fixture
def crashed(tmp_path: Path) -> Iterator[tuple[KeptDaemon, dict[str, int]]]:
    """A daemon SIGKILLed mid-flood, the quitter exited while it was down, started again."""
    go = tmp_path / "go"
    daemon = KeptDaemon(tmp_path, _programs(go), "log_timestamps = false\n")
    daemon.start_kept()
    try:
        names = ("flood:0", "flood:1", "quitter:0", "calm:0")
        before = {name: daemon.wait_state(name, "RUNNING")["pid"] for name in names}
        wait_until(
            lambda: _lines(daemon.log_path("flood:1", "stderr")) > LINES // 20,
            what="the flood to be under way",
        )
        dead = daemon.daemon_pid()
        os.kill(dead, signal.SIGKILL)
        _wait_gone(dead)
        go.touch()  # the quitter exits 3 now, while no daemon runs: the keeper reaps it
        wait_until(
            lambda: daemon.held()["quitter:0"].status is not None,
            what="the keeper to reap the quitter",
        )
        daemon.restart_kept()
        yield daemon, before
    finally:
        daemon.stop()


def test_the_programs_are_adopted_not_restarted(
    crashed: tuple[KeptDaemon, dict[str, int]],
) -> None:
    daemon, before = crashed
    rows = daemon.status()
    for name in ("flood:0", "flood:1", "calm:0"):
        assert rows[name]["pid"] == before[name], name
    adopted = [m for m in daemon.events("daemon") if "adopted" in str(m["data"].get("message"))]
    assert adopted, "no adoption event"
    assert set(adopted[0]["data"]["adopted"]) >= {"flood:0", "flood:1", "calm:0"}


def test_every_line_is_logged_exactly_once_in_order(
    crashed: tuple[KeptDaemon, dict[str, int]],
) -> None:
    daemon, _ = crashed
    for name in ("flood:0", "flood:1"):
        for stream in ("stdout", "stderr"):
            path = daemon.log_path(name, stream)
            wait_until(partial(_done, path), what=f"{name} {stream} to finish")
            assert path.read_bytes() == _expected(stream), f"{name} {stream}"


def test_a_program_that_exited_while_no_daemon_ran_shows_its_code_and_is_restarted(
    crashed: tuple[KeptDaemon, dict[str, int]],
) -> None:
    daemon, before = crashed
    exits = [
        e
        for e in daemon.events("state")
        if e["subject"] == "quitter:0" and "exit 3" in str(e["data"].get("reason"))
    ]
    assert exits, [e["data"] for e in daemon.events("state") if e["subject"] == "quitter:0"]
    row = daemon.wait_state("quitter:0", "RUNNING", "BACKOFF", "STARTING")
    assert row["pid"] != before["quitter:0"] or row["state"] == "BACKOFF"
