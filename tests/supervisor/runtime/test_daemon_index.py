"""`{index}` arithmetic reaches each instance's real process: its own argv and environment."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from tests.support.daemon import running_daemon
from tests.support.waiting import wait_until


def test_each_instance_runs_with_its_own_index_substituted(tmp_path: Path) -> None:
    programs = """
        [programs.api]
        command = ["sh", "-c", "echo port={9100 + index} slot=$SLOT; exec sleep 300"]
        environment = { SLOT = "s{index + 1}", LITERAL = "{{index}}" }
        numprocs = 2
        start_seconds = 0
        logs = { timestamps = false }
    """
    with running_daemon(tmp_path, programs) as daemon:
        for index in (0, 1):
            name = f"api:{index}"
            daemon.wait_state(name, "RUNNING")
            said = f"port={9100 + index} slot=s{index + 1}\n"
            wait_until(partial(_says, daemon.log_path(name), said), what=f"{name} says {said!r}")
        pid = daemon.status()["api:1"]["pid"]
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        assert b"LITERAL={index}" in environ


def _says(log: Path, text: str) -> bool:
    return log.exists() and log.read_text() == text
