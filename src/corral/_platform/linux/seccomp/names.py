"""The syscall names of this machine's architecture, read back from libseccomp."""

from __future__ import annotations

from functools import cache

from corral._platform.linux.seccomp import libseccomp

_HIGHEST = 1024
"""Syscall numbers tried; x86_64 ends near 460 and aarch64 near 460 (Linux 6.x)."""


@cache
def syscall_names() -> frozenset[str]:
    """Every syscall name of the native architecture; empty when libseccomp is missing."""
    try:
        libseccomp.library()
    except OSError:
        return frozenset()
    found = (libseccomp.resolve_number(number) for number in range(_HIGHEST))
    return frozenset(name for name in found if name is not None)
