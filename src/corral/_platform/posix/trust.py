"""Directory trust: may a root daemon write into this directory without being redirected?

A directory is safe when no other user can change what its path leads to: it and
every parent up to / are owned by root or by the daemon's own user, and none can
be written by its group or by others, with one exception: a shared directory with
the sticky bit (/tmp) may be a *parent*, since nobody but its owner can rename or
remove an entry in it. The directory itself may not be such a shared one (a
socket straight in /tmp is refused): the daemon's own directory must be writable
by it alone. A directory someone else created first is theirs, and so refused.

The path is resolved (symlinks followed) first and the real chain is checked, so
a link from a safe place to an unsafe one does not pass.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import stat

from corral._errors import UnsafeDirectory

__all__ = ["ensure_directory", "unsafe_reason"]

_WRITABLE_BY_OTHERS = stat.S_IWGRP | stat.S_IWOTH


def ensure_directory(path: str, mode: int, *, what: str, group: int = -1) -> None:
    """Create `path` (and missing parents) with `mode`, then refuse it unless it is safe.

    Args:
        mode: for every directory created here (umask not applied); existing ones
            keep theirs.
        what: what the directory is for ("log directory"), for the message.
        group: gid for the directories created here; -1 keeps the daemon's.

    Raises:
        UnsafeDirectory: it or a parent can be written or replaced by another user.
        OSError: it cannot be created (the message names the path).
    """
    missing = _missing(os.path.abspath(path))
    if missing:  # first the parent we create in: nothing is made where others can swap it
        existing = os.path.dirname(missing[0])
        _refuse_if_unsafe(path, unsafe_reason(existing, as_parent=True), what)
    for directory in missing:
        with contextlib.suppress(FileExistsError):  # someone made it meanwhile: checked below
            os.mkdir(directory, mode)
            _set_mode(directory, mode, group)
    _refuse_if_unsafe(path, unsafe_reason(path), what)


def unsafe_reason(path: str, *, as_parent: bool = False) -> str | None:
    """Why another user could replace what `path` leads to, or None if nobody can.

    With `as_parent`, `path` itself may be a shared sticky directory (like /tmp).
    """
    real = os.path.realpath(path)
    for directory in _chain(real):
        status = os.stat(directory)
        if not stat.S_ISDIR(status.st_mode):
            return f"{directory} is not a directory"
        if status.st_uid not in (0, os.geteuid()):
            return f"{_describe(directory, status)}: another user owns it"
        if status.st_mode & _WRITABLE_BY_OTHERS:
            if directory == real and not as_parent:
                return (
                    f"{_describe(directory, status)}: others can write it; give the daemon "
                    "a directory of its own (for example a 0700 subdirectory of it)"
                )
            if not status.st_mode & stat.S_ISVTX:
                return (
                    f"{_describe(directory, status)}: others can write it without the sticky "
                    "bit, so they can rename what is in it"
                )
    return None


def _chain(real: str) -> list[str]:
    """`/`, then each directory down to `real` itself."""
    parts = [part for part in real.split(os.sep) if part]
    return [os.sep + os.sep.join(parts[:count]) for count in range(len(parts) + 1)]


def _missing(path: str) -> list[str]:
    """The directories of `path` that do not exist yet, top first."""
    missing: list[str] = []
    current = path
    while not os.path.lexists(current):
        missing.append(current)
        current = os.path.dirname(current)
    return missing[::-1]


def _set_mode(directory: str, mode: int, group: int) -> None:
    """Exactly `mode` (no umask) and `group`, on the directory just made, not a link to another."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        os.fchown(fd, -1, group)
        os.fchmod(fd, mode)
    finally:
        os.close(fd)


def _refuse_if_unsafe(path: str, reason: str | None, what: str) -> None:
    if reason is not None:
        raise UnsafeDirectory(f"refusing the {what} {path}: {reason}")


def _describe(directory: str, status: os.stat_result) -> str:
    """ "/srv/logs (owner nobody, uid 65534, mode 0755)" """
    try:
        owner = pwd.getpwuid(status.st_uid).pw_name
    except KeyError:
        owner = "?"
    mode = stat.S_IMODE(status.st_mode)
    return f"{directory} (owner {owner}, uid {status.st_uid}, mode {mode:04o})"
