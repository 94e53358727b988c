"""Process exit as a pidfd (pidfd_open(2), Linux 5.3+).

A pidfd refers to one process, not to a pid number, so it cannot be fooled by pid
reuse; it polls readable once that process has exited (become a zombie), after
which waitpid() on our child returns at once. We open it right after spawning:
until we reap the child, its pid cannot be reused, so the open is race-free.

When something else reaps our child first (a stray waitpid, a host application's
SIGCHLD handler), waitpid() fails with ECHILD and the status is gone from it. Linux
6.15 keeps it on the pidfd: ioctl(PIDFD_GET_INFO) with PIDFD_INFO_EXIT in the request
mask fills `exit_code` (a raw wait status) once the process has been reaped, and sets
that bit in the returned mask (pidfd_open(2); include/uapi/linux/pidfd.h). A pidfd
opened before the reap is enough, which ours always is.
"""

from __future__ import annotations

import os
import struct

from corral._platform.features import Feature, has
from corral._platform.posix.exits import UNKNOWN, WaitStatus, decode_status

_INFO_SIZE = 64
"""sizeof(struct pidfd_info), version 0: mask, cgroupid, eleven u32 ids, exit_code."""
_INFO_EXIT = 1 << 3
"""PIDFD_INFO_EXIT."""
_EXIT_CODE_AT = 60
"""Offset of `exit_code` (s32) in struct pidfd_info."""
PIDFD_GET_INFO = (3 << 30) | (_INFO_SIZE << 16) | (0xFF << 8) | 11
"""_IOWR(PIDFS_IOCTL_MAGIC 0xFF, 11, struct pidfd_info)."""


class PidfdExitNotifier:
    """Exit notification through a pidfd; `collect()` reaps with waitpid(WNOHANG)."""

    __slots__ = ("_fd", "pid")

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._fd = os.pidfd_open(pid)

    @property
    def fd(self) -> int:
        return self._fd

    @property
    def exited_at(self) -> None:
        """Unknown here: a pidfd is only readable, nothing watches it until the caller polls."""
        return None

    def collect(self) -> WaitStatus | None:
        try:
            done, raw = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:  # someone else reaped it: ask the pidfd
            if has(Feature.PIDFD_EXIT_INFO):
                lost = exit_status(self._fd)
                if lost is not None:
                    return decode_status(lost)
            return UNKNOWN
        return decode_status(raw) if done else None

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


def exit_status(fd: int) -> int | None:
    """The raw wait status a reaped process left on its pidfd (Linux 6.15+), else None."""
    import fcntl

    info = bytearray(_INFO_SIZE)
    struct.pack_into("=Q", info, 0, _INFO_EXIT)
    try:
        fcntl.ioctl(fd, PIDFD_GET_INFO, info, True)
    except OSError:  # ENOTTY/EINVAL before 6.13, ESRCH if it was never reaped
        return None
    (mask,) = struct.unpack_from("=Q", info, 0)
    if not mask & _INFO_EXIT:
        return None
    (raw,) = struct.unpack_from("=i", info, _EXIT_CODE_AT)
    return int(raw)


class AdoptedExitNotifier:
    """The exit of a process that is not our child (a dead daemon's, held by the keeper).

    Its parent (the keeper, a subreaper) reaps it; we hold a pidfd to it, which polls
    readable once it has exited, and read its status from the keeper's record
    (`status`, a raw wait status) or from the pidfd once it has been reaped
    (PIDFD_INFO_EXIT, Linux 6.15+). Until its parent has reaped it, `collect` returns
    None; without PIDFD_INFO_EXIT a reaped one is UNKNOWN.
    """

    __slots__ = ("_fd", "_status", "pid")

    def __init__(self, pid: int, fd: int, status: int | None) -> None:
        self.pid = pid
        self._fd = fd
        self._status = status

    @property
    def fd(self) -> int:
        return self._fd

    @property
    def exited_at(self) -> None:
        return None

    def collect(self) -> WaitStatus | None:
        if self._status is not None:
            return decode_status(self._status)
        if self._fd < 0 or not _readable(self._fd):
            return None
        raw = exit_status(self._fd) if has(Feature.PIDFD_EXIT_INFO) else None
        if raw is not None:
            return decode_status(raw)
        if not has(Feature.PIDFD_EXIT_INFO):
            return UNKNOWN
        return None  # a zombie its parent has not reaped yet: asked again on the next wakeup

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _readable(fd: int) -> bool:
    """Whether `fd` polls readable now (poll, not select: a daemon's fds pass 1024)."""
    import select

    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))
