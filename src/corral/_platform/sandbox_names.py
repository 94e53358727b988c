"""The name tables the sandbox spec validates against, gathered from the platform."""

from __future__ import annotations

from functools import cache

from corral._platform.linux.capabilities import NAMES as CAPABILITIES
from corral._platform.posix.identity import group_names, lookup_group, lookup_user, user_names
from corral._platform.posix.rlimits import RLIMITS

__all__ = [
    "CAPABILITIES",
    "RLIMITS",
    "group_names",
    "lookup_group",
    "lookup_user",
    "syscall_names",
    "user_names",
]


@cache
def syscall_names() -> frozenset[str]:
    """Every syscall name this machine's architecture has (from libseccomp), or empty."""
    from corral._platform.linux.seccomp.names import syscall_names as names

    return names()
