"""The namespace primitives under the sandbox: the clone forker, mountinfo, rtnetlink errors."""

from __future__ import annotations

import errno
import os
import select
import socket
import sys

import pytest

from corral._platform import ChildStepFailed, fork_exec
from corral._platform.linux.namespaces import mounts, network, unshare
from corral.lowlevel import Feature

_CLONE_FS = 0x00000200


def run_cloned(flags: int, code: str) -> tuple[int, bytes]:
    """fork_exec `python -c code` with the clone forker; its pid (reaped) and its stdout."""
    read, write = os.pipe()
    try:
        pid = fork_exec(
            sys.executable, [sys.executable, "-c", code], dict(os.environb), cwd=None,
            fd_map=[(write, 1)], pass_fds=(), pgroup=0, new_session=False, steps=(),
            forker=unshare.clone_forker(flags),
        )  # fmt: skip
        os.close(write)
        write = -1
        watch = os.pidfd_open(pid)  # our direct child: pidfds and waitpid work
        try:
            assert select.select([watch], [], [], 60)[0] == [watch]
        finally:
            os.close(watch)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        chunks = []
        while chunk := os.read(read, 4096):
            chunks.append(chunk)
        return pid, b"".join(chunks)
    finally:
        os.close(read)
        if write >= 0:
            os.close(write)


@pytest.mark.requires(Feature.NS_PID)
@pytest.mark.requires(Feature.PIDFD)
def test_a_cloned_child_is_pid_1_of_its_namespace_and_our_direct_child() -> None:
    pid, out = run_cloned(unshare.CLONE_NEWPID, "import os; print(os.getpid(), os.getppid())")
    assert out == b"1 0\n"
    assert pid != 1


@pytest.mark.requires(Feature.NS_PID)
def test_a_refused_clone_names_the_step_and_leaks_nothing() -> None:
    forker = unshare.clone_forker(unshare.CLONE_NEWNS | _CLONE_FS)  # the kernel's EINVAL
    with pytest.raises(ChildStepFailed) as caught:
        fork_exec(
            "/bin/true", ["true"], {}, cwd=None, fd_map=[], pass_fds=(), pgroup=0,
            new_session=False, steps=(), forker=forker, after_fork=[lambda pid: None],
        )  # fmt: skip
    assert caught.value.step == "clone"
    assert caught.value.errno == errno.EINVAL
    assert "mount" in str(caught.value)


def test_mount_points_are_read_with_their_escapes() -> None:
    assert mounts._unescape(rb"/mnt/a\040b\134c") == "/mnt/a b\\c"
    assert mounts._unescape(b"/plain") == "/plain"


def test_mount_points_under_a_path_include_the_path_itself() -> None:
    assert mounts.mounts_under("/")[0] == "/"


def test_a_refused_rtnetlink_request_names_what_and_why() -> None:
    with pytest.raises(OSError, match="create veth crvtest") as caught:
        network.create_veth("crvtest", "crvtest-in", 0x7FFFFFFF)  # no such pid
    assert caught.value.errno == errno.ESRCH


def test_deleting_a_missing_or_renamed_interface_is_not_an_error() -> None:
    network.delete_link(0x7FFFFFF0, "crv-missing")
    network.delete_link(1, "crv-not-lo")  # index 1 is lo: left alone
    assert socket.if_indextoname(1) == "lo"
