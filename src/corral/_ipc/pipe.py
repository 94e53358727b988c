"""Frames over a pipe, blocking: send and receive (a pool worker's side).

A channel is a pair of pipes, one each way; each end uses the half it needs.
`send_frame` writes a whole frame (retrying short writes); `FrameReader.recv`
blocks for the next frame and returns None at EOF on a frame boundary.
The loop side is `loop_reader.AsyncFrameReader`, kept apart so a blocking peer
(a pool worker) does not import asyncio.
"""

from __future__ import annotations

import os

from corral._ipc.framing import MAX_FRAME, FrameDecoder, encode

READ_SIZE = 256 * 1024


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
            data = os.read(self._fd, max(self._decoder.wanted(), READ_SIZE))
            if not data:
                self._decoder.end()
                return None
            self._ready.extend(self._decoder.feed(data))
        return self._ready.pop(0)
