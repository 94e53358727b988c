"""prctl(2) switches: the child subreaper flag."""

from __future__ import annotations

from corral._platform import libc

_PR_SET_CHILD_SUBREAPER = 36
_PR_GET_CHILD_SUBREAPER = 37


def set_child_subreaper(enabled: bool = True) -> None:
    """Make orphaned descendants re-parent to this process instead of init."""
    libc.check(libc.handle().prctl(_PR_SET_CHILD_SUBREAPER, int(enabled), 0, 0, 0), "prctl")


def is_child_subreaper() -> bool:
    """Whether this process is currently a child subreaper."""
    import ctypes

    value = ctypes.c_int(0)
    libc.check(libc.handle().prctl(_PR_GET_CHILD_SUBREAPER, ctypes.byref(value), 0, 0, 0), "prctl")
    return bool(value.value)


_PR_SET_NO_NEW_PRIVS = 38


def set_no_new_privs() -> None:
    """PR_SET_NO_NEW_PRIVS: exec can never grant privileges (setuid bits, file caps)."""
    libc.check(libc.handle().prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "PR_SET_NO_NEW_PRIVS")
