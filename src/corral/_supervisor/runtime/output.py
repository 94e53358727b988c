"""Child pipes -> log writers (and live followers), on the event loop.

Each instance stream is read by the shared `PipeReader` (`_process/reading.py`: its
read policy, 64 KiB reads, up to four per wakeup while a flood lasts, is written
there once). `OutputPump` is the sink: bytes go to the LogWriter as they arrive
(nothing is held back), then to any `logs -f` followers. A follower that falls
`FOLLOWER_BYTES` (1 MiB) behind is cut off and dropped (`_observe/logs/follower.py`)
rather than let its queue grow; the log file never loses a byte to a slow follower.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING

from corral._observe.logs.writer import LogWriter
from corral._process.reading import READ_SIZE, READS_PER_WAKEUP, PipeReader

if TYPE_CHECKING:
    from corral._observe.logs.follower import LogFollower
    from corral._supervisor.runtime.exact import StagedReader, Staging

__all__ = ["READS_PER_WAKEUP", "READ_SIZE", "OutputPump"]


class OutputPump:
    """Reads one pipe of one instance into its writer (and followers) until EOF."""

    __slots__ = ("_followers", "_reader", "_stream", "_writer")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        fd: int,
        writer: LogWriter,
        followers: Mapping[str, set[LogFollower]],
        stream: str,
        *,
        exact: tuple[Staging, int] | None = None,
    ) -> None:
        self._writer = writer
        self._followers = followers
        """The instance's followers by stream, looked up per chunk (usually none)."""
        self._stream = stream
        self._reader: PipeReader | StagedReader
        if exact is None:
            self._reader = PipeReader(loop, fd, self)
        else:  # under a keeper: through the stream's staging pipe (exact.py)
            staging, index = exact
            self._reader = staging.reader(loop, fd, self, index, writer)

    @property
    def closed(self) -> bool:
        """True once the pipe reached EOF (every writer of it has exited) or was closed."""
        return self._reader.closed

    def data(self, chunk: bytes) -> None:
        """A chunk read from the pipe: into the log, then to each follower."""
        self._writer.write(chunk)
        followers = self._followers.get(self._stream)
        if followers:
            for follower in tuple(followers):
                if not follower.offer(chunk):  # cut off: it fell too far behind
                    followers.discard(follower)

    def eof(self) -> None:
        """The pipe is done: end a last partial line in the log."""
        self._writer.flush_partial()

    def close(self) -> None:
        """Stop reading: at EOF, or when the daemon gives up on a stray writer."""
        self._reader.close()
