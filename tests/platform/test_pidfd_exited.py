"""`pidfd_exited` answers for any fd number: a daemon with many instances holds pidfds
numbered 1024 and above, which select() refuses (poll does not)."""

from __future__ import annotations

import os
import resource
import subprocess

import pytest

from corral._platform import pidfd_exited
from corral.lowlevel import Feature
from tests.support.waiting import wait_until


@pytest.mark.requires(Feature.PIDFD)
def test_a_pidfd_numbered_above_1024_is_read() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < 2100:
        pytest.skip(f"the hard open-files limit is {hard}: no fd 2048 here")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 2100), hard))
    child = subprocess.Popen(["sleep", "300"])
    high = 2048
    try:
        fd = os.pidfd_open(child.pid)
        os.dup2(fd, high)
        os.close(fd)
        assert not pidfd_exited(high)
        child.kill()
        assert wait_until(lambda: pidfd_exited(high), what="the pidfd to turn readable")
    finally:
        child.kill()
        child.wait()
        os.close(high)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
