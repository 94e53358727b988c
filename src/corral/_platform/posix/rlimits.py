"""Resource limits (setrlimit(2)): names, the RLIMIT_* table, and the child step.

setrlimit fails with EPERM when it would raise a hard limit without
CAP_SYS_RESOURCE, or raise RLIMIT_NOFILE's past /proc/sys/fs/nr_open, and with
EINVAL when soft > hard. Python's `resource.setrlimit` turns exactly these two
into a ValueError with a fixed message and loses the errno; `set_limit` gives it
back, so a failed child step reports "rlimit nofile: ... [EPERM]".

RLIMIT_NOFILE is also the daemon's own budget: every program costs it a pidfd, two
pipes and two log files, so a daemon started under the common soft limit of 1024
runs out near 200 programs. `raise_nofile_to_hard` lifts the soft limit to the hard
one (no privilege needed) and remembers the soft limit it was started with, which
its programs get back: a select()-based program breaks on an fd above 1024
(select(2), FD_SETSIZE), and systemd keeps services at 1024 for that reason.
posix_spawn cannot set a limit in the child, and the limits live in the process,
not the thread, so `inherited_nofile_for_spawn` lowers ours for the duration of the
posix_spawn call (the clone copies them; setrlimit never closes an open fd); the
fork path sets it in the child instead (`children_nofile`, a sandbox step).
"""

from __future__ import annotations

import errno
import resource
from collections.abc import Iterator
from contextlib import contextmanager

INFINITY = resource.RLIM_INFINITY

RLIMITS: dict[str, int] = {
    name.removeprefix("RLIMIT_").lower(): getattr(resource, name)
    for name in dir(resource)
    if name.startswith("RLIMIT_")
}
"""Lower-case name ("nofile", "nproc", "as", ...) -> RLIMIT_* number on this platform."""


def current(name: str) -> tuple[int, int]:
    """(soft, hard) of our own limit `name`."""
    return resource.getrlimit(RLIMITS[name])


_ERRNO_OF_MESSAGE = {
    "not allowed to raise maximum limit": errno.EPERM,
    "current limit exceeds maximum limit": errno.EINVAL,
}
"""CPython's messages for setrlimit's EPERM and EINVAL (Modules/resource.c)."""

_WHY = {
    errno.EPERM: "raising a hard limit needs CAP_SYS_RESOURCE, and nofile stays within fs.nr_open",
    errno.EINVAL: "the soft limit is above the hard limit",
}


def set_limit(name: str, soft: int, hard: int) -> None:
    """setrlimit in the calling process (the child, before exec); OSError with errno on failure."""
    try:
        resource.setrlimit(RLIMITS[name], (soft, hard))
    except ValueError as exc:
        code = _ERRNO_OF_MESSAGE.get(str(exc))
        if code is None:
            raise
        raise OSError(code, f"{_shown(soft)} soft, {_shown(hard)} hard: {_WHY[code]}") from None


def _shown(limit: int) -> str:
    return "unlimited" if limit == INFINITY else str(limit)


_children: dict[str, tuple[int, int]] = {}
"""Limits our programs start with where they differ from ours: {"nofile": (soft, hard)}."""


def raise_nofile_to_hard() -> tuple[int, int]:
    """Lift our soft RLIMIT_NOFILE to the hard limit; returns (soft before, soft now).

    Programs spawned afterwards still start at the soft limit we had before
    (`children_nofile`). Calling it again changes nothing more.
    """
    soft, hard = current("nofile")
    if soft != hard:
        set_limit("nofile", hard, hard)
        _children.setdefault("nofile", (soft, hard))
    return _children.get("nofile", (soft, hard))[0], hard


def children_nofile() -> tuple[int, int] | None:
    """(soft, hard) a program must be given, or None when ours is what we were started with."""
    return _children.get("nofile")


@contextmanager
def inherited_nofile_for_spawn() -> Iterator[None]:
    """Around a posix_spawn call: our soft RLIMIT_NOFILE is the one we were started with.

    Only the calling thread should open fds meanwhile: another thread's open() fails
    with EMFILE in this window if every fd below the lowered limit is taken.
    """
    limits = _children.get("nofile")
    if limits is None:
        yield
        return
    raised = current("nofile")
    resource.setrlimit(resource.RLIMIT_NOFILE, (limits[0], raised[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, raised)
