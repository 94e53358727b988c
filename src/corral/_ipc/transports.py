"""Making channels: pipes, FIFOs, unix sockets (stream, seqpacket), TCP; and listeners.

Each constructor returns a `Channel` that owns its fds. Connecting and accepting take
a timeout like every other blocking call. A unix `Listener` checks each peer's
credentials (SO_PEERCRED) against `allow` before anything is read from it.
"""

from __future__ import annotations

import errno
import os
import select
import socket
import stat
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Literal

from corral._errors import ChannelClosed, ChannelError, ChannelTimeout, InvalidSpec, PeerRefused
from corral._ipc.async_channel import AsyncChannel
from corral._ipc.channel import Channel, Peer, peer_of
from corral._ipc.codecs import Codec
from corral._ipc.framing import MAX_FRAME
from corral._ipc.pipe import deadline_of, wait_for

UnixKind = Literal["stream", "seqpacket"]
_SOCK_TYPES = {"stream": socket.SOCK_STREAM, "seqpacket": socket.SOCK_SEQPACKET}
_FIFO_POLL = 0.002
"""Seconds between tries to open a FIFO for writing while no reader has it open."""


def _socket_channel(
    sock: socket.socket, what: str, codec: Codec | None, max_frame: int, timeout: float | None
) -> Channel:
    sock.setblocking(True)
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    record = sock.type == socket.SOCK_SEQPACKET
    fd = sock.fileno()
    return Channel(
        fd,
        fd,
        what=what,
        sock=sock,
        record=record,
        codec=codec,
        max_frame=max_frame,
        timeout=timeout,
    )


def pipe(
    codec: Codec | None = None, max_frame: int = MAX_FRAME, timeout: float | None = None
) -> tuple[Channel, Channel]:
    """Two ends joined by two anonymous pipes, one each way: (ours, theirs).

    Give `theirs` to a child with `Command(...).map_fds(*theirs.child_fds())`, then
    close it here; the child opens it with `from_fds(3, 4)`.
    """
    a_read, b_write = os.pipe()
    b_read, a_write = os.pipe()
    for fd in (a_write, b_write):
        os.set_blocking(fd, False)  # a send's timeout bounds a full pipe
    ours = Channel(a_read, a_write, what="pipe", codec=codec, max_frame=max_frame, timeout=timeout)
    theirs = Channel(
        b_read, b_write, what="pipe", codec=codec, max_frame=max_frame, timeout=timeout
    )
    return ours, theirs


def socketpair(
    kind: UnixKind = "stream",
    codec: Codec | None = None,
    max_frame: int = MAX_FRAME,
    timeout: float | None = None,
) -> tuple[Channel, Channel]:
    """Two ends of a unix socketpair (peer credentials, fd passing): (ours, theirs).

    Give `theirs` to a child with `Command(...).map_fds(*theirs.child_fds())`; the
    child opens it with `from_fds(3)`.
    """
    a, b = socket.socketpair(socket.AF_UNIX, _SOCK_TYPES[kind])
    what = f"unix {kind} socketpair"
    return (
        _socket_channel(a, what, codec, max_frame, timeout),
        _socket_channel(b, what, codec, max_frame, timeout),
    )


def from_fds(
    read_fd: int,
    write_fd: int | None = None,
    codec: Codec | None = None,
    max_frame: int = MAX_FRAME,
    timeout: float | None = None,
) -> Channel:
    """The channel end a parent handed us: a socket at `read_fd`, or a pipe pair at
    (`read_fd`, `write_fd`). The channel owns the fds from now on."""
    if write_fd is None:
        if not stat.S_ISSOCK(os.fstat(read_fd).st_mode):
            raise InvalidSpec(f"fd {read_fd} is not a socket: give the pipe pair's write fd too")
        sock = socket.socket(fileno=read_fd)
        return _socket_channel(sock, f"inherited {_describe(sock)}", codec, max_frame, timeout)
    os.set_blocking(write_fd, False)
    return Channel(
        read_fd, write_fd, what="inherited pipe", codec=codec, max_frame=max_frame, timeout=timeout
    )


def _describe(sock: socket.socket) -> str:
    if sock.family == socket.AF_UNIX:
        return "unix seqpacket" if sock.type == socket.SOCK_SEQPACKET else "unix stream"
    return "tcp"


# -- FIFOs -------------------------------------------------------------------------


def make_fifo(path: str | os.PathLike[str], mode: int = 0o600) -> Path:
    """Create a named FIFO at `path` (mode 0600 unless told); an existing one is fine."""
    target = Path(path)
    try:
        os.mkfifo(target, mode)
    except FileExistsError:
        if not stat.S_ISFIFO(os.stat(target, follow_symlinks=False).st_mode):
            raise InvalidSpec(f"{target} exists and is not a FIFO") from None
    return target


