"""Boot: `corral startup` writes a systemd unit (Type=notify) or a launchd plist for the
config, and the daemon tells its service manager READY, RELOADING and STOPPING through
NOTIFY_SOCKET (here a real datagram socket of the test's plays systemd's part), which no
program of it inherits."""

from __future__ import annotations

import plistlib
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import corral
from tests.support.daemon import PYTHON, running_daemon
from tests.support.waiting import DEADLINE, wait_until

CONFIG = """\
[daemon]
socket = "{dir}/api.sock"

[programs.fast]
command = ["sleep", "300"]
stop_timeout = 5

[programs.slow]
command = ["sleep", "300"]
stop_timeout = 45
"""


def _corral(*args: str) -> corral.Result:
    return corral.run([PYTHON, "-m", "corral", *args], check=False, timeout=60)


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "corral.toml"
    path.write_text(CONFIG.format(dir=tmp_path))
    return path


def test_startup_writes_a_notify_unit_that_systemd_accepts(tmp_path: Path) -> None:
    config = _config(tmp_path)
    unit = tmp_path / "corral.service"
    done = _corral("startup", "-c", str(config), "--output", str(unit))
    assert done.exit_code == 0, done.stderr_text
    assert f"wrote {unit}" in done.stdout_text
    assert "systemctl enable --now corral.service" in done.stdout_text
    text = unit.read_text()
    assert "Type=notify\n" in text
    assert f"ExecStart={sys.executable} -m corral daemon -c {config}\n" in text
    assert "ExecReload=/bin/kill -HUP $MAINPID\n" in text
    assert "TimeoutStopSec=75\n" in text  # the longest stop_timeout, 45, plus 30
    assert "WantedBy=multi-user.target\n" in text
    verify = shutil.which("systemd-analyze")
    if verify is None:
        pytest.skip("systemd-analyze is not installed: the unit was not verified")
    checked = subprocess.run([verify, "verify", str(unit)], capture_output=True, check=False)
    assert checked.returncode == 0, checked.stderr.decode()


def test_a_user_unit_and_a_launchd_plist_are_printed_on_request(tmp_path: Path) -> None:
    config = _config(tmp_path)
    user = _corral("startup", "-c", str(config), "--user", "--print")
    assert "WantedBy=default.target\n" in user.stdout_text
    plist = plistlib.loads(_corral("startup", "-c", str(config), "--launchd", "--print").stdout)
    assert plist["ProgramArguments"] == [
        sys.executable,
        "-m",
        "corral",
        "daemon",
        "-c",
        str(config),
    ]
    assert plist["Label"] == "org.corral.corral"
    assert plist["KeepAlive"] == {"SuccessfulExit": False}


def test_startup_refuses_without_a_config_or_with_a_bad_one(tmp_path: Path) -> None:
    missing = _corral("startup", "--print")
    assert missing.exit_code == 2
    assert "corral startup -c CONFIG" in missing.stderr_text
    bad = tmp_path / "bad.toml"
    bad.write_text('[daemon]\nsocket = "x.sock"\n[programs.a]\ncommand = 7\n')
    unit = tmp_path / "never.service"
    refused = _corral("startup", "-c", str(bad), "--output", str(unit))
    assert refused.exit_code == 2
    assert f"{bad}:4: programs.a.command" in refused.stderr_text
    assert "Traceback" not in refused.stderr_text
    assert not unit.exists()


@contextmanager
def _manager(tmp_path: Path) -> Iterator[socket.socket]:
    """A datagram socket where systemd would listen for sd_notify messages."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(str(tmp_path / "notify.sock"))
        listener.settimeout(DEADLINE)
        yield listener


def _message(listener: socket.socket) -> dict[str, str]:
    data = listener.recv(4096).decode()
    return dict(line.split("=", 1) for line in data.splitlines())


def test_the_daemon_tells_its_service_manager_ready_reloading_and_stopping(
    tmp_path: Path,
) -> None:
    programs = """
        [programs.env]
        command = ["sh", "-c", "echo NOTIFY_SOCKET=${NOTIFY_SOCKET:-unset}; exec sleep 300"]
        start_seconds = 0
        logs = { timestamps = false }
    """
    with _manager(tmp_path) as listener:
        env = {"NOTIFY_SOCKET": str(tmp_path / "notify.sock")}
        with running_daemon(tmp_path, programs, env=env) as daemon:
            ready = _message(listener)
            assert ready["READY"] == "1"
            assert int(ready["MAINPID"]) == daemon.process.pid  # type: ignore[union-attr]
            assert ready["STATUS"].startswith("listening on ")
            daemon.call("POST", "/reload")
            reloading, again = _message(listener), _message(listener)
            log = daemon.log_path("env:0")
            wait_until(lambda: log.exists() and "NOTIFY_SOCKET=" in log.read_text(), what="env")
            assert "NOTIFY_SOCKET=unset" in log.read_text()  # not its manager's socket
        stopping = _message(listener)
    assert reloading["RELOADING"] == "1"
    assert int(reloading["MONOTONIC_USEC"]) > 0
    assert again["READY"] == "1"
    assert stopping["STOPPING"] == "1"
