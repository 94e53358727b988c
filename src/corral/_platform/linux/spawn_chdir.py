"""posix_spawn with a working directory or a closefrom, through libc and ctypes (glibc, musl).

Python's os.posix_spawn does not expose posix_spawn_file_actions_addchdir_np, so
this module builds the same call by hand: file actions (dup2 pairs, then chdir)
and attributes (process group or session, default dispositions, empty mask). The
flag values are those of glibc and musl, which agree (spawn.h). posix_spawn
returns an errno rather than setting it.

A daemon that raised its RLIMIT_NOFILE spawns through here too, with or without a
directory: glibc's posix_spawn_file_actions_adddup2 refuses an fd at or above the
soft limit (EBADF), so os.posix_spawn, which adds its actions inside the one call,
cannot spawn with the limit lowered; here the actions are built first, and only the
posix_spawn call itself runs at the programs' limit (posix/rlimits.py).
"""

from __future__ import annotations

import ctypes
import functools
import os
from collections.abc import Mapping, Sequence

from corral._platform import libc
from corral._platform.posix.rlimits import inherited_nofile_for_spawn
from corral._platform.posix.spawn import SIGNALS_TO_DEFAULT

_SETPGROUP = 0x02
_SETSIGDEF = 0x04
_SETSIGMASK = 0x08
_SETSID = 0x80

# Opaque libc structures, over-allocated and long-aligned (glibc needs 80, 336, 128 bytes).
_FileActions = ctypes.c_long * 64
_Attr = ctypes.c_long * 128
_SigSet = ctypes.c_ulong * 32


def spawn_in(
    path: str,
    argv: Sequence[str],
    env: Mapping[bytes, bytes],
    *,
    cwd: str | None,
    fd_map: Sequence[tuple[int, int]],
    pgroup: int | None,
    new_session: bool,
    close: Sequence[int] = (),
    close_from: int | None = None,
) -> int:
    """posix_spawn `path` (inside `cwd`); raises OSError with the errno posix_spawn gave.

    After the dup2s the child closes each fd in `close`, then, with `close_from`, every
    fd from that number up (`posix_spawn_file_actions_addclosefrom_np`, glibc 2.34+).
    """
    c = libc.handle()
    actions, attr = _FileActions(), _Attr()
    c.posix_spawn_file_actions_init(actions)
    c.posix_spawnattr_init(attr)
    try:
        for src, dst in fd_map:
            _ok(c.posix_spawn_file_actions_adddup2(actions, src, dst))
        for fd in close:
            _ok(c.posix_spawn_file_actions_addclose(actions, fd))
        if close_from is not None:
            _ok(c.posix_spawn_file_actions_addclosefrom_np(actions, close_from))
        if cwd is not None:
            _ok(c.posix_spawn_file_actions_addchdir_np(actions, os.fsencode(cwd)))
        _set_attributes(c, attr, pgroup, new_session)
        pid = ctypes.c_int(0)
        args = _strings([os.fsencode(a) for a in argv])
        environment = _strings([k + b"=" + v for k, v in env.items()])
        with inherited_nofile_for_spawn():
            err = c.posix_spawn(
                ctypes.byref(pid), os.fsencode(path), actions, attr, args, environment
            )
        _ok(err)
        return pid.value
    finally:
        c.posix_spawn_file_actions_destroy(actions)
        c.posix_spawnattr_destroy(attr)


def _set_attributes(c: ctypes.CDLL, attr: object, pgroup: int | None, session: bool) -> None:
    flags = _SETSIGDEF | _SETSIGMASK
    if session:
        flags |= _SETSID
    elif pgroup is not None:
        flags |= _SETPGROUP
        _ok(c.posix_spawnattr_setpgroup(attr, pgroup))
    defaults, mask = _signal_sets()
    _ok(c.posix_spawnattr_setsigdefault(attr, defaults))
    _ok(c.posix_spawnattr_setsigmask(attr, mask))
    _ok(c.posix_spawnattr_setflags(attr, ctypes.c_short(flags)))


@functools.cache
def _signal_sets() -> tuple[ctypes.Array[ctypes.c_ulong], ctypes.Array[ctypes.c_ulong]]:
    """(signals reset to default, empty mask), built once."""
    c = libc.handle()
    defaults, mask = _SigSet(), _SigSet()
    c.sigemptyset(defaults)
    for sig in SIGNALS_TO_DEFAULT:
        c.sigaddset(defaults, int(sig))
    c.sigemptyset(mask)
    return defaults, mask


def _strings(items: list[bytes]) -> ctypes.Array[ctypes.c_char_p]:
    return (ctypes.c_char_p * (len(items) + 1))(*items, None)


def _ok(err: int) -> None:
    if err != 0:
        raise OSError(err, os.strerror(err))
