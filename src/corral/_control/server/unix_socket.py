"""Unix socket files for the control API: private from birth, stale ones replaced, live ones kept.

A socket file outlives a daemon that crashed; a new daemon may take the path over only
if nothing answers there any more, so two daemons never share one socket path.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import stat
from contextlib import suppress

__all__ = ["bind_private", "remove_if_stale", "unlink_if_same"]

_PROBE_SECONDS = 5.0
"""How long to wait for an existing socket to accept before calling it live."""


async def remove_if_stale(path: str) -> None:
    """Remove a socket file nobody answers on; refuse a live socket or a non-socket."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise OSError(errno.EEXIST, f"{path} exists and is not a socket; refusing to replace it")
    if await _answers(path):
        message = f"a server already answers on {path}; stop it or choose another socket path"
        raise OSError(errno.EADDRINUSE, message)
    with suppress(FileNotFoundError):
        os.unlink(path)


async def _answers(path: str) -> bool:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        async with asyncio.timeout(_PROBE_SECONDS):
            await asyncio.get_running_loop().sock_connect(sock, path)
    except (ConnectionRefusedError, FileNotFoundError):
        return False
    except TimeoutError:
        return True  # a full backlog: someone is listening
    finally:
        sock.close()
    return True


def bind_private(path: str) -> socket.socket:
    """Bind with umask 0177 so the socket is 0600 from its first instant (no chmod window).

    umask is process-wide; it is changed only for the duration of the bind() call.
    """
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        sock.bind(path)
    except BaseException:
        sock.close()
        raise
    finally:
        os.umask(old)
    return sock


def unlink_if_same(path: str, inode: int) -> None:
    """Remove our socket file, but not one another server has put in its place since."""
    with suppress(FileNotFoundError):
        if os.lstat(path).st_ino == inode:
            os.unlink(path)
