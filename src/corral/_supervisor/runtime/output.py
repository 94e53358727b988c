"""Child pipes -> log writers (and live followers), on the event loop.

Each read takes at most 64 KiB, a default pipe's capacity. A wakeup reads again
while reads come back at least half full: the program is flooding and its pipe
refills while a chunk is written, so reading on saves a trip through epoll and
the loop per chunk. Four reads at most (256 KiB), then the loop moves on, so a
flood still shares it fairly with the other programs and the API. A read that
finds little (a chatty program) ends the wakeup without a second, empty read.
Bytes go to the LogWriter as they arrive (nothing is held back), then to any
`logs -f` followers. A follower that cannot keep up is disconnected with a
notice rather than let its queue grow without bound; the log file never loses a
byte to a slow follower.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Mapping

from corral._observe.logs.writer import LogWriter

READ_SIZE = 1 << 16
"""Bytes one read takes at most."""
READS_PER_WAKEUP = 4
"""Reads one wakeup may make before the loop moves on to other work."""
_READ_AGAIN = READ_SIZE // 2
"""A read at least this big means a flood: read again in the same wakeup."""
FOLLOWER_QUEUE = 1024
"""Chunks a follower may lag behind before it is cut off."""

OVERFLOW = b""
"""Sentinel put in a follower's queue when it fell behind and was cut off."""


class OutputPump:
    """Reads one pipe of one instance into its writer until EOF."""

    __slots__ = ("_fd", "_followers", "_loop", "_stream", "_writer")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        fd: int,
        writer: LogWriter,
        followers: Mapping[str, set[asyncio.Queue[bytes | None]]],
        stream: str,
    ) -> None:
        self._loop = loop
        self._fd = fd
        self._writer = writer
        self._followers = followers
        """The instance's follower queues by stream, looked up per chunk (usually empty)."""
        self._stream = stream
        os.set_blocking(fd, False)
        loop.add_reader(fd, self._on_readable)

    @property
    def closed(self) -> bool:
        """True once the pipe reached EOF (every writer of it has exited) or was closed."""
        return self._fd < 0

    def _on_readable(self) -> None:
        for _ in range(READS_PER_WAKEUP):
            try:
                chunk = os.read(self._fd, READ_SIZE)
            except BlockingIOError:
                return
            if not chunk:
                self.close()
                return
            self._deliver(chunk)
            if len(chunk) < _READ_AGAIN:
                return

    def _deliver(self, chunk: bytes) -> None:
        self._writer.write(chunk)
        queues = self._followers.get(self._stream)
        if queues:
            for queue in tuple(queues):
                _offer(queue, chunk, queues)

    def close(self) -> None:
        """Stop reading: at EOF, or when the daemon gives up on a stray writer."""
        if self._fd < 0:
            return
        self._loop.remove_reader(self._fd)
        os.close(self._fd)
        self._fd = -1
        self._writer.flush_partial()


def _offer(
    queue: asyncio.Queue[bytes | None], chunk: bytes, followers: set[asyncio.Queue[bytes | None]]
) -> None:
    try:
        queue.put_nowait(chunk)
    except asyncio.QueueFull:
        followers.discard(queue)
        _drain_one(queue)
        queue.put_nowait(OVERFLOW)


def _drain_one(queue: asyncio.Queue[bytes | None]) -> None:
    with contextlib.suppress(asyncio.QueueEmpty):
        queue.get_nowait()