def open_fifo(
    path: str | os.PathLike[str],
    direction: Literal["send", "recv"],
    codec: Codec | None = None,
    max_frame: int = MAX_FRAME,
    timeout: float | None = None,
) -> Channel:
    """One end of a named FIFO: a FIFO carries one way, so each end sends or receives.

    The "recv" end opens at once; the "send" end waits (up to `timeout`) for a reader
    to open the FIFO, since writing to a FIFO nobody reads is an error (ENXIO).
    """
    what = f"fifo {os.fspath(path)}"
    flags = os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOFOLLOW
    if direction == "recv":
        fd = os.open(path, os.O_RDONLY | flags)
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):
            os.close(fd)
            raise InvalidSpec(f"{what}: not a FIFO")
        os.set_blocking(fd, True)  # reads wait with poll when they have a timeout
        return Channel(fd, None, what=what, codec=codec, max_frame=max_frame, timeout=timeout)
    deadline = deadline_of(timeout)
    while True:
        try:
            fd = os.open(path, os.O_WRONLY | flags)
        except OSError as exc:
            if exc.errno != errno.ENXIO:
                raise
            if deadline is not None and time.monotonic() >= deadline:
                raise ChannelTimeout(what, "open (no reader)", timeout or 0.0) from None
            time.sleep(_FIFO_POLL)  # Linux has no event for "a reader opened this FIFO"
            continue
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):
            os.close(fd)
            raise InvalidSpec(f"{what}: not a FIFO")
        return Channel(None, fd, what=what, codec=codec, max_frame=max_frame, timeout=timeout)


# -- unix sockets ------------------------------------------------------------------


def connect_unix(
    path: str | os.PathLike[str],
    kind: UnixKind = "stream",
    codec: Codec | None = None,
    max_frame: int = MAX_FRAME,
    timeout: float | None = None,
) -> Channel:
    """A channel to the unix socket listening at `path`."""
    what = f"unix {kind} {os.fspath(path)}"
    sock = socket.socket(socket.AF_UNIX, _SOCK_TYPES[kind])
    _connect(sock, os.fspath(path), what, timeout)
    return _socket_channel(sock, what, codec, max_frame, timeout)


def connect_tcp(
    host: str,
    port: int,
    codec: Codec | None = None,
    max_frame: int = MAX_FRAME,
    timeout: float | None = None,
) -> Channel:
    """A channel to a TCP listener (TCP_NODELAY: a message goes out when it is sent)."""
    what = f"tcp {host}:{port}"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    _connect(sock, (host, port), what, timeout)
    return _socket_channel(sock, what, codec, max_frame, timeout)


async def connect_unix_async(
    path: str | os.PathLike[str],
    kind: UnixKind = "stream",
    codec: Codec | None = None,
    max_frame: int = MAX_FRAME,
    timeout: float | None = None,
) -> AsyncChannel:
    """`connect_unix` on the running loop."""
    what = f"unix {kind} {os.fspath(path)}"
    sock = socket.socket(socket.AF_UNIX, _SOCK_TYPES[kind])
    await _connect_async(sock, os.fspath(path), what, timeout)
    return AsyncChannel(_socket_channel(sock, what, codec, max_frame, timeout))


async def connect_tcp_async(
    host: str,
    port: int,
    codec: Codec | None = None,
    max_frame: int = MAX_FRAME,
    timeout: float | None = None,
) -> AsyncChannel:
    """`connect_tcp` on the running loop."""
    what = f"tcp {host}:{port}"
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    await _connect_async(sock, (host, port), what, timeout)
    return AsyncChannel(_socket_channel(sock, what, codec, max_frame, timeout))


async def _connect_async(
    sock: socket.socket, address: str | tuple[str, int], what: str, timeout: float | None
) -> None:
    import asyncio

    sock.setblocking(False)
    try:
        async with asyncio.timeout(timeout):
            await asyncio.get_running_loop().sock_connect(sock, address)
    except TimeoutError:
        sock.close()
        raise ChannelTimeout(what, "connect", timeout or 0.0) from None
    except OSError as exc:
        sock.close()
        raise ChannelClosed(what, f"cannot connect: {exc.strerror}") from None
    except BaseException:
        sock.close()
        raise


def _connect(
    sock: socket.socket, address: str | tuple[str, int], what: str, timeout: float | None
) -> None:
    sock.setblocking(False)
    try:
        code = sock.connect_ex(address)
        if code in (errno.EINPROGRESS, errno.EAGAIN):
            wait_for(
                sock.fileno(),
                select.POLLOUT,
                deadline_of(timeout),
                what=what,
                call="connect",
                timeout=timeout,
            )
            code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:
            raise ChannelClosed(what, f"cannot connect: {os.strerror(code)}")
    except BaseException:
        sock.close()
        raise


