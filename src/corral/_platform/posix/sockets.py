"""Unix socket facts from the kernel: how long a path may be, who is at the other end, and
datagrams that carry their sender's credentials (the sd_notify socket).

The path limit is found by asking rather than from a table.

`struct sockaddr_un` holds the path in `sun_path`, whose size the platform picks
(108 bytes on Linux, 104 on the BSDs and macOS) and which must also hold the
terminating NUL. Python's socket module checks a path against that size before
any system call and refuses one that does not fit with an `OSError` that has no
errno ("AF_UNIX path too long"); a path that fits goes on to the kernel. So the
limit is found by trying lengths: each try connects to a path below /dev/null,
which the kernel refuses at once with ENOTDIR, so nothing is created, bound or
connected.
"""

from __future__ import annotations

import array
import contextlib
import functools
import os
import socket
import stat
import struct
from typing import NamedTuple, Protocol

_PROBE_DIRECTORY = os.devnull + "/"
"""A path below a file that is not a directory: the kernel fails any lookup in it."""
_CEILING = 1 << 16
"""No platform's sun_path is near this long."""
_UCRED = struct.Struct("3i")
"""struct ucred: pid, uid, gid."""


class _HasGetsockopt(Protocol):
    """A socket, or asyncio's TransportSocket wrapper of one."""

    def getsockopt(self, level: int, option: int, buflen: int, /) -> bytes: ...


@functools.cache
def max_unix_socket_path() -> int:
    """The most bytes a unix socket's path may have for bind() and connect() (107 on Linux)."""
    fits, too_long = len(_PROBE_DIRECTORY) + 1, _CEILING
    if not _fits(fits):
        return 0
    while too_long - fits > 1:  # fits is always accepted, too_long always refused
        middle = (fits + too_long) // 2
        if _fits(middle):
            fits = middle
        else:
            too_long = middle
    return fits


def _fits(length: int) -> bool:
    path = _PROBE_DIRECTORY + "x" * (length - len(_PROBE_DIRECTORY))
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.connect(path)
        except OSError as exc:
            return exc.errno is not None  # no errno: refused before reaching the kernel
    return True  # connected: it fit (and something listens below /dev/null, oddly)


def peer_credentials(sock: _HasGetsockopt) -> tuple[int, int, int] | None:
    """(pid, uid, gid) of the process at the other end of a unix socket, from the kernel.

    SO_PEERCRED holds what the peer was when it connected, so a client cannot claim
    another identity; None where the platform has no SO_PEERCRED or the socket is not
    a connected unix socket.
    """
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return None
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, option, _UCRED.size)
    except OSError:
        return None
    pid, uid, gid = _UCRED.unpack(raw)
    return (pid, uid, gid) if pid > 0 else None


class Datagram(NamedTuple):
    """One datagram read from a credentials socket, with what the kernel says of its sender."""

    data: bytes
    """The payload (at most the size asked for; `truncated` says when there was more)."""
    pid: int
    """The sender's pid in our pid namespace; 0 when the kernel cannot name it (it exited
    before the datagram was read, or lives in a namespace we cannot see)."""
    uid: int
    """The sender's uid (-1 without credentials)."""
    truncated: bool
    """The datagram was larger than the size asked for."""
    fds: int
    """How many fds came with it (SCM_RIGHTS); all were closed on arrival."""


def bind_credentials_datagram(path: str, mode: int = 0o600) -> socket.socket:
    """A non-blocking AF_UNIX datagram socket bound at `path` that receives senders' credentials.

    SO_PASSCRED makes the kernel attach each sender's pid, uid and gid to what it
    sends (what systemd's notify socket does), so they cannot be claimed. A stale
    socket file at `path` (a daemon that crashed) is replaced; the file gets `mode`.
    """
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
    try:
        passcred = getattr(socket, "SO_PASSCRED", None)
        if passcred is not None:
            sock.setsockopt(socket.SOL_SOCKET, passcred, 1)
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISSOCK(os.lstat(path).st_mode):
                os.unlink(path)
        sock.bind(path)
        os.chmod(path, mode)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


_CREDS_SPACE = socket.CMSG_SPACE(_UCRED.size)
_FDS_SPACE = socket.CMSG_SPACE(253 * 4)  # SCM_MAX_FD fds
"""Room for the most fds one message can carry: all are received so all can be closed."""


def receive_datagram(sock: socket.socket, size: int) -> Datagram | None:
    """The next datagram (payload up to `size` bytes), or None when none is waiting.

    Any fds that came with it are closed at once: a sender's `BARRIER=1` (sd_notify)
    waits for exactly that, and no fd a program sends may leak into the daemon.
    """
    try:
        data, ancillary, flags, _ = sock.recvmsg(size, _CREDS_SPACE + _FDS_SPACE)
    except (BlockingIOError, InterruptedError):
        return None
    pid, uid, fds = 0, -1, 0
    for level, kind, payload in ancillary:
        if level != socket.SOL_SOCKET:
            continue
        if kind == getattr(socket, "SCM_CREDENTIALS", None) and len(payload) >= _UCRED.size:
            pid, uid, _gid = _UCRED.unpack_from(payload)
        elif kind == socket.SCM_RIGHTS:
            received = array.array("i")
            received.frombytes(payload[: len(payload) - len(payload) % received.itemsize])
            for fd in received:
                with contextlib.suppress(OSError):
                    os.close(fd)
            fds += len(received)
    truncated = bool(flags & socket.MSG_TRUNC)
    return Datagram(data, max(pid, 0), uid, truncated, fds)
