"""`Channel`: the one sync message API of `corral.ipc`, over any fd transport.

A channel owns a read fd and a write fd (the same fd for a socket; one of them only,
for a FIFO end), frames each message with `_ipc.framing` through `_ipc.pipe`, and
encodes it with its codec (msgpack by msgspec unless told otherwise). Every blocking
call takes `timeout` (seconds; the channel's `timeout` when not given, None: wait);
passing it is `ChannelTimeout`. The peer hanging up is `ChannelClosed`; bytes that are
not frames are a `FrameError`, which leaves the channel unusable. Unix sockets
report the peer's credentials (`peer`) and pass fds (`send_fds`, `recv_fds`).
"""

from __future__ import annotations

import os
import socket
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final

from corral._errors import ChannelClosed, ChannelError, FrameTooLarge
from corral._ipc.codecs import Codec, Msgpack
from corral._ipc.framing import HEADER, MAX_FRAME, encode
from corral._ipc.pipe import FrameReader, deadline_of, send_frame, write_all
from corral._ipc.zerocopy import Transfer, transfer


class _Default:
    """The marker for "the channel's own timeout"."""

    def __repr__(self) -> str:
        return "DEFAULT"


DEFAULT: Final = _Default()
"""A call's `timeout` when it is not given: the channel's `timeout` applies."""

_UCRED = struct.Struct("3i")


@dataclass(frozen=True, slots=True)
class Peer:
    """Who is at the other end of a unix socket, from the kernel (SO_PEERCRED)."""

    pid: int
    uid: int
    gid: int


def peer_of(sock: socket.socket) -> Peer:
    """The credentials the kernel recorded for `sock`'s peer when it connected."""
    pid, uid, gid = _UCRED.unpack(
        sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    )
    return Peer(pid, uid, gid)


@dataclass(frozen=True, slots=True)
class Transport:
    """A channel end's fds and how to read them, as `Channel.detach` hands them over."""

    read_fd: int | None
    write_fd: int | None
    sock: socket.socket | None
    record: bool
    fds: list[int] | None
    what: str


