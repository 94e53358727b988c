"""LogFollower: the chunks of one log stream a `logs -f` reader has not taken yet, bounded in bytes.

Output arrives at the program's pace and leaves at the reader's. The follower keeps
what is in between and counts its bytes; a chunk that would take it past
`max_bytes` cuts the reader off: what it held is dropped at once (the memory goes
back while the reader's connection may still hang), no more is queued, and the
reader is told when it next takes. The log file never waits for a follower.

Not thread-safe: offered, ended and taken on one event loop.
"""

from __future__ import annotations

import asyncio
from collections import deque

from corral._errors import InvalidSpec

__all__ = ["FOLLOWER_BYTES", "LogFollower"]

FOLLOWER_BYTES = 1024 * 1024
"""Bytes a follower may lag behind before it is cut off."""


class LogFollower:
    """New chunks of one stream for one reader, at most `max_bytes` of them at a time."""

    __slots__ = ("_bytes", "_chunks", "_ended", "_waiter", "cut_off", "max_bytes")

    def __init__(self, max_bytes: int = FOLLOWER_BYTES) -> None:
        if max_bytes < 1:
            raise InvalidSpec(f"a log follower needs max_bytes >= 1, got {max_bytes}")
        self.max_bytes = max_bytes
        self._chunks: deque[bytes] = deque()
        self._bytes = 0
        self._ended = False
        self._waiter: asyncio.Future[None] | None = None
        self.cut_off = False
        """Set once the reader fell `max_bytes` behind; the follower is then empty for good."""

    def __repr__(self) -> str:
        state = "cut off" if self.cut_off else "ended" if self._ended else "following"
        return f"<LogFollower {self._bytes}/{self.max_bytes} B {state}>"

    @property
    def queued_bytes(self) -> int:
        """Bytes held for the reader now."""
        return self._bytes

    def offer(self, chunk: bytes) -> bool:
        """Queue `chunk`; False (and cut off, emptied) if it would pass the bound."""
        if self.cut_off or self._ended:
            return False
        if self._bytes + len(chunk) > self.max_bytes:
            self._chunks.clear()
            self._bytes = 0
            self.cut_off = True
        else:
            self._chunks.append(chunk)
            self._bytes += len(chunk)
        self._wake()
        return not self.cut_off

    def end(self) -> None:
        """No more output will come (the instance's logs closed): the reader ends after the rest."""
        self._ended = True
        self._wake()

    async def take(self) -> bytes:
        """Everything queued, joined, waiting for some if none is; b"" once ended or cut off."""
        while not self._chunks and not self.cut_off and not self._ended:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        data = b"".join(self._chunks)
        self._chunks.clear()
        self._bytes = 0
        return data

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
