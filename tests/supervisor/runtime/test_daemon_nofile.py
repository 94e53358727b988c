"""The daemon lifts its own open-files limit, and its programs keep the one it was given.

A daemon under the common soft RLIMIT_NOFILE of 1024 runs out of fds near 200
programs (a pidfd, two pipes and two log files each). It raises its soft limit to
the hard one at start; its programs still start at 1024 (a select()-based program
breaks above FD_SETSIZE), unless their sandbox's rlimits say otherwise.
"""

from __future__ import annotations

import resource
from pathlib import Path

from tests.support.daemon import SLEEP_FOREVER, running_daemon
from tests.support.waiting import wait_until

LAUNCHER_SOFT = 1024
END = {"RUNNING", "FATAL", "BACKOFF"}
HARD = resource.getrlimit(resource.RLIMIT_NOFILE)[1]


def _reporter(out: Path) -> str:
    script = f"ulimit -Sn > {out}.tmp; ulimit -Hn >> {out}.tmp; mv {out}.tmp {out}; exec sleep 300"
    return f'["sh", "-c", "{script}"]'


def _limits(path: Path) -> tuple[int, int]:
    text = wait_until(lambda: path.exists() and path.read_text(), what=f"{path.name} written")
    assert isinstance(text, str)
    soft, hard = text.split()
    return int(soft), int(hard)


def test_a_thousand_programs_start_under_a_1024_soft_limit(tmp_path: Path) -> None:
    assert HARD >= 8192, "this test needs a hard RLIMIT_NOFILE of at least 8192"
    programs = f"""
    [programs.many]
    command = {SLEEP_FOREVER}
    numprocs = 1000
    start_seconds = 0
    """
    with running_daemon(tmp_path, programs, nofile=(LAUNCHER_SOFT, HARD)) as daemon:

        def running() -> int:
            return sum(1 for row in daemon.events() if row["data"]["new"] == "RUNNING")

        def settled() -> bool:
            return sum(1 for row in daemon.events() if row["data"]["new"] in END) >= 1000

        wait_until(settled, timeout=90, what="every instance RUNNING or FATAL")
        assert running() == 1000
        assert daemon.process is not None
        assert resource.prlimit(daemon.process.pid, resource.RLIMIT_NOFILE) == (HARD, HARD)


def test_programs_start_at_the_soft_limit_the_daemon_was_given(tmp_path: Path) -> None:
    programs = f"""
    [programs.plain]
    command = {_reporter(tmp_path / "plain")}
    start_seconds = 0

    [programs.boxed]
    command = {_reporter(tmp_path / "boxed")}
    start_seconds = 0
    sandbox = {{ rlimits = {{ core = 0 }} }}

    [programs.own]
    command = {_reporter(tmp_path / "own")}
    start_seconds = 0
    sandbox = {{ rlimits = {{ nofile = [4096, 8192] }} }}
    """
    with running_daemon(tmp_path, programs, nofile=(LAUNCHER_SOFT, HARD)):
        assert _limits(tmp_path / "plain") == (LAUNCHER_SOFT, HARD)  # posix_spawn path
        assert _limits(tmp_path / "boxed") == (LAUNCHER_SOFT, HARD)  # fork path
        assert _limits(tmp_path / "own") == (4096, 8192)  # the config says otherwise
