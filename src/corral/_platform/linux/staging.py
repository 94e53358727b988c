"""Moving pipe bytes without a window: splice(2), tee(2) and FIONREAD, for exact logs.

A daemon that reads a program's pipe and then writes the file loses what it read if it
is killed in between. `move` splices bytes from the program's pipe into a staging pipe
(one syscall: each byte is in one pipe or the other), `peek` duplicates the staging
pipe's bytes into another pipe without consuming them (tee(2); Python has no os.tee),
and `queued` says how many bytes a pipe holds (FIONREAD). See decision 0020.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import struct
import termios

SPLICE_F_MOVE = 1
SPLICE_F_NONBLOCK = 2

_LIBC: list[ctypes.CDLL] = []
"""libc, loaded at the first tee."""


def _tee() -> ctypes._NamedFuncPointer:
    if not _LIBC:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.tee.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_size_t, ctypes.c_uint]
        libc.tee.restype = ctypes.c_ssize_t
        _LIBC.append(libc)
    return _LIBC[0].tee


def move(source: int, staging: int, count: int) -> int:
    """Splice up to `count` bytes from pipe `source` into pipe `staging`; 0 at EOF.

    BlockingIOError when `source` is empty (or `staging` full).
    """
    return os.splice(source, staging, count, flags=SPLICE_F_MOVE | SPLICE_F_NONBLOCK)


def peek(staging: int, scratch_write: int, count: int) -> int:
    """Duplicate up to `count` bytes of pipe `staging` into pipe `scratch_write` (tee(2)),
    leaving them in `staging`; the number duplicated."""
    done = _tee()(staging, scratch_write, count, SPLICE_F_NONBLOCK)
    if done < 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))
    return int(done)


def queued(fd: int) -> int:
    """Bytes waiting in a pipe (FIONREAD)."""
    raw = fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0")
    return int(struct.unpack("i", raw)[0])
