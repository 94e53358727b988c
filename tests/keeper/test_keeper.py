"""The keeper alone: it holds a dead daemon's fds, reaps its programs, keeps their exits.

A real keeper (`python -m corral._keeper`) runs tests/helpers/keeper_daemon.py as its
daemon, which spawns real programs and hands their pidfds and pipes over; the test
kills that daemon with SIGKILL and talks to the keeper as the next daemon would.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import corral
from corral._keeper import protocol
from corral._keeper.link import Held, KeeperGone, KeeperLink, Snapshot
from tests.support.waiting import DEADLINE, wait_until

HELPER = Path(__file__).resolve().parent.parent / "helpers" / "keeper_daemon.py"


class Kept:
    """A keeper under test, its socket and the pids its stand-in daemon reported."""

    def __init__(self, tmp_path: Path, mode: str) -> None:
        self.dir = tmp_path
        self.socket = str(tmp_path / "state.json.keeper")
        argv = [sys.executable, "-m", "corral._keeper", "--socket", self.socket, "--"]
        argv += [sys.executable, str(HELPER), str(tmp_path), mode]
        self.process = corral.start(
            argv, stdout=corral.File(str(tmp_path / "keeper.out")), check=False
        )
        self.pids: dict[str, int] = {}

    def ready(self) -> dict[str, int]:
        path = self.dir / "ready.json"
        wait_until(path.exists, what="the stand-in daemon to start its programs")
        self.pids = json.loads(path.read_text())
        return self.pids

    def wait(self) -> int | None:
        """Wait for the keeper to exit; its exit code."""
        with self.process:  # closed after: its exit fd too
            return self.process.wait(timeout=DEADLINE).exit_code

    def link(self) -> KeeperLink:
        return KeeperLink.connect(self.socket)

    def hello(self) -> Snapshot:
        link = self.link()
        try:
            return link.hello()
        finally:
            link.close()


def _kill_and_wait(pid: int) -> None:
    """SIGKILL `pid` and return once that very process has exited (its pidfd polls)."""
    fd = os.pidfd_open(pid)
    try:
        signal.pidfd_send_signal(fd, signal.SIGKILL)
        assert select.select([fd], [], [], DEADLINE)[0], f"{pid} did not die"
    finally:
        os.close(fd)


@pytest.fixture
def adopted(tmp_path: Path) -> Iterator[Kept]:
    """A keeper whose daemon started its programs and was then SIGKILLed."""
    kept = Kept(tmp_path, "adopt")
    pids = kept.ready()
    _kill_and_wait(pids["daemon"])
    try:
        yield kept
    finally:
        for name in ("writer", "stray", "quitter"):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pids[name], signal.SIGKILL)
        os.kill(kept.process.pid, signal.SIGTERM)  # no daemon runs: SIGTERM ends the keeper
        kept.wait()
        for name in ("writer", "stray", "quitter"):  # re-parented to us if the keeper had
            with contextlib.suppress(ChildProcessError):  # not reaped them yet
                os.waitpid(pids[name], 0)


def _entries(snapshot: Snapshot) -> dict[str, Held]:
    return {held.id: held for held in snapshot.entries}


def test_a_dead_daemons_programs_are_handed_to_the_next_one_with_their_fds(adopted: Kept) -> None:
    snapshot = adopted.hello()
    held = _entries(snapshot)
    try:
        assert snapshot.keeper == adopted.process.pid
        assert snapshot.daemon is None
        assert {name: h.pid for name, h in held.items()} == {
            "writer": adopted.pids["writer"],
            "quitter": adopted.pids["quitter"],
        }
        assert held["writer"].meta == {"name": "writer"}
        # the pidfd is the very process: a signal 0 through it reaches the live writer
        signal.pidfd_send_signal(held["writer"].fds["pidfd"], 0)
        # written after the daemon died, kept in the pipe whose read end the keeper held
        (adopted.dir / "go").touch()
        reader = held["writer"].fds["stdout"]
        assert select.select([reader], [], [], DEADLINE)[0]
        assert os.read(reader, 100) == b"after\n"
    finally:
        for h in held.values():
            h.close()


def test_a_program_that_exits_while_no_daemon_runs_is_reaped_and_its_status_kept(
    adopted: Kept,
) -> None:
    (adopted.dir / "go").touch()

    def quitter_status() -> int | None:
        snapshot = adopted.hello()
        for h in snapshot.entries:
            h.close()
        return _entries(snapshot)["quitter"].status

    raw = wait_until(quitter_status, what="the keeper to reap the quitter")  # exit 7: not 0
    assert raw is not None
    assert os.waitstatus_to_exitcode(raw) == 7
    # reaped by the keeper, its parent now (a subreaper): no zombie is left
    assert not os.path.exists(f"/proc/{adopted.pids['quitter']}")


def test_a_program_started_but_never_handed_over_is_named_among_the_keepers_children(
    adopted: Kept,
) -> None:
    snapshot = adopted.hello()
    for h in snapshot.entries:
        h.close()
    assert adopted.pids["stray"] in snapshot.children
    assert adopted.pids["writer"] not in snapshot.children  # an entry, not a stranger


def test_a_message_of_another_version_is_refused_and_nothing_is_acted_on(adopted: Kept) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as sock:
        sock.connect(adopted.socket)
        sock.send(json.dumps({"v": 2, "op": "drop", "id": "writer"}).encode())
        reply = protocol.recv(sock)
    assert reply is not None
    assert reply[0]["op"] == "refused"
    assert "version 2, expected 1" in reply[0]["reason"]
    snapshot = adopted.hello()
    for h in snapshot.entries:
        h.close()
    assert "writer" in _entries(snapshot)  # not dropped


def test_a_link_that_is_refused_says_why() -> None:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with ours, theirs:
        protocol.send(theirs, {"op": "refused", "reason": "keeper protocol version 1, expected 2"})
        link = KeeperLink(ours)
        with pytest.raises(KeeperGone, match="version 1, expected 2"):
            link.hello()


def test_a_clean_shutdown_ends_the_keeper_with_the_daemons_code(tmp_path: Path) -> None:
    kept = Kept(tmp_path, "idle")
    kept.ready()
    os.kill(kept.process.pid, signal.SIGTERM)  # forwarded: the daemon says bye and exits 0
    assert kept.wait() == 0
    assert not os.path.exists(kept.socket)


def test_a_daemon_that_fails_before_greeting_ends_the_keeper_with_its_code(
    tmp_path: Path,
) -> None:
    kept = Kept(tmp_path, "early")
    assert kept.wait() == 2
