"""Process exit: decoding wait statuses, and the portable exit notifier.

An exit notifier turns "process P exited" into a readable file descriptor, so one
`poll()` (sync) or one `add_reader` (asyncio) waits for output and exit together.
On Linux the fd is a pidfd (see `linux/pidfd.py`). Elsewhere, this module's
`ThreadExitNotifier` blocks a small thread in `waitpid(P)` and writes one byte to a
pipe when P has exited: an event, never a periodic check. (A SIGCHLD handler would
also work, but it is process-global state a library should not take over.)
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Protocol


class ExitNotifier(Protocol):
    """A process's exit, as a file descriptor that becomes readable when it happens."""

    @property
    def pid(self) -> int: ...
    @property
    def fd(self) -> int: ...
    def collect(self) -> WaitStatus | None:
        """The decoded wait status once the process has exited (reaping it), else None.

        `UNKNOWN` when the process is gone but its status is not ours to know
        (something else reaped it and the kernel cannot tell us what it was).
        """
        ...

    def close(self) -> None: ...

    @property
    def exited_at(self) -> float | None:
        """When the exit was seen by the notifier itself (monotonic), if it watches on its
        own (a waiter thread); None when only the caller's `collect` can tell."""
        ...


@dataclass(frozen=True, slots=True)
class WaitStatus:
    """A decoded wait status: `code` or `signal` is set, or neither when it is unknown."""

    code: int | None
    signal: int | None

    @property
    def known(self) -> bool:
        """False for `UNKNOWN`: the process exited, but how is lost."""
        return self.code is not None or self.signal is not None


UNKNOWN = WaitStatus(code=None, signal=None)
"""The exit of a process whose status someone else collected (a stray waitpid, a host
application's SIGCHLD handler). Never a success: callers treat it as a failure."""


def decode_status(raw: int) -> WaitStatus:
    """Decode the status word from waitpid()."""
    if os.WIFSIGNALED(raw):
        return WaitStatus(code=None, signal=os.WTERMSIG(raw))
    return WaitStatus(code=os.waitstatus_to_exitcode(raw), signal=None)


class ThreadExitNotifier:
    """Exit notification for any POSIX: a thread blocked in waitpid() writes to a pipe."""

    __slots__ = ("_lock", "_read", "_status", "_thread", "_write", "exited_at", "pid")

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._status: WaitStatus | None = None
        self.exited_at: float | None = None
        self._read, self._write = os.pipe()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._wait, name=f"corral-wait-{pid}", daemon=True)
        self._thread.start()

    @property
    def fd(self) -> int:
        return self._read

    def _wait(self) -> None:
        try:
            _, raw = os.waitpid(self.pid, 0)
        except ChildProcessError:  # reaped behind our back: no pidfd here to ask the kernel
            self._status = UNKNOWN
        else:
            self._status = decode_status(raw)
        self.exited_at = time.monotonic()  # the wakeup, not the caller's later collect
        with self._lock:
            if self._write >= 0:
                os.write(self._write, b"x")
                os.close(self._write)
                self._write = -1

    def collect(self) -> WaitStatus | None:
        return self._status

    def close(self) -> None:
        with self._lock:
            if self._write >= 0 and self._status is not None:
                os.close(self._write)
                self._write = -1
        if self._read >= 0:
            os.close(self._read)
            self._read = -1


def reap_any() -> list[tuple[int, int]]:
    """Reap every exited child of this process without blocking: [(pid, raw status)].

    Only a process that owns all its children may call this (the daemon does):
    it collects statuses that any other waiter of a specific pid would miss.
    """
    reaped: list[tuple[int, int]] = []
    while True:
        try:
            pid, raw = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return reaped
        if pid == 0:
            return reaped
        reaped.append((pid, raw))
