"""How long a path a unix socket may have here, found by asking rather than from a table.

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

_PROBE_DIRECTORY = os.devnull + "/"
"""A path below a file that is not a directory: the kernel fails any lookup in it."""
_CEILING = 1 << 16
"""No platform's sun_path is near this long."""


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
