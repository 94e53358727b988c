"""Resource limits (setrlimit(2)): names, the RLIMIT_* table, and the child step."""

from __future__ import annotations

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


def set_limit(name: str, soft: int, hard: int) -> None:
    """setrlimit in the calling process (the child, before exec)."""
    resource.setrlimit(RLIMITS[name], (soft, hard))
