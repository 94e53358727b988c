"""`corral inspect NAME` and GET /v1/inspect/{name}: one snapshot of an instance's tree,
read from /proc by the daemon: each member's identity, fds with what they point to,
listening sockets, limits, namespaces, cgroups, capabilities, environment (secrets
masked). An unknown name is a 404 and exit 2; a stopped instance has no processes."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from corral._errors import ApiError
from tests.support.daemon import running_daemon
from tests.support.waiting import wait_until

_LISTENER = (
    "import os, socket, sys, time; s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); "
    "os.fork() or time.sleep(300); print('port', s.getsockname()[1], flush=True); time.sleep(300)"
)
PROGRAMS = f"""
    [programs.web]
    command = ["python3", "-c", "{_LISTENER}"]
    start_seconds = 0
    environment = {{ API_TOKEN = "hunter2", DB_PASSWORD = "swordfish", PLAIN = "visible" }}
    logs = {{ timestamps = false }}

    [programs.idle]
    command = ["sleep", "300"]
    autostart = false
"""


def _port(log: Path) -> int:
    def written() -> str:
        found = re.search(r"port (\d+)", log.read_text()) if log.exists() else None
        return "" if found is None else found.group(1)

    return int(wait_until(written, what="the listener's port"))


def test_inspect_shows_the_tree_its_sockets_limits_and_a_masked_environment(
    tmp_path: Path,
) -> None:
    with running_daemon(tmp_path, PROGRAMS) as daemon:
        row = daemon.wait_state("web:0", "RUNNING")
        port = _port(daemon.log_path("web:0"))
        snapshot = daemon.call("GET", "/inspect/web:0")
        text = daemon.cli("inspect", "web:0", check=True).stdout_text
    root, child = snapshot["processes"]
    assert root["pid"] == row["pid"] == snapshot["pid"]
    assert child["ppid"] == root["pid"]
    assert root["uids"] == [os.getuid()] * 4
    listening = [f for f in root["fds"] if f["listening"]]
    assert [f["target"] for f in listening] == [f"tcp 127.0.0.1:{port}"]
    assert {f["kind"] for f in root["fds"][:3]} <= {"pipe", "device", "file"}
    assert root["environment"]["API_TOKEN"] == "***"
    assert root["environment"]["DB_PASSWORD"] == "***"
    assert root["environment"]["PLAIN"] == "visible"
    assert root["limits"]["Max open files"].count(" / ") == 1
    assert root["namespaces"]["net"].startswith("net:[")
    assert root["namespaces"]["pid"] == child["namespaces"]["pid"]
    assert root["seccomp"] in ("disabled", "strict", "filter")
    assert set(root["capabilities"]) == {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"}
    assert snapshot["notes"]
    assert f"listens  tcp 127.0.0.1:{port}" in text
    assert "API_TOKEN=***" in text
    assert "hunter2" not in text
    assert "swordfish" not in text


def test_a_stopped_instance_has_no_processes_and_an_unknown_one_is_an_error(
    tmp_path: Path,
) -> None:
    with running_daemon(tmp_path, PROGRAMS) as daemon:
        stopped = daemon.call("GET", "/inspect/idle")
        unknown = daemon.cli("inspect", "nope:0")
        with pytest.raises(ApiError) as refused:
            daemon.call("GET", "/inspect/nope:0")
        text = daemon.cli("inspect", "idle:0", check=True).stdout_text
    assert stopped["state"] == "STOPPED"
    assert stopped["processes"] == []
    assert stopped["pid"] is None
    assert "no live process" in text
    assert refused.value.status == 404
    assert unknown.exit_code == 2
    assert "nope:0" in unknown.stderr_text
    assert "Traceback" not in unknown.stderr_text
