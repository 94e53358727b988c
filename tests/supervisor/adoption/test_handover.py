"""A daemon under a keeper hands each new process's fds over as soon as it exists.

A real keeper (`python -m corral._keeper`) runs the guarded daemon as its child; the
test asks the keeper what it holds, as the next daemon would, through its socket.
"""

from __future__ import annotations

import os
import select
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

import corral
from tests.supervisor.adoption.kept import KeptDaemon
from tests.support.daemon import SLEEP_FOREVER, Daemon
from tests.support.waiting import DEADLINE, wait_until

PROGRAMS = f"""
[programs.web]
command = {SLEEP_FOREVER}
numprocs = 2
start_seconds = 0
"""


@pytest.fixture
def kept(tmp_path: Path) -> Iterator[KeptDaemon]:
    daemon = KeptDaemon(tmp_path, PROGRAMS)
    daemon.start_kept()
    try:
        yield daemon
    finally:
        daemon.stop()


def _pids(daemon: Daemon) -> dict[str, int]:
    return {name: row["pid"] for name, row in daemon.status().items()}


def test_each_running_instance_is_held_by_the_keeper_with_its_pidfd_and_pipes(
    kept: KeptDaemon,
) -> None:
    for name in ("web:0", "web:1"):
        kept.wait_state(name, "RUNNING")
    held = kept.held()
    assert {name: entry.pid for name, entry in held.items()} == _pids(kept)
    assert set(held["web:0"].kinds) == {
        *("pidfd", "stdout", "stderr"),
        *("record", "stdout_staging", "stderr_staging"),  # exact logs (exact.py)
        *("stdout_staging_w", "stderr_staging_w"),
    }
    assert held["web:0"].meta["marker"].startswith("CORRAL_TREE=")


def test_a_restart_replaces_the_held_process_with_the_new_one(kept: KeptDaemon) -> None:
    old = kept.wait_state("web:0", "RUNNING")["pid"]
    kept.cli("restart", "web:0", check=True)
    new = kept.wait_state("web:0", "RUNNING")["pid"]
    assert new != old
    wait_until(lambda: kept.held()["web:0"].pid == new, what="the keeper to hold the new process")


def test_a_clean_shutdown_ends_the_keeper_with_the_daemon(tmp_path: Path) -> None:
    daemon = KeptDaemon(tmp_path, PROGRAMS)
    daemon.start_kept()
    daemon.wait_state("web:0", "RUNNING")
    result = daemon.stop()  # POST /shutdown: the daemon says bye, then exits 0
    assert result is not None
    assert result.exit_code == 0
    assert not os.path.exists(daemon.keeper_socket)


def test_a_killed_keeper_is_a_warning_and_the_daemon_keeps_its_programs(
    tmp_path: Path,
) -> None:
    daemon = KeptDaemon(tmp_path, PROGRAMS)
    daemon.start_kept()
    assert daemon.process is not None
    daemon_pid = daemon.daemon_pid()
    watch = os.pidfd_open(daemon_pid)
    try:
        for name in ("web:0", "web:1"):
            daemon.wait_state(name, "RUNNING")
        before = _pids(daemon)
        with daemon.watch() as events:
            os.kill(daemon.process.pid, signal.SIGKILL)
            gone = events.wait_for(
                lambda e: e["kind"] == "daemon" and "keeper" in str(e["data"].get("message")),
                what="the warning that the keeper is gone",
            )
        assert gone["data"]["level"] == "warning"
        assert _pids(daemon) == before
        assert {row["state"] for row in daemon.status().values()} == {"RUNNING"}
    finally:  # the daemon, re-parented to us (a subreaper), stops its programs and exits
        daemon.call("POST", "/shutdown")
        assert select.select([watch], [], [], DEADLINE)[0], "the daemon did not exit"
        os.close(watch)
        assert os.waitpid(daemon_pid, 0)[1] == 0
        with pytest.raises(corral.KilledBySignal):
            daemon.stop()
