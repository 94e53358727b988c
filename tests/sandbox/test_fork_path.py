"""The fork path loads what child steps need in the parent, before it forks."""

from __future__ import annotations

import corral
from corral._platform import libc
from corral.sandbox import Identity, Sandbox


def test_libc_is_loaded_in_the_parent_not_in_each_child() -> None:
    # Loading libc means ctypes.util.find_library, which runs /sbin/ldconfig: done in
    # a child after fork, it would cost a process per spawn and break the no-locks rule.
    libc.handle.cache_clear()
    result = corral.run(["true"], sandbox=Sandbox(identity=Identity(no_new_privs=True)))
    assert result.exit_code == 0
    assert libc.handle.cache_info().currsize == 1
