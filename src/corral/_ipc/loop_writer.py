"""Frames to an fd written by an asyncio loop: never blocks the loop on a slow reader.

`LoopFrameWriter` makes the fd non-blocking; `send` writes what the fd takes now
and leaves the rest to a writer callback (`add_writer`) that finishes it when the
reader drains it. A peer that stops reading (stopped, hung) holds only its own
frame back, never the loop; a peer that is gone (EPIPE) ends the writer, and
`broken` says so. `drained()` is a future for "all written" (an AsyncChannel's
backpressure). A record socket (SOCK_SEQPACKET) is written one frame per call, so
each frame stays one record; fds queued with a frame go with its first bytes.
"""

from __future__ import annotations

import array
import asyncio
import os
import socket
from collections import deque
from collections.abc import Sequence

from corral._ipc.framing import MAX_FRAME, encode

_Ancillary = list[tuple[int, int, "array.array[int]"]]


class LoopFrameWriter:
    """Queued frames to one non-blocking fd, flushed by the running loop."""

    __slots__ = (
        "_fd",
        "_loop",
        "_pending",
        "_queued",
        "_record",
        "_sock",
        "_waiters",
        "_watching",
        "broken",
        "max_frame",
    )

    def __init__(
        self,
        fd: int,
        max_frame: int = MAX_FRAME,
        *,
        sock: socket.socket | None = None,
        record: bool = False,
    ) -> None:
        self._fd = fd
        self.max_frame = max_frame
        """The largest payload `send` accepts (FrameTooLarge above it)."""
        self._sock = sock
        self._record = record
        self._pending = bytearray()  # a byte stream's unwritten bytes
        self._queued: deque[tuple[memoryview, _Ancillary]] = deque()  # frames with fds, records
        self._watching = False
        self._waiters: list[asyncio.Future[None]] = []
        self.broken = False
        """The reader is gone (EPIPE): nothing more is written."""
        os.set_blocking(fd, False)
        self._loop = asyncio.get_running_loop()

    @property
    def pending(self) -> int:
        """Bytes accepted by `send` and not yet written."""
        return len(self._pending) + sum(len(view) for view, _ in self._queued)

    def send(self, payload: bytes, fds: Sequence[int] = ()) -> None:
        """Queue one frame (with `fds`, on a unix socket) and write what the fd takes now."""
        if self.broken:
            return
        frame = encode(payload, self.max_frame)
        if fds or self._record or self._queued:
            if self._pending:  # keep stream order: what is pending goes first
                self._queued.append((memoryview(bytes(self._pending)), []))
                self._pending.clear()
            ancillary: _Ancillary = (
                [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))] if fds else []
            )
            self._queued.append((memoryview(frame), ancillary))
        else:
            self._pending += frame
        self._flush()

    def _write_one(self) -> None:
        """Write some of what is queued; BlockingIOError when the fd is full."""
        if self._queued:
            view, ancillary = self._queued[0]
            assert self._sock is not None or not ancillary
            if ancillary and self._sock is not None:
                written = self._sock.sendmsg([view], ancillary)
                self._queued[0] = (view, [])
            elif self._sock is not None:
                written = self._sock.send(view)
            else:
                written = os.write(self._fd, view)
            if written == len(view):
                self._queued.popleft()
            else:
                self._queued[0] = (view[written:], [])
        else:
            written = os.write(self._fd, self._pending)
            del self._pending[:written]

    def _flush(self) -> None:
        try:
            while self._pending or self._queued:
                self._write_one()
        except BlockingIOError:
            if not self._watching:
                self._watching = True
                self._loop.add_writer(self._fd, self._flush)
            return
        except OSError:  # EPIPE and the like: the reader is gone
            self.broken = True
            self._pending.clear()
            self._queued.clear()
        self._stop_watching()
        self._wake()

    def drained(self) -> asyncio.Future[None]:
        """A future done when everything queued is written (or the writer broke)."""
        future: asyncio.Future[None] = self._loop.create_future()
        if not (self._pending or self._queued) or self.broken:
            future.set_result(None)
        else:
            self._waiters.append(future)
        return future

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for future in waiters:
            if not future.done():
                future.set_result(None)

    def _stop_watching(self) -> None:
        if self._watching:
            self._watching = False
            self._loop.remove_writer(self._fd)

    def close(self) -> None:
        """Stop writing (what is still pending is dropped); the fd stays the owner's."""
        self._stop_watching()
        self._pending.clear()
        self._queued.clear()
        self._wake()
