"""renameat2(RENAME_EXCHANGE): two names in one directory swap their files atomically.

Log rotation uses it so a log's name never stops naming a file: the fresh, empty
file is made as NAME.1 and then swapped with NAME, where a plain rename chain
leaves a moment with no NAME for a reader (`tail -F`, `corral logs`, a test) to find.
"""

from __future__ import annotations

import ctypes
import errno
import os

from corral._platform import libc

_RENAME_EXCHANGE = 2

REFUSED = frozenset({errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP})
"""errnos that mean "this kernel or filesystem cannot exchange": fall back, nothing moved."""


def available() -> bool:
    """Whether this C library has renameat2 (glibc 2.28+); the filesystem may still refuse."""
    return libc.symbol("renameat2") is not None


def exchange(first: str, second: str, *, dir_fd: int) -> None:
    """Swap what `first` and `second` (names in the directory `dir_fd`) refer to.

    Raises OSError as the kernel says: an errno in REFUSED when it cannot exchange
    there, ENOENT when either name is missing.
    """
    call = libc.handle().renameat2
    result = call(
        ctypes.c_int(dir_fd),
        os.fsencode(first),
        ctypes.c_int(dir_fd),
        os.fsencode(second),
        ctypes.c_uint(_RENAME_EXCHANGE),
    )
    libc.check(result, f"renameat2({first!r}, {second!r}, RENAME_EXCHANGE)")
