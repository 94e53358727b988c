"""Lock files: opened safely, locked with open file description locks, the holder's record inside.

Why OFD locks (fcntl(2) F_OFD_SETLK, Linux 3.15): the lock belongs to the open file
description, so two opens in one process contend like two processes do (classic
POSIX record locks would not, and closing any descriptor of the file would drop
them), the kernel releases it when the last descriptor of the holder closes, which
includes the holder dying by SIGKILL, and F_OFD_GETLK tells whether it is held
without taking it (flock(2) cannot: an observer would have to take it for a moment,
and a contender trying right then would fail). The file is never unlinked: removing
a lock file while another process waits on its old inode lets a third lock a new
one, two holders at once.

Why the record: flock tells nobody who holds it. The holder writes its pid, its
start time (seconds since boot, so a reused pid is not mistaken for it) and its host
into the file; a process that finds the lock free and a record whose process is
gone learns the previous holder died holding it (a stale record).
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import struct

from corral._errors import CoordinationError

__all__ = ["is_locked", "open_lock_file", "read_record", "try_lock", "unlock", "write_record"]

_FLOCK = struct.Struct("@hhqqi4x")
"""struct flock on LP64 Linux: l_type, l_whence, l_start, l_len, l_pid (0 for OFD locks)."""

_RECORD_LIMIT = 4096
"""More than any record we write; a larger file is read up to this much."""


def open_lock_file(path: str, mode: int = 0o644) -> int:
    """Open (creating with `mode`) the lock file at `path`; the descriptor is close-on-exec.

    The file is opened relative to a descriptor of its directory with O_NOFOLLOW, so
    a symlink planted where the lock file should be is refused, never followed, and
    it must be a regular file.

    Raises:
        CoordinationError: the directory is missing or read-only, the path is a symlink
            or not a regular file, or it cannot be opened; the message names the path.
    """
    directory, name = os.path.split(os.path.abspath(path))
    try:
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise CoordinationError(f"lock directory {directory}: {exc.strerror}") from None
    try:
        return _open_in(dir_fd, name, path, mode)
    finally:
        os.close(dir_fd)


def _open_in(dir_fd: int, name: str, path: str, mode: int) -> int:
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NOCTTY
    try:
        fd = os.open(name, flags, mode, dir_fd=dir_fd)
    except OSError as exc:
        raise CoordinationError(_open_failure(path, exc)) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise CoordinationError(f"lock file {path}: not a regular file, refused")
    return fd


def _open_failure(path: str, exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return f"lock file {path}: is a symbolic link, refused (never followed)"
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return (
            f"lock file {path}: cannot be created or opened for writing ({exc.strerror}): "
            "put it in a directory this process can write"
        )
    return f"lock file {path}: {exc.strerror}"


def try_lock(fd: int) -> bool:
    """Take the exclusive lock on the whole file without waiting: True if taken, False if held."""
    try:
        fcntl.fcntl(fd, fcntl.F_OFD_SETLK, _FLOCK.pack(fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0))
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            return False
        raise
    return True


def is_locked(fd: int) -> bool:
    """Whether another open file description holds the lock (never takes it)."""
    query = _FLOCK.pack(fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0)
    answer = fcntl.fcntl(fd, fcntl.F_OFD_GETLK, query)
    return bool(_FLOCK.unpack(answer)[0] != fcntl.F_UNLCK)


def unlock(fd: int) -> None:
    """Release the lock held on `fd` (closing the descriptor releases it as well)."""
    fcntl.fcntl(fd, fcntl.F_OFD_SETLK, _FLOCK.pack(fcntl.F_UNLCK, os.SEEK_SET, 0, 0, 0))


def write_record(fd: int, record: bytes) -> None:
    """Replace the file's content with `record` (the holder's), in one write."""
    os.ftruncate(fd, 0)
    os.pwrite(fd, record, 0)


def read_record(fd: int) -> bytes:
    """The file's content: the last holder's record, or b"" if none was written."""
    return os.pread(fd, _RECORD_LIMIT, 0)
