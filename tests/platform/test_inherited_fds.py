"""close_on_exec_inherited: what a daemon does at start to the fds its launcher leaked."""

from __future__ import annotations

import os

import pytest

from corral._platform import close_on_exec_inherited

pytestmark = pytest.mark.skipif(
    not os.path.isdir("/proc/self/fd"), reason="lists fds through /proc/self/fd (Linux)"
)


def test_inheritable_fds_become_close_on_exec_except_the_ones_kept() -> None:
    leaked_read, leaked_write = os.pipe()
    kept_read, kept_write = os.pipe()
    try:
        others = _inheritable() - {leaked_read, leaked_write, kept_read, kept_write}
        for fd in (leaked_read, leaked_write, kept_read):
            os.set_inheritable(fd, True)
        # The test runner's own inheritable fds are kept too: only ours may change.
        changed = close_on_exec_inherited(keep=(kept_read, *others))
        assert {leaked_read, leaked_write} <= set(changed)
        assert kept_read not in changed
        assert not os.get_inheritable(leaked_read)
        assert not os.get_inheritable(leaked_write)
        assert os.get_inheritable(kept_read)
        assert not os.get_inheritable(kept_write)  # already close-on-exec: left alone
        assert kept_write not in changed
        assert all(fd > 2 for fd in changed)  # stdin, stdout, stderr are never touched
    finally:
        for fd in (leaked_read, leaked_write, kept_read, kept_write):
            os.close(fd)


def _inheritable() -> set[int]:
    found = set()
    for name in os.listdir("/proc/self/fd"):
        try:
            if os.get_inheritable(int(name)):
                found.add(int(name))
        except OSError:  # the listing's own fd, closed by now
            continue
    return found
