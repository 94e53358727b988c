"""Process exit as a pidfd (pidfd_open(2), Linux 5.3+).

A pidfd refers to one process, not to a pid number, so it cannot be fooled by pid
reuse; it polls readable once that process has exited (become a zombie), after
which waitpid() on our child returns at once. We open it right after spawning:
until we reap the child, its pid cannot be reused, so the open is race-free.
"""

from __future__ import annotations

import os


class PidfdExitNotifier:
    """Exit notification through a pidfd; `collect()` reaps with waitpid(WNOHANG)."""

    __slots__ = ("_fd", "pid")

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._fd = os.pidfd_open(pid)

    @property
    def fd(self) -> int:
        return self._fd

    def collect(self) -> int | None:
        try:
            done, raw = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            return 0
        return raw if done else None

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def open_pidfd(pid: int) -> int | None:
    """A pidfd for any process (not only our children), or None if it is gone."""
    try:
        return os.pidfd_open(pid)
    except ProcessLookupError:
        return None
