"""Resource limits (setrlimit(2)): names, the RLIMIT_* table, and the child step.

setrlimit fails with EPERM when it would raise a hard limit without
CAP_SYS_RESOURCE, or raise RLIMIT_NOFILE's past /proc/sys/fs/nr_open, and with
EINVAL when soft > hard. Python's `resource.setrlimit` turns exactly these two
into a ValueError with a fixed message and loses the errno; `set_limit` gives it
back, so a failed child step reports "rlimit nofile: ... [EPERM]".
"""

from __future__ import annotations

import errno
import resource

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
