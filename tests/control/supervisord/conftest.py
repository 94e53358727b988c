"""A corral daemon with `[compat] supervisord = true`, and the real supervisorctl to drive it.

supervisorctl is supervisor 4.3.0's, from PyPI (the `dev` extra), run as a subprocess
exactly as an operator runs it: `supervisorctl -s unix:///path/to/corral.sock CMD`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import corral
from tests.support.daemon import Daemon, running_daemon

SUPERVISORCTL = str(Path(sys.executable).parent / "supervisorctl")
SUPERVISORD = str(Path(sys.executable).parent / "supervisord")

COMPAT = """
[compat]
supervisord = true
"""

PROGRAMS = """
[programs.web]
command = ["sh", "-c", '''echo hello from $SUPERVISOR_GROUP_NAME:$SUPERVISOR_PROCESS_NAME
trap 'echo got USR1' USR1; while :; do sleep 0.1; done''']
numprocs = 2
start_seconds = 0.2

[programs.one]
command = ["sh", "-c", "echo one says hi >&2; exec sleep 300"]
start_seconds = 0.2

[programs.manual]
command = ["sleep", "300"]
autostart = false
start_seconds = 0.2
"""
"""The corpus: a program of two instances that traps USR1, one of one instance that
writes to stderr, and one that does not start by itself."""


def ctl(url: str, *args: str, auth: tuple[str, str] | None = None) -> corral.Result:
    """Run `supervisorctl -s URL ARGS...` to its end (exit code not checked)."""
    login = ["-u", auth[0], "-p", auth[1]] if auth else []
    return corral.run([SUPERVISORCTL, "-s", url, *login, *args], check=False, timeout=60)


@pytest.fixture
def compat_daemon(tmp_path: Path) -> Iterator[Daemon]:
    """A running corral daemon with compat on and the corpus's programs RUNNING."""
    with running_daemon(tmp_path, COMPAT + PROGRAMS, "log_timestamps = false\n") as daemon:
        for name in ("web:0", "web:1", "one:0"):
            daemon.wait_state(name, "RUNNING")
        yield daemon


def url_of(daemon: Daemon) -> str:
    """The serverurl supervisorctl is given for `daemon`."""
    return f"unix://{daemon.socket}"
