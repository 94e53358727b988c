"""Frames from an fd read by an asyncio loop (a pool's parent side, an AsyncChannel).

`AsyncFrameReader` makes the fd non-blocking and registers it with the running loop
(`add_reader`); each readable event reads what is there, feeds the one
`FrameDecoder`, and hands over the whole frames: no thread per peer. A socket's
reads go through `pipe.read_chunk` like a blocking reader's (records, fds).
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable

from corral._errors import FrameError
from corral._ipc.framing import MAX_FRAME, FrameDecoder
from corral._ipc.pipe import READ_SIZE, read_chunk


class AsyncFrameReader:
    """Frames from a non-blocking fd, read by the running loop's reader callback.

    `on_frame(payload)` runs for each frame in order; `on_end(error)` runs once, with
    None at a clean EOF or the FrameError (or OSError) that ended the stream. After
    it the fd is unregistered; closing it is the owner's job.
    """

    __slots__ = (
        "_buffer",
        "_decoder",
        "_done",
        "_fd",
        "_fds",
        "_loop",
        "_on_end",
        "_on_frame",
        "_record",
        "_sock",
    )

    def __init__(
        self,
        fd: int,
        on_frame: Callable[[bytes], None],
        on_end: Callable[[BaseException | None], None],
        max_frame: int = MAX_FRAME,
        *,
        sock: socket.socket | None = None,
        record: bool = False,
        fds: list[int] | None = None,
    ) -> None:
        self._fd = fd
        self._sock = sock
        self._record = record
        self._fds = fds
        self._buffer = bytearray(READ_SIZE)
        self._on_frame = on_frame
        self._on_end = on_end
        self._decoder = FrameDecoder(max_frame)
        self._done = False
        os.set_blocking(fd, False)
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(fd, self._readable)

    def drain(self) -> None:
        """Read and deliver everything the pipe holds now (before acting on a peer's exit,
        so a reply it wrote just before it died is not lost)."""
        while not self._done and self._readable():
            pass

    def _readable(self) -> bool:
        """Read once and deliver what completed; True when more may be waiting."""
        try:
            data = read_chunk(
                self._fd,
                self._decoder,
                self._sock,
                record=self._record,
                fds=self._fds,
                buffer=self._buffer,
            )
        except BlockingIOError:
            return False
        except FrameError as exc:  # a seqpacket record over the limit
            self._finish(exc)
            return False
        except OSError as exc:
            self._finish(exc)
            return False
        if not data:
            try:
                self._decoder.end()
            except FrameError as exc:
                self._finish(exc)
            else:
                self._finish(None)
            return False
        try:
            frames = self._decoder.feed(data)
        except FrameError as exc:
            self._finish(exc)
            return False
        for frame in frames:
            if self._done:  # a callback closed us: later frames are not ours to deliver
                return False
            self._on_frame(frame)
        return True

    def _finish(self, error: BaseException | None) -> None:
        self.close()
        self._on_end(error)

    def close(self) -> None:
        """Stop reading (idempotent); no callback runs after it."""
        if not self._done:
            self._done = True
            self._loop.remove_reader(self._fd)
