"""Frames over one fd (a pipe, a FIFO, a socket), blocking with optional deadlines.

The one blocking frame I/O of corral: a pool worker's side uses it with no deadline
on blocking pipes; every sync `corral.ipc` channel uses it with a deadline on
non-blocking fds (each wait is a `poll` bounded by what is left of the timeout).
`send_frame` writes a whole frame (retrying short writes); `FrameReader.recv`
returns the next frame, or None at EOF on a frame boundary.

A record socket (SOCK_SEQPACKET) carries one frame per record: `send_frame` writes
it in one call and `read_chunk` peeks the header first, so a record over the limit
is discarded unread (the kernel drops the rest of a record a short read leaves).
A unix socket that may carry fds is read with recvmsg, its fds kept.
The loop side is `loop_reader.AsyncFrameReader`, kept apart so a blocking peer
(a pool worker) does not import asyncio.
"""

from __future__ import annotations

import array
import os
import select
import socket
import time
from collections.abc import Sequence

from corral._errors import ChannelTimeout, FrameTooLarge
from corral._ipc.framing import HEADER, MAX_FRAME, FrameDecoder, encode

READ_SIZE = 64 * 1024
"""Bytes asked of one read: under glibc's mmap threshold (128 KiB), so a read buffer
is not an mmap and munmap per read."""


def deadline_of(timeout: float | None) -> float | None:
    """The monotonic instant a call given `timeout` seconds must end by (None: never)."""
    return None if timeout is None else time.monotonic() + timeout


def wait_for(
    fd: int,
    events: int,
    deadline: float | None,
    *,
    what: str,
    call: str,
    timeout: float | None,
) -> None:
    """Block until `fd` has `events` (POLLIN/POLLOUT) or a hang-up; ChannelTimeout after
    `deadline`. The timeout is only for the message."""
    poller = select.poll()
    poller.register(fd, events)
    while True:
        if deadline is None:
            left_ms = None
        else:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ChannelTimeout(what, call, timeout or 0.0)
            left_ms = max(1, int(left * 1000 + 0.999))
        if poller.poll(left_ms):
            return


def send_frame(
    fd: int,
    payload: bytes,
    max_frame: int = MAX_FRAME,
    *,
    sock: socket.socket | None = None,
    deadline: float | None = None,
    what: str = "channel",
    timeout: float | None = None,
    fds: Sequence[int] = (),
) -> None:
    """Write `payload` as one frame to `fd` (or `sock`, the socket on it), all of it.

    `fds` (a unix `sock`) go with the frame's first bytes (SCM_RIGHTS).

    BrokenPipeError when the reader is gone; FrameTooLarge over `max_frame`. With a
    `deadline` a socket is written with MSG_DONTWAIT (a pipe's write end is made
    non-blocking by its channel), each full buffer waited for with poll, and
    ChannelTimeout raised when it stays full past `deadline`.
    """
    write_all(
        fd,
        encode(payload, max_frame),
        sock=sock,
        deadline=deadline,
        what=what,
        timeout=timeout,
        fds=fds,
    )


def write_all(
    fd: int,
    data: bytes,
    *,
    sock: socket.socket | None = None,
    deadline: float | None = None,
    what: str = "channel",
    timeout: float | None = None,
    fds: Sequence[int] = (),
) -> None:
    """Write all of `data` to `fd` (or `sock`), as `send_frame` writes a frame."""
    view = memoryview(data)
    flags = 0 if deadline is None else socket.MSG_DONTWAIT
    ancillary = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))] if fds else []
    while view:
        try:
            if ancillary and sock is not None:
                written = sock.sendmsg([view], ancillary, flags)
                ancillary = []
            elif sock is None:
                written = os.write(fd, view)
            else:
                written = sock.send(view, flags)
        except BlockingIOError:
            wait_for(fd, select.POLLOUT, deadline, what=what, call="send", timeout=timeout)
            continue
        view = view[written:]


MAX_FDS = 64
"""The most fds one read of a unix socket accepts alongside its bytes (SCM_RIGHTS)."""
_FDS_SPACE = socket.CMSG_SPACE(MAX_FDS * 4)


def read_chunk(
    fd: int,
    decoder: FrameDecoder,
    sock: socket.socket | None = None,
    *,
    record: bool = False,
    fds: list[int] | None = None,
    buffer: bytearray | None = None,
) -> bytes | memoryview:
    """One read's bytes for `decoder` (empty at EOF); BlockingIOError when none are there.

    Read into `buffer` (reused: the decoder copies what it keeps) when it is big
    enough, else into a new bytes of what the frame still wants. `record`
    (SOCK_SEQPACKET on `sock`): one whole record, its header checked against the limit
    before the body is read. `fds` (a unix `sock`): read with recvmsg, and the fds
    that came with the bytes are appended to it (a plain read lets the kernel close them).
    """
    size = max(decoder.wanted(), READ_SIZE)
    if record and sock is not None:
        head = sock.recv(HEADER.size, socket.MSG_PEEK)
        if len(head) < HEADER.size:
            return sock.recv(HEADER.size)  # EOF (b"") or a runt record: the decoder judges
        (length,) = HEADER.unpack(head)
        if length > decoder.max_frame:
            sock.recv(1)  # drop the record unread
            raise FrameTooLarge(length, decoder.max_frame)
        size = HEADER.size + length
    if buffer is None or size > len(buffer):
        buffer = bytearray(size)
    view = memoryview(buffer)[:size]
    if sock is None:
        got = os.readv(fd, [view])
    elif fds is None:
        got = sock.recv_into(view)
    else:
        got, ancillary, _flags, _address = sock.recvmsg_into([view], _FDS_SPACE)
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                whole = len(payload) - len(payload) % 4
                fds.extend(memoryview(payload[:whole]).cast("i"))
    return view[:got]


class FrameReader:
    """Blocking frame reads from one fd (a worker's side of the pool, a sync channel)."""

    __slots__ = ("_buffer", "_decoder", "_fd", "_fds", "_ready", "_record", "_sock", "what")

    def __init__(
        self,
        fd: int,
        max_frame: int = MAX_FRAME,
        *,
        sock: socket.socket | None = None,
        record: bool = False,
        fds: list[int] | None = None,
        what: str = "channel",
    ) -> None:
        self._fd = fd
        self._decoder = FrameDecoder(max_frame)
        self._ready: list[bytes] = []
        self._sock = sock
        self._record = record
        self._fds = fds
        self._buffer = bytearray(READ_SIZE)
        self.what = what

    def recv(self, deadline: float | None = None, timeout: float | None = None) -> bytes | None:
        """The next frame; None at EOF between frames; TruncatedFrame at EOF inside one.

        With a `deadline` each read waits first with poll (so a blocking fd never
        blocks past it): ChannelTimeout when no frame is whole by then.
        """
        while not self._ready:
            if deadline is not None:
                wait_for(
                    self._fd, select.POLLIN, deadline, what=self.what, call="recv", timeout=timeout
                )
            try:
                data = read_chunk(
                    self._fd,
                    self._decoder,
                    self._sock,
                    record=self._record,
                    fds=self._fds,
                    buffer=self._buffer,
                )
            except BlockingIOError:  # a non-blocking fd with nothing yet
                wait_for(
                    self._fd, select.POLLIN, deadline, what=self.what, call="recv", timeout=timeout
                )
                continue
            if not data:
                self._decoder.end()
                return None
            self._ready.extend(self._decoder.feed(data))
        return self._ready.pop(0)

    @property
    def buffered(self) -> int:
        """Frames and bytes read and not yet returned (0: nothing is held here)."""
        return len(self._ready) + self._decoder.pending
