"""A real daemon's log files: private, and never followed into a file another user chose.

The program runs as `nobody`, and its log directory is handed to nobody after the
daemon started (an operator's chown; at start such a directory is refused). The
program then swaps its log for a symlink to a root-only file.
"""

from __future__ import annotations

import os
import pwd
import stat
import subprocess
from pathlib import Path

from tests.support.daemon import running_daemon
from tests.support.waiting import wait_until

NOBODY = pwd.getpwnam("nobody")
SECRET = "root:only:secret"
TICKER = """
    [programs.ticker]
    command = ["sh", "-c", "while :; do echo tick; sleep 0.05; done"]
    start_seconds = 0
    logs = { timestamps = false }
"""


def test_a_log_swapped_for_a_symlink_is_not_appended_to_nor_served(tmp_path: Path) -> None:
    secret = tmp_path / "root-only"
    secret.write_text(SECRET + "\n")
    secret.chmod(0o600)
    with running_daemon(tmp_path, TICKER) as daemon:
        daemon.wait_state("ticker:0", "RUNNING")
        log = daemon.log_path("ticker:0")
        with daemon.watch() as events:
            os.chown(log.parent, NOBODY.pw_uid, NOBODY.pw_gid)
            swap = f"rm {log.name} && ln -s {secret} {log.name}"
            subprocess.run(["sh", "-c", swap], cwd=log.parent, user="nobody", check=True)
            dropped = events.wait_for(
                lambda e: e["kind"] == "log.dropped" and e["subject"] == "ticker:0",
                what="the drop warning",
            )
            served = daemon.call("GET", "/logs/ticker:0", lines="50")["lines"]
        assert dropped["data"]["level"] == "warning"
        assert dropped["data"]["reason"] == (
            f"cannot write {log}: ELOOP (a symlink is in its place; not followed)"
        )
        assert SECRET not in served
        assert secret.read_text() == SECRET + "\n"


def test_log_files_are_0640_in_a_0750_directory_with_the_configured_group(
    tmp_path: Path,
) -> None:
    with running_daemon(tmp_path, TICKER, 'log_group = "nogroup"\n') as daemon:
        daemon.wait_state("ticker:0", "RUNNING")
        log = daemon.log_path("ticker:0")
        status, directory = log.stat(), log.parent.stat()
    assert (stat.S_IMODE(status.st_mode), status.st_gid) == (0o640, NOBODY.pw_gid)
    assert stat.S_IMODE(directory.st_mode) == 0o750
    assert directory.st_gid == NOBODY.pw_gid


def test_a_removed_log_directory_is_made_again_and_logging_goes_on(tmp_path: Path) -> None:
    with running_daemon(tmp_path, TICKER) as daemon:
        daemon.wait_state("ticker:0", "RUNNING")
        log = daemon.log_path("ticker:0")
        subprocess.run(["rm", "-r", str(log.parent)], check=True)
        wait_until(lambda: log.exists() and b"tick" in log.read_bytes(), what="the log back")
        assert stat.S_IMODE(log.parent.stat().st_mode) == 0o750
