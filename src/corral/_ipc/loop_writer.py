"""Frames to a pipe written by an asyncio loop: never blocks the loop on a slow reader.

`LoopFrameWriter` makes the fd non-blocking; `send` writes what the pipe takes now
and leaves the rest to a writer callback (`add_writer`) that finishes it when the
reader drains the pipe. A peer that stops reading (stopped, hung) holds only its own
frame back, never the loop; a peer that is gone (EPIPE) ends the writer, and
`broken` says so.
"""

from __future__ import annotations

import asyncio
import os

from corral._ipc.framing import MAX_FRAME, encode


class LoopFrameWriter:
    """Queued frames to one non-blocking fd, flushed by the running loop."""

    __slots__ = ("_fd", "_loop", "_pending", "_watching", "broken", "max_frame")

    def __init__(self, fd: int, max_frame: int = MAX_FRAME) -> None:
        self._fd = fd
        self.max_frame = max_frame
        """The largest payload `send` accepts (FrameTooLarge above it)."""
        self._pending = bytearray()
        self._watching = False
        self.broken = False
        """The reader is gone (EPIPE): nothing more is written."""
        os.set_blocking(fd, False)
        self._loop = asyncio.get_running_loop()

    @property
    def pending(self) -> int:
        """Bytes accepted by `send` and not yet written."""
        return len(self._pending)

    def send(self, payload: bytes) -> None:
        """Queue one frame and write as much as the pipe takes now."""
        if not self.broken:
            self._pending += encode(payload, self.max_frame)
            self._flush()

    def _flush(self) -> None:
        try:
            while self._pending:
                written = os.write(self._fd, self._pending)
                del self._pending[:written]
        except BlockingIOError:
            if not self._watching:
                self._watching = True
                self._loop.add_writer(self._fd, self._flush)
            return
        except OSError:  # EPIPE and the like: the reader is gone
            self.broken = True
            self._pending.clear()
        self._stop_watching()

    def _stop_watching(self) -> None:
        if self._watching:
            self._watching = False
            self._loop.remove_writer(self._fd)

    def close(self) -> None:
        """Stop writing (what is still pending is dropped); the fd stays the owner's."""
        self._stop_watching()
        self._pending.clear()
