"""Listening sockets: the daemon's API socket, and the ones it binds once and hands to programs.

TCP listeners set SO_REUSEADDR, so a daemon restarted right after its predecessor
can bind the address its connections in TIME_WAIT still name (socket(7)); it does
not let two live listeners share a port (that is SO_REUSEPORT, never set here), so
"address in use" still means someone listens there. A unix socket is bound under a
umask that leaves exactly `mode`, so its file has those permissions from its first
instant (no chmod window); a socket file nobody answers on (a dead daemon's) is
removed first, anything else at the path is refused. A unix socket's connect(2)
never waits for an accept, so that probe does not block.
"""

from __future__ import annotations

import errno
import os
import socket
import stat
from contextlib import suppress


def bind_tcp(host: str, port: int, backlog: int) -> socket.socket:
    """A listening TCP socket on host:port (IPv6 for a host with ':'); OSError if in use."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((host, port))
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return sock


def bind_unix(path: str, backlog: int, mode: int | None) -> socket.socket:
    """A listening unix socket at `path`, its file `mode` (else 0o666 less our umask)."""
    remove_stale_socket(path)
    sock = bind_unix_path(path, mode)
    try:
        sock.listen(backlog)
    except BaseException:
        sock.close()
        unlink_socket(path, None)
        raise
    return sock


def bind_unix_path(path: str, mode: int | None) -> socket.socket:
    """A unix socket bound (not yet listening) at `path`, its file `mode` from birth.

    The umask is process-wide; it is changed only for the duration of bind().
    """
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o777 & ~mode) if mode is not None else None
    try:
        sock.bind(path)
    except BaseException:
        sock.close()
        raise
    finally:
        if old is not None:
            os.umask(old)
    return sock


def remove_stale_socket(path: str) -> None:
    """Remove a socket file nobody answers on; OSError for a live socket or a non-socket.

    A file outlives a server that crashed; a new one may take the path over only if
    nothing answers there any more, so two servers never share one socket path.
    """
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise OSError(errno.EEXIST, f"{path} exists and is not a socket; refusing to replace it")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.setblocking(False)
        try:
            probe.connect(path)
        except (ConnectionRefusedError, FileNotFoundError):
            with suppress(FileNotFoundError):
                os.unlink(path)
            return
        except BlockingIOError:
            pass  # a full backlog: someone listens
    message = f"a server already answers on {path}; stop it or choose another socket path"
    raise OSError(errno.EADDRINUSE, message)


def socket_inode(path: str) -> int | None:
    """The inode of the socket file at `path`, to remove only our own later."""
    try:
        return os.lstat(path).st_ino
    except OSError:
        return None


def unlink_socket(path: str, inode: int | None) -> None:
    """Remove a unix socket's file, unless another has been put at the path since."""
    with suppress(OSError):
        if inode is None or os.lstat(path).st_ino == inode:
            os.unlink(path)


def set_backlog(sock: socket.socket, backlog: int) -> None:
    """A new backlog for a socket already listening (listen(2) again changes only that)."""
    sock.listen(backlog)


def set_mode(path: str, mode: int) -> None:
    """New permissions for a unix socket's file (a reload that changed `mode`)."""
    os.chmod(path, mode, follow_symlinks=False)
