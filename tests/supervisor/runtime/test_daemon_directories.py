"""The daemon refuses, at start, a socket, state or log directory another user could swap.

Exit 2 with one line naming the directory, its owner and mode, and why; no
traceback, nothing started. What it creates itself is private.
"""

from __future__ import annotations

import os
import pwd
import stat
from pathlib import Path

from tests.support.daemon import Daemon, running_daemon

NOBODY = pwd.getpwnam("nobody")
PROGRAMS = """
    [programs.quiet]
    command = ["sleep", "300"]
    start_seconds = 0
"""


def _refused(daemon: Daemon) -> str:
    result = daemon.cli("daemon", "-c", str(daemon.config))
    assert result.exit_code == 2, result.stderr_text
    assert "Traceback" not in result.stderr_text
    (line,) = result.stderr_text.splitlines()
    return line


def test_a_log_directory_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    daemon = Daemon(tmp_path, PROGRAMS)
    logs = Path(daemon.log_dir)
    logs.mkdir(mode=0o755)
    os.chown(logs, NOBODY.pw_uid, NOBODY.pw_gid)
    line = _refused(daemon)
    assert line == (
        f"corral: refusing the log directory {logs}: {logs} (owner nobody, "
        f"uid {NOBODY.pw_uid}, mode 0755): another user owns it"
    )
    assert not os.path.exists(daemon.socket)


def test_a_socket_directory_in_a_parent_others_can_write_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    daemon = Daemon(tmp_path, PROGRAMS)
    daemon.socket = str(shared / "run" / "api.sock")
    daemon.write_config(PROGRAMS)
    line = _refused(daemon)
    assert line.startswith(f"corral: refusing the socket directory {shared / 'run'}: {shared} ")
    assert line.endswith(
        "others can write it without the sticky bit, so they can rename what is in it"
    )
    assert not (shared / "run").exists()


def test_a_socket_straight_in_a_shared_sticky_directory_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "tmp"
    shared.mkdir()
    shared.chmod(0o1777)
    daemon = Daemon(tmp_path, PROGRAMS)
    daemon.socket = str(shared / "api.sock")
    daemon.write_config(PROGRAMS)
    line = _refused(daemon)
    assert line.startswith(f"corral: refusing the socket directory {shared}: ")
    assert "mode 1777): others can write it" in line


def test_a_state_directory_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    theirs = tmp_path / "state"
    theirs.mkdir(mode=0o700)
    os.chown(theirs, NOBODY.pw_uid, NOBODY.pw_gid)
    daemon = Daemon(tmp_path, PROGRAMS, f'state_file = "{theirs / "corral.state"}"\n')
    line = _refused(daemon)
    assert line.startswith(
        f"corral: refusing the state file directory {theirs}: {theirs} (owner nobody"
    )


def test_directories_the_daemon_makes_are_private(tmp_path: Path) -> None:
    logs = tmp_path / "var" / "logs"
    run = Path("/tmp") / f"corral-test-{os.getpid()}" / "run"
    keys = f'state_file = "{run / "corral.state"}"\n'
    daemon = Daemon(tmp_path, PROGRAMS, keys)
    daemon.log_dir = str(logs)
    daemon.write_config(PROGRAMS)
    try:
        daemon.start()
        daemon.wait_state("quiet:0", "RUNNING")
        modes = {p: stat.S_IMODE(p.stat().st_mode) for p in (logs, logs.parent, run, run.parent)}
    finally:
        daemon.stop()
        (run / "corral.audit").unlink(missing_ok=True)  # the audit log stays after a shutdown
        for path in (run, run.parent):
            if path.exists():
                path.rmdir()
    assert modes == {logs: 0o750, logs.parent: 0o750, run: 0o700, run.parent: 0o700}


def test_a_private_directory_under_tmp_is_accepted(tmp_path: Path) -> None:
    with running_daemon(tmp_path, PROGRAMS) as daemon:  # its socket is in a mkdtemp under /tmp
        assert Path(daemon.socket).parent.parent == Path("/tmp")
        daemon.wait_state("quiet:0", "RUNNING")
