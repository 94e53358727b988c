"""Frames over a pipe: blocking send and receive (a worker), and a loop reader (a parent).

A channel is a pair of pipes, one each way; each end uses the half it needs.
`send_frame` writes a whole frame (retrying short writes); `FrameReader.recv`
blocks for the next frame and returns None at EOF on a frame boundary.
`AsyncFrameReader` makes the fd non-blocking and registers it with the running
loop (`add_reader`): no thread per peer; frames and the end are callbacks.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

from corral._errors import FrameError
from corral._ipc.framing import MAX_FRAME, FrameDecoder, encode

_READ_SIZE = 256 * 1024


def send_frame(fd: int, payload: bytes, max_frame: int = MAX_FRAME) -> None:
    """Write `payload` as one frame to the blocking fd `fd`, all of it.

    BrokenPipeError when the reader is gone; FrameTooLarge over `max_frame`.
    """
    view = memoryview(encode(payload, max_frame))
    while view:
        view = view[os.write(fd, view) :]


class FrameReader:
    """Blocking frame reads from one fd (the worker's side of a channel)."""

    __slots__ = ("_decoder", "_fd", "_ready")

    def __init__(self, fd: int, max_frame: int = MAX_FRAME) -> None:
        self._fd = fd
        self._decoder = FrameDecoder(max_frame)
        self._ready: list[bytes] = []

    def recv(self) -> bytes | None:
        """The next frame; None at EOF between frames; TruncatedFrame at EOF inside one."""
        while not self._ready:
            data = os.read(self._fd, max(self._decoder.wanted(), _READ_SIZE))
            if not data:
                self._decoder.end()
                return None
            self._ready.extend(self._decoder.feed(data))
        return self._ready.pop(0)


class AsyncFrameReader:
    """Frames from a non-blocking fd, read by the running loop's reader callback.

    `on_frame(payload)` runs for each frame in order; `on_end(error)` runs once, with
    None at a clean EOF or the FrameError (or OSError) that ended the stream. After
    it the fd is unregistered; closing it is the owner's job.
    """

    __slots__ = ("_decoder", "_done", "_fd", "_loop", "_on_end", "_on_frame")

    def __init__(
        self,
        fd: int,
        on_frame: Callable[[bytes], None],
        on_end: Callable[[BaseException | None], None],
        max_frame: int = MAX_FRAME,
    ) -> None:
        self._fd = fd
        self._on_frame = on_frame
        self._on_end = on_end
        self._decoder = FrameDecoder(max_frame)
        self._done = False
        os.set_blocking(fd, False)
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(fd, self._readable)

    def _readable(self) -> None:
        try:
            data = os.read(self._fd, _READ_SIZE)
        except BlockingIOError:
            return
        except OSError as exc:
            self._finish(exc)
            return
        if not data:
            try:
                self._decoder.end()
            except FrameError as exc:
                self._finish(exc)
            else:
                self._finish(None)
            return
        try:
            frames = self._decoder.feed(data)
        except FrameError as exc:
            self._finish(exc)
            return
        for frame in frames:
            if self._done:  # a callback closed us: later frames are not ours to deliver
                return
            self._on_frame(frame)

    def _finish(self, error: BaseException | None) -> None:
        self.close()
        self._on_end(error)

    def close(self) -> None:
        """Stop reading (idempotent); no callback runs after it."""
        if not self._done:
            self._done = True
            self._loop.remove_reader(self._fd)
