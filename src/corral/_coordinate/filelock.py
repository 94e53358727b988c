"""FileLock: an exclusive lock between the processes of one machine, sync and asyncio.

A lock file (see _platform/posix/filelock.py for the primitive) holds the holder's
record. Waiting is a poll of a non-blocking attempt, 1 ms doubling to 25 ms: the
kernel offers no lock wait with a timeout, and a blocking wait in a thread could not
be abandoned at the deadline without leaving a thread that may still take the lock.
"""

from __future__ import annotations

import contextlib
import enum
import os
import time
from types import TracebackType
from typing import Self

from corral._coordinate.holder import Holder
from corral._errors import CoordinationError, LockTimeout
from corral._platform import (
    is_locked,
    open_lock_file,
    read_lock_record,
    try_lock,
    write_lock_record,
)

__all__ = ["FileLock"]

_FIRST_PAUSE = 0.001
_LONGEST_PAUSE = 0.025


class _Default(enum.Enum):
    TIMEOUT = enum.auto()
    """The lock's own `timeout`."""


DEFAULT = _Default.TIMEOUT


class FileLock:
    """An exclusive lock on a file, between processes (and between FileLocks of one process).

    The kernel drops it when its holder exits, however it exits; the next holder sees
    the record the dead one left in `stale`. Use it as a context manager (`with` or
    `async with`), or `acquire` / `release`. One FileLock is one holder: it is not
    re-entrant, and not meant to be shared by threads.

    Args:
        path: the lock file; created (with `mode`) if missing, never removed.
        timeout: how long `with` / `acquire()` wait by default; None waits for ever,
            0 tries once.
        owner: a label written in the record beside the pid ("web-1"), for `holder()`.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        timeout: float | None = None,
        owner: str = "",
        mode: int = 0o644,
    ) -> None:
        self.path = os.fspath(path)
        self.timeout = timeout
        self.owner = owner
        self._mode = mode
        self._fd: int | None = None
        self._held = False
        self.stale: Holder | None = None
        """The record of a previous holder that ended without releasing, found when this
        lock was last acquired; None when the lock was released cleanly before."""

    def __repr__(self) -> str:
        state = "held" if self._held else "not held"
        return f"<FileLock {self.path!r} {state}>"

    @property
    def held(self) -> bool:
        """Whether this FileLock holds the lock now."""
        return self._held

    def try_acquire(self) -> bool:
        """Take the lock if it is free, without waiting: True if now held."""
        if self._attempt():
            return True
        self._close_waiting()
        return False

    def acquire(self, timeout: float | _Default | None = DEFAULT) -> Self:
        """Wait for the lock up to `timeout` (the lock's default if not given).

        Raises:
            LockTimeout: still held by another when the timeout ran out; names the holder.
            CoordinationError: the lock file cannot be opened (read-only directory, symlink).
        """
        limit = self.timeout if timeout is DEFAULT else timeout
        deadline = None if limit is None else time.monotonic() + limit
        pause = _FIRST_PAUSE
        try:
            while not self._attempt():
                remaining = self._remaining(deadline, limit)
                time.sleep(min(pause, remaining))
                pause = min(pause * 2, _LONGEST_PAUSE)
        except BaseException:  # a timeout, an interrupt, a cancelled task: stop waiting
            self._close_waiting()
            raise
        return self

    async def acquire_async(self, timeout: float | _Default | None = DEFAULT) -> Self:
        """`acquire` for asyncio: waits without blocking the loop."""
        import asyncio  # here: a program that only locks in threads loads no asyncio (nor ssl)

        limit = self.timeout if timeout is DEFAULT else timeout
        deadline = None if limit is None else time.monotonic() + limit
        pause = _FIRST_PAUSE
        try:
            while not self._attempt():
                remaining = self._remaining(deadline, limit)
                await asyncio.sleep(min(pause, remaining))
                pause = min(pause * 2, _LONGEST_PAUSE)
        except BaseException:  # a timeout, an interrupt, a cancelled task: stop waiting
            self._close_waiting()
            raise
        return self

    def release(self) -> None:
        """Give the lock up (clearing the record first); a no-op when not held."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            if self._held:
                write_lock_record(fd, b"")
        finally:
            self._held = False
            os.close(fd)  # closing the description releases its lock

    def holder(self) -> Holder | None:
        """Who holds the lock now, from their record; None when nobody holds it.

        A holder that has not written its record yet reads as None for that moment.
        """
        if self._held:
            return Holder.decode(read_lock_record(self._fd_or_raise()))
        if self._fd is not None:
            return _read_holder(self._fd)
        fd = open_lock_file(self.path, self._mode)
        try:
            return _read_holder(fd)
        finally:
            os.close(fd)

    def __enter__(self) -> Self:
        return self.acquire()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.release()

    async def __aenter__(self) -> Self:
        return await self.acquire_async()

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.release()

    def _attempt(self) -> bool:
        if self._held:
            raise CoordinationError(f"lock {self.path!r} is already held by this FileLock")
        fd = self._descriptor()
        if not try_lock(fd):
            return False
        self._take(fd)
        return True

    def _descriptor(self) -> int:
        if self._fd is None:
            self._fd = open_lock_file(self.path, self._mode)
        return self._fd

    def _fd_or_raise(self) -> int:
        if self._fd is None:
            raise CoordinationError(f"lock {self.path!r} is not open")
        return self._fd

    def _take(self, fd: int) -> None:
        previous = read_lock_record(fd)
        self.stale = Holder.decode(previous) if previous else None
        self._held = True
        try:
            write_lock_record(fd, Holder.me(self.owner).encode())
        except OSError as exc:
            self.release()
            raise CoordinationError(f"lock file {self.path}: {exc.strerror}") from None

    def _remaining(self, deadline: float | None, limit: float | None) -> float:
        if deadline is None:
            return _LONGEST_PAUSE
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            holder = self._holder_quietly()
            raise LockTimeout(self.path, limit or 0.0, describe(holder))
        return remaining

    def _holder_quietly(self) -> Holder | None:
        with contextlib.suppress(OSError, CoordinationError):
            return self.holder()
        return None

    def _close_waiting(self) -> None:
        if self._fd is not None and not self._held:
            os.close(self._fd)
            self._fd = None


def _read_holder(fd: int) -> Holder | None:
    if not is_locked(fd):
        return None
    return Holder.decode(read_lock_record(fd))


def describe(holder: Holder | None) -> str | None:
    """A holder for a message, saying when its process is gone (its lock inherited)."""
    if holder is None:
        return None
    if holder.alive() is False:
        return f"{holder}, which has exited: a process it forked holds the lock file open"
    return str(holder)
