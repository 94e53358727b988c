"""A corral daemon with `[compat] supervisord = true`, and the real supervisorctl to drive it.

supervisorctl is supervisor 4.3.0's, from PyPI (the `dev` extra), run as a subprocess
exactly as an operator runs it: `supervisorctl -s unix:///path/to/corral.sock CMD`.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

import corral
from tests.support.daemon import Daemon, running_daemon
from tests.support.waiting import DEADLINE

SUPERVISORCTL = str(Path(sys.executable).parent / "supervisorctl")
SUPERVISORD = str(Path(sys.executable).parent / "supervisord")

COMPAT = """
[compat]
supervisord = true
"""

WEB = (
    "echo hello from $SUPERVISOR_GROUP_NAME:$SUPERVISOR_PROCESS_NAME; "
    "trap 'echo got USR1' USR1; while :; do sleep 0.1; done"
)
ONE = "echo one says hi >&2; exec sleep 300"

PROGRAMS = f"""
[programs.web]
command = ["sh", "-c", "{WEB}"]
numprocs = 2
start_seconds = 0.2

[programs.one]
command = ["sh", "-c", "{ONE}"]
start_seconds = 0.2

[programs.manual]
command = ["sleep", "300"]
autostart = false
start_seconds = 0.2
"""
"""The corpus: a program of two instances that traps USR1, one of one instance that
writes to stderr, and one that does not start by itself."""

SUPERVISORD_CONF = """
[unix_http_server]
file = {dir}/supervisord.sock

[supervisord]
logfile = {dir}/supervisord.log
pidfile = {dir}/supervisord.pid
childlogdir = {dir}

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[program:web]
command = sh -c "{web}"
numprocs = 2
process_name = %(process_num)d
startsecs = 0
stdout_logfile = {dir}/web.%(process_num)d.stdout.log
stderr_logfile = {dir}/web.%(process_num)d.stderr.log

[program:one]
command = sh -c "{one}"
process_name = %(process_num)d
startsecs = 0
stdout_logfile = {dir}/one.0.stdout.log
stderr_logfile = {dir}/one.0.stderr.log

[program:manual]
command = sleep 300
process_name = %(process_num)d
autostart = false
startsecs = 0
"""
"""The same corpus for a real supervisord: `%(process_num)d` names its processes as
corral names its instances (supervisord refuses a colon in process_name)."""


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


AS_SUBREAPER = (
    "import ctypes, os, sys; ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0); "
    "os.execv(sys.argv[1], sys.argv[1:])"
)
"""Exec argv[1:] as a child subreaper (PR_SET_CHILD_SUBREAPER = 36 survives exec): what
its programs leave is reparented to supervisord, which reaps it, not to the test run
(whose leak check would count it and end every child, supervisord included)."""


@dataclass(frozen=True)
class Twins:
    """A corral daemon and a real supervisord running the corpus, started once per session.

    Each test that uses them acts on both alike, so they stay alike.
    """

    corral: Daemon
    supervisord: str
    """Its serverurl."""
    supervisord_conf: Path

    @property
    def corral_url(self) -> str:
        return url_of(self.corral)


@pytest.fixture(scope="session")
def twins(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Twins]:
    """The corpus under corral and under supervisord (once per session)."""
    workdir = tmp_path_factory.mktemp("twin")
    with (
        running_daemon(workdir, COMPAT + PROGRAMS, "log_timestamps = false\n") as daemon,
        real_supervisord() as (url, conf),
    ):
        for name in ("web:0", "web:1", "one:0"):
            daemon.wait_state(name, "RUNNING")
        yield Twins(daemon, url, conf)


@contextmanager
def real_supervisord() -> Iterator[tuple[str, Path]]:
    """A real supervisord (supervisor 4.3.0) running the corpus: its serverurl and config."""
    workdir = Path(tempfile.mkdtemp(prefix="sv", dir="/tmp"))  # a short socket path
    conf = workdir / "supervisord.conf"
    conf.write_text(SUPERVISORD_CONF.format(dir=workdir, web=WEB, one=ONE))
    url = f"unix://{workdir}/supervisord.sock"
    process = corral.start(
        [sys.executable, "-c", AS_SUBREAPER, SUPERVISORD, "-n", "-c", str(conf)],
        stdout=corral.File(str(workdir / "supervisord.out")),
        stderr="merge",
    )
    with process:
        try:
            deadline = time.monotonic() + DEADLINE
            while ctl(url, "status", "web:*", "one:0").exit_code != 0:  # all RUNNING
                assert process.running, (workdir / "supervisord.out").read_text()
                assert time.monotonic() < deadline, "supervisord did not start its programs"
            yield url, conf
        finally:
            ctl(url, "shutdown")
            process.wait(timeout=DEADLINE * 2)
            shutil.rmtree(workdir, ignore_errors=True)
