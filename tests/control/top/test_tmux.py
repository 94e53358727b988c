"""`corral top` once in a real terminal: tmux runs it, the test reads the screen and presses q.

tmux runs on a server of its own (a socket in the test's directory), ended at the end;
the server daemonizes, so (the test process being a subreaper) it is our child once its
parent exits, and it is reaped here once it has exited.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.control.top.conftest import repo_root
from tests.support.daemon import Daemon
from tests.support.pids import Stat, children_of
from tests.support.waiting import wait_until

TMUX = shutil.which("tmux")
pytestmark = pytest.mark.skipif(
    TMUX is None, reason="tmux is not installed (scripts/_setup.sh installs it as root)"
)


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[list[str]]:
    assert TMUX is not None
    base = [TMUX, "-S", str(tmp_path / "tmux.sock"), "-f", os.devnull]
    before = {stat.pid for stat in children_of(os.getpid())}
    try:
        yield base
    finally:
        subprocess.run([*base, "kill-server"], capture_output=True, check=False, timeout=10)

        def new_children() -> list[Stat]:
            return [s for s in children_of(os.getpid()) if s.pid not in before]

        wait_until(
            lambda: all(s.state == "Z" for s in new_children()), what="the tmux server to exit"
        )
        for stat in new_children():
            os.waitpid(stat.pid, 0)


def _screen(tmux: list[str]) -> str:
    done = subprocess.run(
        [*tmux, "capture-pane", "-p", "-t", "top"],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    return done.stdout


def test_corral_top_draws_in_a_real_terminal_and_q_exits_0(
    daemon: Daemon, tmux: list[str], tmp_path: Path
) -> None:
    rc = tmp_path / "rc"
    command = [sys.executable, "-m", "corral", "--socket", daemon.socket, "top"]
    shell = f"{shlex.join(command)}; echo $? > {shlex.quote(str(rc))}"
    env = dict(os.environ, PYTHONPATH=str(repo_root() / "src"), TERM="xterm-256color")
    subprocess.run(
        [*tmux, "new-session", "-d", "-s", "top", "-x", "120", "-y", "40", "sh", "-c", shell],
        check=True,
        env=env,
        timeout=10,
    )

    def drawn() -> str:
        text = _screen(tmux)
        return text if "corral 0.1.0" in text and "web:2" in text else ""

    screen = wait_until(drawn, what="the header and the rows on the tmux screen")
    for part in ("RUNNING", "NAME", "STATE", "host cpu"):
        assert part in screen
    subprocess.run([*tmux, "send-keys", "-t", "top", "q"], check=True, timeout=10)
    wait_until(lambda: rc.exists() and rc.read_text().strip(), what="corral top to exit")
    assert rc.read_text().strip() == "0"
