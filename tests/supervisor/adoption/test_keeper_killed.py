"""What a killed keeper costs, and what a program's own orphans are to the next daemon.

Real keeper, real daemons: the documented outcomes of docs/decisions/0020-keeper.md.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
from pathlib import Path

import pytest

import corral
from tests.supervisor.adoption.kept import KeptDaemon
from tests.support.daemon import SLEEP_FOREVER, helper
from tests.support.waiting import DEADLINE, wait_until

CALM = f"""
[programs.calm]
command = {SLEEP_FOREVER}
numprocs = 2
start_seconds = 0
"""


def _all_exit(fds: list[int]) -> None:
    """Wait until each of these very processes has exited (pidfds); close the fds."""
    try:
        for fd in fds:
            assert select.select([fd], [], [], DEADLINE)[0], "a process did not exit"
    finally:
        for fd in fds:
            os.close(fd)


def _kill_daemon(daemon: KeptDaemon) -> int:
    """SIGKILL the daemon (not the keeper); return its pid once it has exited."""
    dead = daemon.daemon_pid()
    fd = os.pidfd_open(dead)
    os.kill(dead, signal.SIGKILL)
    _all_exit([fd])
    return dead


def test_a_keeper_killed_while_no_daemon_runs_leaves_no_orphan(tmp_path: Path) -> None:
    daemon = KeptDaemon(tmp_path, CALM)
    daemon.start_kept()
    old = [daemon.wait_state(f"calm:{i}", "RUNNING")["pid"] for i in range(2)]
    watched = [os.pidfd_open(pid) for pid in old]
    try:
        old.append(_kill_daemon(daemon))  # a zombie the keeper may not have reaped yet
        keeper = daemon.process
        assert keeper is not None
        os.kill(keeper.pid, signal.SIGKILL)  # the programs are re-parented to us now
        with pytest.raises(corral.KilledBySignal), keeper:
            keeper.wait(timeout=DEADLINE)
        daemon.process = None
        daemon.start_kept()  # a new keeper: the old socket refuses; the state file remains
        _all_exit(watched)  # ended as a dead daemon's leftovers, pinned by pidfds
        watched = []
        new = [daemon.wait_state(f"calm:{i}", "RUNNING")["pid"] for i in range(2)]
        assert not set(new) & set(old)
        ended = [m for m in daemon.events("daemon") if "left running" in m["data"]["message"]]
        assert ended, "the leftovers were not ended"
    finally:
        for fd in watched:
            os.close(fd)
        daemon.stop()
        for pid in old:  # re-parented to the test process (a subreaper) when the keeper died
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


def test_a_programs_own_orphan_is_adopted_with_its_tree_not_killed(tmp_path: Path) -> None:
    programs = f"""
    [programs.forker]
    command = {helper("double_fork")}
    start_seconds = 0
    """
    daemon = KeptDaemon(tmp_path, programs, "log_timestamps = false\n")
    daemon.start_kept()
    try:
        root = daemon.wait_state("forker:0", "RUNNING")["pid"]
        log = daemon.log_path("forker:0")
        wait_until(
            lambda: log.exists() and "ready" in log.read_text(),
            what="the forker to report its grandchild",
        )
        grandchild = int(log.read_text().split()[0])
        _kill_daemon(daemon)  # the grandchild, re-parented to the daemon, goes to the keeper
        wait_until(
            lambda: grandchild in daemon.snapshot().children,
            what="the grandchild to be re-parented to the keeper",
        )
        daemon.restart_kept()
        adopted = [m for m in daemon.events("daemon") if "adopted" in m["data"]["message"]]
        assert adopted
        assert adopted[0]["data"]["killed"] == []
        assert daemon.status()["forker:0"]["pid"] == root
        os.kill(grandchild, 0)  # still alive: a member of the adopted tree
    finally:
        daemon.stop()