class Listener:
    """A listening socket whose `accept` gives channels (unix: credentials checked).

    `allow(peer)` (unix only) decides who may connect: a refused peer's connection is
    closed unread and `accept` raises PeerRefused naming its pid/uid/gid.
    """

    def __init__(
        self,
        sock: socket.socket,
        what: str,
        *,
        allow: Callable[[Peer], bool] | None = None,
        codec: Codec | None = None,
        max_frame: int = MAX_FRAME,
        timeout: float | None = None,
        path: Path | None = None,
    ) -> None:
        self.what = what
        self.allow = allow
        self.codec = codec
        self.max_frame = max_frame
        self.timeout = timeout
        self.path = path
        """The unix socket's path (removed by `close`), or None."""
        self._sock = sock
        sock.setblocking(False)

    @property
    def address(self) -> str | tuple[str, int]:
        """Where it listens: a path, or (host, port) with the port the kernel chose."""
        name = self._sock.getsockname()
        return name if isinstance(name, str) else (name[0], name[1])

    @property
    def port(self) -> int:
        """The TCP port it listens on (0 for a unix socket)."""
        name = self._sock.getsockname()
        return 0 if isinstance(name, str) else int(name[1])

    def accept(self, timeout: float | None = None) -> Channel:
        """The next connection as a channel; ChannelTimeout after `timeout`; PeerRefused
        for a unix peer `allow` rejects."""
        seconds = self.timeout if timeout is None else timeout
        deadline = deadline_of(seconds)
        while True:
            try:
                sock, _address = self._sock.accept()
            except BlockingIOError:
                wait_for(
                    self._sock.fileno(),
                    select.POLLIN,
                    deadline,
                    what=self.what,
                    call="accept",
                    timeout=seconds,
                )
                continue
            except OSError as exc:
                raise ChannelError(f"{self.what}: accept failed: {exc.strerror}") from None
            self._check(sock)
            return _socket_channel(sock, self.what, self.codec, self.max_frame, self.timeout)

    async def accept_async(self, timeout: float | None = None) -> AsyncChannel:
        """`accept` on the running loop: the next connection as an AsyncChannel."""
        import asyncio

        seconds = self.timeout if timeout is None else timeout
        try:
            async with asyncio.timeout(seconds):
                sock, _address = await asyncio.get_running_loop().sock_accept(self._sock)
        except TimeoutError:
            raise ChannelTimeout(self.what, "accept", seconds or 0.0) from None
        self._check(sock)
        return AsyncChannel(
            _socket_channel(sock, self.what, self.codec, self.max_frame, self.timeout)
        )

    def _check(self, sock: socket.socket) -> None:
        """PeerRefused (the connection closed unread) for a unix peer `allow` rejects."""
        if self.allow is not None and sock.family == socket.AF_UNIX:
            peer = peer_of(sock)
            if not self.allow(peer):
                sock.close()
                raise PeerRefused(self.what, peer.pid, peer.uid, peer.gid)

    def fileno(self) -> int:
        """The listening socket's fd."""
        return self._sock.fileno()

    def close(self) -> None:
        """Stop listening (and remove the unix socket's path); idempotent."""
        if self._sock.fileno() == -1:
            return
        self._sock.close()
        if self.path is not None:
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> Listener:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def listen_unix(
    path: str | os.PathLike[str],
    kind: UnixKind = "stream",
    *,
    allow: Callable[[Peer], bool] | None = None,
    mode: int = 0o600,
    codec: Codec | None = None,
    max_frame: int = MAX_FRAME,
    timeout: float | None = None,
    backlog: int = 128,
) -> Listener:
    """Listen on a unix socket at `path` (mode 0600 unless told; a stale socket file
    is replaced). `allow` restricts peers by their credentials."""
    target = Path(path)
    if target.is_socket():
        target.unlink()
    sock = socket.socket(socket.AF_UNIX, _SOCK_TYPES[kind])
    try:
        sock.bind(os.fspath(target))
        os.chmod(target, mode)
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return Listener(
        sock,
        f"unix {kind} {target}",
        allow=allow,
        codec=codec,
        max_frame=max_frame,
        timeout=timeout,
        path=target,
    )


def listen_tcp(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    codec: Codec | None = None,
    max_frame: int = MAX_FRAME,
    timeout: float | None = None,
    backlog: int = 128,
) -> Listener:
    """Listen on TCP `host:port` (port 0: the kernel picks one; see `address`)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return Listener(
        sock,
        f"tcp {host}:{sock.getsockname()[1]}",
        codec=codec,
        max_frame=max_frame,
        timeout=timeout,
    )