class Channel:
    """Framed, encoded messages both ways (or one way, for a FIFO end), blocking.

    Made by `corral.ipc`'s constructors (`pipe`, `socketpair`, `connect_unix`,
    `Listener.accept`, `connect_tcp`, `open_fifo`, `from_fds`), never by hand.
    A context manager; `close` is idempotent and closes every fd it owns.
    """

    def __init__(
        self,
        read_fd: int | None,
        write_fd: int | None,
        *,
        what: str,
        sock: socket.socket | None = None,
        record: bool = False,
        codec: Codec | None = None,
        max_frame: int = MAX_FRAME,
        timeout: float | None = None,
    ) -> None:
        self.what = what
        """The transport and address, for messages: "unix stream /run/a.sock"."""
        self.codec: Codec = codec if codec is not None else Msgpack()
        """How `send`/`recv` turn messages into frames (msgpack by msgspec by default)."""
        self.max_frame = max_frame
        """The largest frame sent or accepted; a bigger announced length is FrameTooLarge."""
        self.timeout = timeout
        """Seconds a blocking call waits when it is given no timeout (None: no limit)."""
        self._read_fd = read_fd
        self._write_fd = write_fd
        self._sock = sock
        self._record = record
        self._unix = sock is not None and sock.family == socket.AF_UNIX
        self._fds: list[int] | None = [] if self._unix else None
        self._reader = (
            None
            if read_fd is None
            else FrameReader(read_fd, max_frame, sock=sock, record=record, fds=self._fds, what=what)
        )
        self._closed = False

    # -- messages ----------------------------------------------------------------------

    def send(self, message: Any, timeout: float | _Default | None = DEFAULT) -> None:
        """Encode `message` with the channel's codec and send it as one frame."""
        self.send_bytes(self.codec.encode(message), timeout)

    def recv(self, timeout: float | _Default | None = DEFAULT) -> Any:
        """The next message, decoded; ChannelClosed when the peer has closed."""
        return self.codec.decode(self.recv_bytes(timeout))

    def send_bytes(
        self, payload: bytes, timeout: float | _Default | None = DEFAULT, fds: Sequence[int] = ()
    ) -> None:
        """Send `payload` as one frame, as it is (no codec)."""
        if self._closed:
            raise ChannelClosed(self.what, "send on a channel we closed")
        if self._write_fd is None:
            raise ChannelError(f"{self.what}: this end only receives")
        seconds = self._seconds(timeout)
        try:
            send_frame(
                self._write_fd,
                payload,
                self.max_frame,
                sock=self._sock,
                deadline=deadline_of(seconds),
                what=self.what,
                timeout=seconds,
                fds=fds,
            )
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise ChannelClosed(self.what, f"the peer is gone ({exc.strerror})") from None

    def send_many(
        self, messages: Sequence[Any], timeout: float | _Default | None = DEFAULT
    ) -> None:
        """Encode and send `messages` as frames in one write where the transport allows
        (a seqpacket channel writes a record each): a batch costs one syscall."""
        self.send_many_bytes([self.codec.encode(message) for message in messages], timeout)

    def send_many_bytes(
        self, payloads: Sequence[bytes], timeout: float | _Default | None = DEFAULT
    ) -> None:
        """Send each payload as one frame, all in one write (no codec)."""
        if self._record:
            seconds = self._seconds(timeout)
            deadline = deadline_of(seconds)
            for payload in payloads:
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                self.send_bytes(payload, left)
            return
        if self._closed:
            raise ChannelClosed(self.what, "send on a channel we closed")
        if self._write_fd is None:
            raise ChannelError(f"{self.what}: this end only receives")
        seconds = self._seconds(timeout)
        frames = b"".join([encode(payload, self.max_frame) for payload in payloads])
        try:
            write_all(
                self._write_fd,
                frames,
                sock=self._sock,
                deadline=deadline_of(seconds),
                what=self.what,
                timeout=seconds,
            )
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise ChannelClosed(self.what, f"the peer is gone ({exc.strerror})") from None

    def recv_bytes(self, timeout: float | _Default | None = DEFAULT) -> bytes:
        """The next frame's bytes, as they came (no codec)."""
        if self._closed:
            raise ChannelClosed(self.what, "recv on a channel we closed")
        if self._reader is None:
            raise ChannelError(f"{self.what}: this end only sends")
        seconds = self._seconds(timeout)
        try:
            frame = self._reader.recv(deadline_of(seconds), seconds)
        except ConnectionResetError:
            raise ChannelClosed(self.what, "the peer reset the connection") from None
        if frame is None:
            raise ChannelClosed(self.what, "the peer closed its end (EOF between frames)")
        return frame

    def _seconds(self, timeout: float | _Default | None) -> float | None:
        return self.timeout if isinstance(timeout, _Default) else timeout

    def send_file(
        self,
        fd: int,
        count: int | None = None,
        *,
        offset: int | None = None,
        timeout: float | _Default | None = DEFAULT,
    ) -> Transfer:
        """Send `count` bytes of the file at `fd` (all of it from its position, unless
        told) as one frame, the body moved in the kernel where it can be (sendfile,
        splice); the returned `Transfer` says how. The receiver gets an ordinary frame.
        """
        if self._closed:
            raise ChannelClosed(self.what, "send on a channel we closed")
        if self._write_fd is None:
            raise ChannelError(f"{self.what}: this end only receives")
        start = os.lseek(fd, 0, os.SEEK_CUR) if offset is None else offset
        size = os.fstat(fd).st_size - start if count is None else count
        if size > self.max_frame:
            raise FrameTooLarge(size, self.max_frame)
        seconds = self._seconds(timeout)
        if self._record:  # a record is one write: sendfile would split it
            self.send_bytes(os.pread(fd, size, start), seconds)
            if offset is None:
                os.lseek(fd, start + size, os.SEEK_SET)
            return Transfer(size, "copy", "seqpacket: a frame is one record, sent by one write")
        deadline = deadline_of(seconds)
        out = self._write_fd
        try:
            write_all(
                out,
                HEADER.pack(size),
                sock=self._sock,
                deadline=deadline,
                what=self.what,
                timeout=seconds,
            )
            blocking = os.get_blocking(out)
            if deadline is not None and blocking:
                os.set_blocking(out, False)  # so the timeout bounds the body too
            try:
                return transfer(
                    fd, out, size, offset=offset, deadline=deadline, timeout=seconds, what=self.what
                )
            finally:
                if deadline is not None and blocking:
                    os.set_blocking(out, True)
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise ChannelClosed(self.what, f"the peer is gone ({exc.strerror})") from None

    # -- unix sockets ------------------------------------------------------------------

    @property
    def peer(self) -> Peer:
        """The peer's pid/uid/gid as the kernel saw it connect (unix sockets only)."""
        if not self._unix or self._sock is None:
            raise ChannelError(f"{self.what}: only a unix socket knows its peer")
        return peer_of(self._sock)

    def send_fds(
        self, fds: Sequence[int], message: Any = None, timeout: float | _Default | None = DEFAULT
    ) -> None:
        """Send `fds` (SCM_RIGHTS, duplicated into the peer) with `message` (unix only)."""
        if not self._unix:
            raise ChannelError(f"{self.what}: fds pass only over a unix socket")
        self.send_bytes(self.codec.encode(message), timeout, fds=fds)

    def recv_fds(self, timeout: float | _Default | None = DEFAULT) -> tuple[Any, list[int]]:
        """The next message and the fds that came with it (ours to close)."""
        if self._fds is None:
            raise ChannelError(f"{self.what}: fds pass only over a unix socket")
        message = self.recv(timeout)
        fds, self._fds[:] = list(self._fds), []
        return message, fds

    # -- handing over and closing ------------------------------------------------------

    def child_fds(self, start: int = 3) -> tuple[tuple[int, int], ...]:
        """(our fd, child fd) pairs that give this end to a child at `start` (and
        `start + 1` for a pipe pair's write fd): `Command(...).map_fds(*end.child_fds())`;
        the child calls `corral.ipc.from_fds(start)` (or `from_fds(start, start + 1)`)."""
        if self._read_fd is not None and self._read_fd == self._write_fd:
            return ((self._read_fd, start),)
        fds = [fd for fd in (self._read_fd, self._write_fd) if fd is not None]
        return tuple((fd, start + index) for index, fd in enumerate(fds))

    def fileno(self) -> int:
        """The fd a reader waits on (the read fd, else the write fd)."""
        fd = self._read_fd if self._read_fd is not None else self._write_fd
        if fd is None or self._closed:
            raise ChannelClosed(self.what, "no fd: the channel is closed")
        return fd

    def detach(self) -> Transport:
        """Hand this end's fds over (to an `AsyncChannel`): the channel is closed, the
        fds are not. A frame already read and not yet returned makes this an error."""
        if self._closed:
            raise ChannelClosed(self.what, "detach from a channel we closed")
        if self._reader is not None and self._reader.buffered:
            raise ChannelError(f"{self.what}: cannot detach with frames read and not returned")
        self._closed = True
        return Transport(
            self._read_fd, self._write_fd, self._sock, self._record, self._fds, self.what
        )

    @property
    def closed(self) -> bool:
        """`close` was called."""
        return self._closed

    def close(self) -> None:
        """Close every fd of this end (and fds received and not taken); idempotent."""
        if self._closed:
            return
        self._closed = True
        for fd in self._fds or ():
            os.close(fd)
        if self._sock is not None:
            self._sock.close()
            return
        for end in {self._read_fd, self._write_fd}:
            if end is not None:
                os.close(end)

    def __enter__(self) -> Channel:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"codec={self.codec.name}"
        return f"<Channel {self.what} {state}>"
