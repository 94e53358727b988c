"""Unix socket facts from the kernel: how long a path may be, and who is at the other end.

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

import functools
import os
import socket
import struct
from typing import Protocol

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
