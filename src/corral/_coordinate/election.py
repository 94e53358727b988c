"""LocalElection: one leader among the processes of one machine, on a FileLock.

The leader is whoever holds the election's lock file; it stays leader until it
resigns or exits (the kernel drops the lock when it dies, however it dies), and the
next candidate waiting in `campaign` takes over then. Observers read the leader from
the lock's record without taking part.
"""

from __future__ import annotations

import os
from types import TracebackType
from typing import Self

from corral._coordinate.filelock import DEFAULT, FileLock, _Default
from corral._coordinate.holder import Holder

__all__ = ["LocalElection"]


class LocalElection:
    """Leader election between local processes sharing `path` (sync and asyncio).

    Args:
        path: the election's lock file (created if missing, never removed).
        owner: this candidate's label, shown to observers by `leader()`.
        timeout: how long `campaign()` (and `with`) waits by default; None for ever.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, owner: str = "", timeout: float | None = None
    ) -> None:
        self._lock = FileLock(path, owner=owner, timeout=timeout)

    def __repr__(self) -> str:
        role = "leader" if self.is_leader else "not leader"
        return f"<LocalElection {self._lock.path!r} {role}>"

    @property
    def is_leader(self) -> bool:
        """Whether this candidate leads now."""
        return self._lock.held

    @property
    def previous_died(self) -> Holder | None:
        """The leader before this one, if it ended while leading (its stale record)."""
        return self._lock.stale

    def campaign(self, timeout: float | _Default | None = DEFAULT) -> Self:
        """Wait to become leader; LockTimeout (naming the leader) if it does not happen in time."""
        self._lock.acquire(timeout)
        return self

    async def campaign_async(self, timeout: float | _Default | None = DEFAULT) -> Self:
        """`campaign` for asyncio."""
        await self._lock.acquire_async(timeout)
        return self

    def resign(self) -> None:
        """Stop leading (a no-op when not leader); the next candidate takes over."""
        self._lock.release()

    def leader(self) -> Holder | None:
        """The current leader, None when there is none right now."""
        return self._lock.holder()

    def __enter__(self) -> Self:
        return self.campaign()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.resign()

    async def __aenter__(self) -> Self:
        return await self.campaign_async()

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.resign()
