"""Proofs about processes: death through pidfds, zombies and children through /proc.

A pid number can be reused once its process is reaped, so "kill(pid, 0) fails" proves
nothing. A pidfd refers to the process itself (pidfd_open(2)): open one on each pid
while the process is known to be alive, then wait for each to poll readable, which
happens when that very process has exited.
"""

from __future__ import annotations

import os
import select
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import TracebackType

from tests.support.waiting import DEADLINE


@dataclass(frozen=True, slots=True)
class Stat:
    """The fields of /proc/PID/stat the tests look at."""

    pid: int
    state: str
    ppid: int
    pgid: int
    sid: int


def read_stat(pid: int) -> Stat | None:
    """/proc/PID/stat parsed, or None when there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = raw[raw.rfind(b")") + 2 :].split()
    return Stat(pid, fields[0].decode(), int(fields[1]), int(fields[2]), int(fields[3]))


def all_stats() -> list[Stat]:
    """Every process now listed in /proc (those that vanish while reading are left out)."""
    found = (read_stat(int(name)) for name in os.listdir("/proc") if name.isdigit())
    return [stat for stat in found if stat is not None]


def children_of(pid: int) -> list[Stat]:
    """Processes (live or zombie) whose parent is `pid`."""
    return [stat for stat in all_stats() if stat.ppid == pid]


def is_zombie(pid: int) -> bool:
    """Whether `pid` has exited but not been reaped."""
    stat = read_stat(pid)
    return stat is not None and stat.state == "Z"


def cmdline(pid: int) -> str:
    """The command line of `pid`, for messages ("?" once it is gone)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip() or "?"
    except OSError:
        return "?"


@dataclass(slots=True)
class DeathWatch:
    """pidfds on processes that were alive when watched; `assert_dead` proves each exited."""

    fds: dict[int, int] = field(default_factory=dict)
    """pid -> its pidfd."""
    gone_at_open: list[int] = field(default_factory=list)
    """Pids that had already vanished when the watch opened (only with must_be_alive=False)."""

    def add(self, pid: int, *, must_be_alive: bool = True) -> None:
        """Watch one more pid; it must exist now unless `must_be_alive` is False."""
        try:
            self.fds[pid] = os.pidfd_open(pid)
        except ProcessLookupError:
            if must_be_alive:
                raise AssertionError(f"pid {pid} was gone before it could be watched") from None
            self.gone_at_open.append(pid)

    def alive(self) -> list[int]:
        """Watched pids that have not exited yet (a zombie has exited)."""
        ready = {fd for fd, _ in _poll(self.fds.values(), 0)}
        return [pid for pid, fd in self.fds.items() if fd not in ready]

    def assert_dead(self, timeout: float = DEADLINE) -> None:
        """Fail unless every watched process exits within `timeout` seconds."""
        if not self.fds and not self.gone_at_open:
            raise AssertionError("nothing is watched: the proof would hold vacuously")
        deadline = time.monotonic() + timeout
        pending = dict(self.fds)
        while pending and (left := deadline - time.monotonic()) > 0:
            for fd, _ in _poll(pending.values(), left):
                pending = {pid: f for pid, f in pending.items() if f != fd}
        if pending:
            described = ", ".join(f"{pid} ({cmdline(pid)})" for pid in pending)
            raise AssertionError(f"still alive after {timeout:g} s: {described}")

    def close(self) -> None:
        """Close every pidfd."""
        for fd in self.fds.values():
            os.close(fd)
        self.fds.clear()

    def __enter__(self) -> DeathWatch:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def watch(pids: Iterable[int], *, must_be_alive: bool = True) -> DeathWatch:
    """Open a pidfd on each pid at once (use it as a context manager)."""
    deaths = DeathWatch()
    try:
        for pid in pids:
            deaths.add(pid, must_be_alive=must_be_alive)
    except BaseException:
        deaths.close()
        raise
    return deaths


class PidReports:
    """A pipe that a process tree writes pids to; each pid is watched the moment it arrives.

    Pass `write_fd` to the child (pass_fds) and tell it the number. A thread reads
    the pipe until EOF and opens a pidfd on each pid at once. `close()` closes our
    write end and waits for EOF, which comes only when every process holding the
    pipe has exited: the barrier for "the whole tree is gone".
    """

    def __init__(self) -> None:
        self._read, self.write_fd = os.pipe()
        self.deaths = DeathWatch()
        self.pids: list[int] = []
        self._arrived = threading.Condition()
        self._thread = threading.Thread(target=self._collect, name="pid-reports", daemon=True)
        self._thread.start()

    def _collect(self) -> None:
        pending = b""
        while chunk := os.read(self._read, 4096):  # b"" at EOF: every writer has exited
            *lines, pending = (pending + chunk).split(b"\n")
            for pid in (int(word) for line in lines for word in line.split()):
                self.deaths.add(pid, must_be_alive=False)
                with self._arrived:
                    self.pids.append(pid)
                    self._arrived.notify_all()

    def wait_for(self, count: int, timeout: float = DEADLINE) -> list[int]:
        """Block until `count` pids have arrived; AssertionError after `timeout` seconds."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.pids) >= count, timeout):
                raise AssertionError(f"waited {timeout:g} s for {count} pids, got {self.pids}")
            return list(self.pids)

    def close(self, timeout: float = DEADLINE) -> None:
        """Close our write end, wait for EOF, and close everything.

        AssertionError if EOF does not come in time: some writer is still alive.
        """
        if self.write_fd >= 0:
            os.close(self.write_fd)
            self.write_fd = -1
        self._thread.join(timeout)
        if self._thread.is_alive():
            # The reader still blocks in read(); closing its fd now could hand the
            # number to another file, so it stays open until the writer dies.
            raise AssertionError(f"a process still holds the pid pipe after {timeout:g} s")
        os.close(self._read)
        self.deaths.close()

    def __enter__(self) -> PidReports:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def assert_reaped(pid: int) -> None:
    """Fail if `pid` is an exited child of ours that nobody reaped (a zombie we hold)."""
    stat = read_stat(pid)
    if stat is not None and stat.state == "Z" and stat.ppid == os.getpid():
        raise AssertionError(f"pid {pid} is an unreaped zombie child of ours: {stat}")


def _poll(fds: Iterable[int], timeout: float) -> list[tuple[int, int]]:
    poller = select.poll()
    for fd in fds:
        poller.register(fd, select.POLLIN)
    return poller.poll(timeout * 1000)
