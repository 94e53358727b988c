"""Exit reapers: how corral learns that a process it started has exited.

Two modes behind one method, `notifier(pid) -> ExitNotifier` (what `launch` takes):

- `PerChildReaper`, the default: one pidfd per child (a waiter thread where there is
  none). It waits only for pids it started, so it is safe inside someone else's
  process: the library, a pool in a host application.
- `OwningReaper`, for a process that owns every child it has (the daemon). It is a
  child subreaper (prctl PR_SET_CHILD_SUBREAPER), so descendants that double-fork out
  of a program are re-parented to it and must be reaped or they stay zombies. A pidfd
  per managed child says *which* process exited (immune to pid reuse); SIGCHLD says
  *that* some child exited, the only event an adopted orphan gives. Both run `reap()`,
  which collects every exited child with waitpid(-1, WNOHANG): statuses of managed pids
  are kept for their notifier, orphans are counted and dropped. Without pidfds each
  managed pid's notifier fd is a pipe that `reap()` writes to.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import Protocol

from corral._platform import (
    ExitNotifier,
    Feature,
    WaitStatus,
    decode_status,
    open_exit_notifier,
    open_watch_fd,
    reap_any,
)
from corral._platform.features import has


class Reaper(Protocol):
    """Hands out the exit notifier of each process just spawned."""

    def notifier(self, pid: int) -> ExitNotifier:
        """The exit notifier for `pid`, a child spawned a moment ago (pass to `launch`)."""
        ...


class PerChildReaper:
    """Waits for each child on its own (pidfd, else a waiter thread): never for a stranger."""

    __slots__ = ()

    def notifier(self, pid: int) -> ExitNotifier:
        """A pidfd (or waiter-thread) notifier for our child `pid`."""
        return open_exit_notifier(pid)


class OwningReaper:
    """Collects all child exits of a process that owns every child (the daemon)."""

    __slots__ = ("_loop", "_notifiers", "orphans_reaped")

    def __init__(self) -> None:
        self._notifiers: dict[int, _ReapedNotifier] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self.orphans_reaped = 0
        """Adopted orphans collected so far (never left as zombies)."""

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        """Reap on every SIGCHLD from now on."""
        self._loop = loop
        loop.add_signal_handler(signal.SIGCHLD, self.reap)

    def uninstall(self) -> None:
        """Stop handling SIGCHLD (at shutdown)."""
        if self._loop is not None:
            self._loop.remove_signal_handler(signal.SIGCHLD)
            self._loop = None

    def notifier(self, pid: int) -> ExitNotifier:
        """The exit notifier for a child just spawned (pass to `launch`)."""
        made = _ReapedNotifier(pid, self)
        self._notifiers[pid] = made
        return made

    def reap(self) -> None:
        """Collect every exited child now; wake the notifiers of managed ones."""
        for pid, raw in reap_any():
            notifier = self._notifiers.pop(pid, None)
            if notifier is None:
                self.orphans_reaped += 1
            else:
                notifier.deliver(decode_status(raw))

    def forget(self, pid: int) -> None:
        """Drop the notifier of a pid (its owner closed it)."""
        self._notifiers.pop(pid, None)

    def __repr__(self) -> str:
        return f"<OwningReaper managed={len(self._notifiers)} orphans={self.orphans_reaped}>"


class _ReapedNotifier:
    """An exit notifier whose status comes from the shared OwningReaper."""

    __slots__ = ("_pipe_write", "_reaper", "_status", "exited_at", "fd", "pid")

    def __init__(self, pid: int, reaper: OwningReaper) -> None:
        self.pid = pid
        self._reaper = reaper
        self._status: WaitStatus | None = None
        self.exited_at: float | None = None
        self._pipe_write = -1
        watch = open_watch_fd(pid) if has(Feature.PIDFD) else None
        if watch is None:
            self.fd, self._pipe_write = os.pipe()
        else:
            self.fd = watch

    def deliver(self, status: WaitStatus) -> None:
        self._status = status
        self.exited_at = time.monotonic()
        if self._pipe_write >= 0:
            os.write(self._pipe_write, b"x")

    def collect(self) -> WaitStatus | None:
        if self._status is None:
            self._reaper.reap()
        return self._status

    def close(self) -> None:
        self._reaper.forget(self.pid)
        for fd in (self.fd, self._pipe_write):
            if fd >= 0:
                os.close(fd)
        self.fd = self._pipe_write = -1
