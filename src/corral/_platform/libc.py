"""The one ctypes handle on the C library, loaded on first use.

Only modules under `_platform` call into libc, and only through `handle()` and
`symbol()`, so the loading (and its failure on an odd platform) happens here once.
"""

from __future__ import annotations

import ctypes
import os
from functools import cache
from typing import Any


@cache
def handle() -> ctypes.CDLL:
    """The C library of this process, with errno captured after each call.

    dlopen(NULL): the symbols the interpreter already has loaded, its C library's
    among them. `ctypes.util.find_library("c")` would run `ldconfig -p` (or a
    compiler) and wait for it, which the daemon cannot afford on its event loop;
    the name is asked for only where the process itself does not provide libc
    (a statically linked interpreter).
    """
    own = ctypes.CDLL(None, use_errno=True)
    if hasattr(own, "getpid"):  # a libc function: they are all reachable from here
        return own
    from ctypes.util import find_library  # only here: it imports shutil, tempfile, bz2, lzma

    return ctypes.CDLL(find_library("c"), use_errno=True)


def symbol(name: str) -> Any:
    """The libc function `name`, or None when this libc lacks it."""
    try:
        return getattr(handle(), name)
    except (AttributeError, OSError):
        return None


def check(result: int, what: str) -> int:
    """Turn a -1 return from a libc call into an OSError carrying errno."""
    if result == -1:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result
