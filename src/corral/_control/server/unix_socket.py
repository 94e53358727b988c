"""Unix socket files for the control API: private from birth, stale ones replaced, live ones kept.

A socket file outlives a daemon that crashed; a new daemon may take the path over only
if nothing answers there any more, so two daemons never share one socket path. The
mechanism is the one `[sockets.NAME]` listeners use (`corral._platform`'s listeners).
"""

from __future__ import annotations

import socket

from corral._platform import bind_unix_path, remove_stale_socket, unlink_socket

__all__ = ["bind_private", "remove_if_stale", "unlink_if_same"]


async def remove_if_stale(path: str) -> None:
    """Remove a socket file nobody answers on; refuse a live socket or a non-socket.

    The probe is a non-blocking connect, which a unix socket answers at once (a full
    backlog counts as live), so nothing here waits.
    """
    remove_stale_socket(path)


def bind_private(path: str) -> socket.socket:
    """Bind so the socket is 0600 from its first instant (no chmod window)."""
    return bind_unix_path(path, 0o600)


def unlink_if_same(path: str, inode: int) -> None:
    """Remove our socket file, but not one another server has put in its place since."""
    unlink_socket(path, inode)
