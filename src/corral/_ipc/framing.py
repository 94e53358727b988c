"""Length-prefixed frames: PURE, no I/O. A 4-byte big-endian length, then the payload.

`encode` makes a frame's bytes; `FrameDecoder.feed` takes bytes as they arrive, in
any split, and returns the frames completed so far; `FrameDecoder.end` says
whether EOF came at a frame boundary. A header announcing more than `max_frame`
bytes is refused (`FrameTooLarge`) on the header alone, before anything of that size
is allocated; EOF inside a frame is `TruncatedFrame`. The pool's parent<->worker
channel uses this, and so will every channel of `corral.ipc`.
"""

from __future__ import annotations

import struct

from corral._errors import FrameTooLarge, TruncatedFrame

HEADER = struct.Struct(">I")
"""The frame header: the payload's length, 4 bytes, big-endian, unsigned."""
MAX_FRAME = 256 * 1024 * 1024
"""The default largest payload, in bytes (the format itself allows up to 4 GiB - 1)."""


def encode(payload: bytes, max_frame: int = MAX_FRAME) -> bytes:
    """The frame for `payload`: header and payload; FrameTooLarge over `max_frame`."""
    if len(payload) > max_frame:
        raise FrameTooLarge(len(payload), max_frame)
    return HEADER.pack(len(payload)) + payload


class FrameDecoder:
    """Bytes in, whole frames out; keeps the partial frame between calls."""

    __slots__ = ("_buffer", "_need", "max_frame")

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        self.max_frame = max_frame
        """The largest payload accepted; a bigger announced length is FrameTooLarge."""
        self._buffer = bytearray()
        self._need: int | None = None  # the current frame's payload length, once its header is in

    def feed(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        """Add `data`; return every frame it completed, in order (maybe none).

        `data` is copied, never kept: a caller may reuse its read buffer.
        """
        if not self._buffer and self._need is None:  # the usual case: frames straight out
            return self._feed_fresh(memoryview(data))
        self._buffer += data
        return self._drain()

    def _feed_fresh(self, view: memoryview) -> list[bytes]:
        frames: list[bytes] = []
        position, end = 0, len(view)
        while end - position >= HEADER.size:
            (length,) = HEADER.unpack_from(view, position)
            if length > self.max_frame:
                raise FrameTooLarge(length, self.max_frame)
            if end - position - HEADER.size < length:
                break
            start = position + HEADER.size
            frames.append(bytes(view[start : start + length]))
            position = start + length
        if position < end:
            self._buffer += view[position:]
            frames.extend(self._drain())
        return frames

    def _drain(self) -> list[bytes]:
        frames: list[bytes] = []
        while True:
            if self._need is None:
                if len(self._buffer) < HEADER.size:
                    return frames
                (length,) = HEADER.unpack_from(self._buffer)
                if length > self.max_frame:
                    raise FrameTooLarge(length, self.max_frame)
                del self._buffer[: HEADER.size]
                self._need = length
            if len(self._buffer) < self._need:
                return frames
            frames.append(bytes(self._buffer[: self._need]))
            del self._buffer[: self._need]
            self._need = None

    @property
    def pending(self) -> int:
        """How many bytes of an unfinished frame (header included) are held."""
        return len(self._buffer) + (0 if self._need is None else HEADER.size)

    def wanted(self) -> int:
        """How many more bytes finish the current header or frame (a read size hint)."""
        if self._need is None:
            return HEADER.size - len(self._buffer)
        return self._need - len(self._buffer)

    def end(self) -> None:
        """The stream ended: fine at a frame boundary, else TruncatedFrame."""
        if self.pending:
            need = HEADER.size + (self._need if self._need is not None else 0)
            raise TruncatedFrame(self.pending, max(need, self.pending))
