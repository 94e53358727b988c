"""A flood of idle connections cannot starve supervision: fds are kept for the programs.

The daemon runs under a low RLIMIT_NOFILE (256, soft and hard, so it cannot raise it).
Idle TCP connections from several addresses (each under its per-peer cap) are opened
until the daemon refuses them; meanwhile a program is killed and must restart, which
needs fresh pipes, a pidfd and log files. Before the reserve, the flood took every fd,
the restart failed with EMFILE and the program stayed FATAL.
"""

from __future__ import annotations

import os
import re
import select
import signal
import socket
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from corral._errors import ApiError
from tests.support.daemon import SLEEP_FOREVER, Daemon, running_daemon
from tests.support.waiting import DEADLINE, wait_until

NOFILE = 256
FLOOD = 250
"""More than the daemon's whole fd budget."""
SOURCES = [f"127.0.0.{n}" for n in range(2, 7)]
"""50 connections from each: under the per-peer cap of 64."""

PROGRAMS = f"""
[programs.crashy]
command = {SLEEP_FOREVER}
start_seconds = 0
restart = "always"
"""


def _tcp_port(daemon: Daemon) -> int:
    for row in daemon.events("daemon"):
        found = re.search(r"listening on http://127\.0\.0\.1:(\d+)", row["data"]["message"])
        if found:
            return int(found[1])
    raise AssertionError("the daemon did not say where it listens on TCP")


def _refused(sock: socket.socket) -> bool:
    readable, _, _ = select.select([sock], [], [], 0)
    return bool(readable) and sock.recv(12, socket.MSG_PEEK).startswith(b"HTTP/1.1 503")


def _answered(daemon: Daemon) -> dict[str, Any] | None:
    try:
        return daemon.status()["crashy:0"]
    except ApiError as exc:
        if exc.status != 503:  # refused while the flood's fds are being given back
            raise
        return None


def test_a_program_restarts_during_a_flood_of_idle_connections(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("a-token-of-sixteen-bytes-or-more\n")
    token.chmod(0o600)
    keys = f'http_listen = "127.0.0.1:0"\nhttp_token_file = "{token}"\n'
    with running_daemon(tmp_path, PROGRAMS, keys, nofile=(NOFILE, NOFILE)) as daemon:
        port = _tcp_port(daemon)
        first = daemon.wait_state("crashy:0", "RUNNING")["pid"]
        with daemon.watch() as events, ExitStack() as flood:
            socks = []
            for n in range(FLOOD):
                source = SOURCES[n % len(SOURCES)]
                sock = socket.create_connection(("127.0.0.1", port), DEADLINE, (source, 0))
                socks.append(flood.enter_context(sock))
            refused = wait_until(
                lambda: sum(map(_refused, socks)), what="the daemon refusing connections"
            )
            os.kill(first, signal.SIGKILL)
            restarted = events.wait_for(
                lambda e: (
                    e["subject"] == "crashy:0"
                    and e.get("data", {}).get("new") == "RUNNING"
                    and e["data"].get("pid") != first
                ),
                what="crashy:0 RUNNING again, with a new pid",
            )
        assert 0 < refused < FLOOD
        assert not any(e.get("data", {}).get("new") == "FATAL" for e in events.seen), (
            "the restart failed"
        )
        row = wait_until(lambda: _answered(daemon), what="the API answering again")
        assert row is not None
        assert row["state"] == "RUNNING"
        assert row["pid"] == restarted["data"]["pid"]
