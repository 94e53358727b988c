"""Reading a child's output pipes: one read policy, and an event-loop reader that feeds a sink.

Each read takes at most 64 KiB, a default pipe's capacity. A wakeup reads again while
reads come back at least half full: the child is flooding and its pipe refills while a
chunk is handled, so reading on saves a trip through poll/epoll per chunk. Four reads
at most (256 KiB), then the caller moves on, so a flood still shares a loop fairly with
everything else on it. A read that finds little (a chatty child) ends the wakeup without
a second, empty read. `read_ready` is that policy; the sync handle calls it when poll()
says a pipe is readable, and `PipeReader` calls it from an asyncio loop for the async
handle and for every daemon instance's log pumps.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import Protocol

READ_SIZE = 1 << 16
"""Bytes one read takes at most."""
READS_PER_WAKEUP = 4
"""Reads one wakeup may make before the caller moves on to other work."""
_READ_AGAIN = READ_SIZE // 2
"""A read at least this big means a flood: read again in the same wakeup."""


class Sink(Protocol):
    """Where a `PipeReader` puts what it reads."""

    def data(self, chunk: bytes) -> None:
        """A chunk of output, as it arrived (never empty)."""
        ...

    def eof(self) -> None:
        """The pipe reached EOF (every writer has exited) or the reader was closed."""
        ...


def read_ready(fd: int, deliver: Callable[[bytes], None]) -> bool:
    """Read what a readable non-blocking pipe holds now, into `deliver`; True at EOF."""
    for _ in range(READS_PER_WAKEUP):
        try:
            chunk = os.read(fd, READ_SIZE)
        except BlockingIOError:
            return False
        if not chunk:
            return True
        deliver(chunk)
        if len(chunk) < _READ_AGAIN:
            return False
    return False


class PipeReader:
    """Reads one pipe on an event loop into a `Sink` until EOF; then closes the fd."""

    __slots__ = ("_fd", "_loop", "_sink")

    def __init__(self, loop: asyncio.AbstractEventLoop, fd: int, sink: Sink) -> None:
        self._loop = loop
        self._fd = fd
        self._sink = sink
        os.set_blocking(fd, False)
        loop.add_reader(fd, self._on_readable)

    @property
    def closed(self) -> bool:
        """True once the pipe reached EOF or the reader was closed."""
        return self._fd < 0

    def _on_readable(self) -> None:
        if read_ready(self._fd, self._sink.data):
            self.close()

    def close(self) -> None:
        """Stop reading and close the fd (at EOF, or when giving up on a stray writer)."""
        if self._fd < 0:
            return
        self._loop.remove_reader(self._fd)
        os.close(self._fd)
        self._fd = -1
        self._sink.eof()

    def __repr__(self) -> str:
        return f"<PipeReader fd={self._fd}{' closed' if self._fd < 0 else ''}>"
