"""A child whose exit status something else collected: never reported as a success.

A host application may reap corral's child behind its back (a stray `os.waitpid`, a
SIGCHLD handler). Before, corral then read "exit 0" and `check=True` passed. Now the
kernel's copy on the pidfd (PIDFD_GET_INFO, Linux 6.15+) gives the real status back,
and where there is no copy the outcome is `status_unknown`, which `check` refuses
with its own error. Each test ends the child with a signal and reaps it itself while
corral is not looking (the async twin's loop is not running between calls), then lets
corral look.
"""

from __future__ import annotations

import os
import select
import signal
import sys

import pytest

import corral
from corral._platform import UNKNOWN
from corral._platform.posix.exits import ThreadExitNotifier
from corral.lowlevel import Feature, override_feature
from tests.support.twins import Twin
from tests.support.waiting import DEADLINE

EXIT_3_ON_TERM = [
    sys.executable,
    "-c",
    "import signal, sys\n"
    "signal.signal(signal.SIGTERM, lambda *_: sys.exit(3))\n"
    "print('ready', flush=True)\n"
    "signal.pause()",
]


def reap_behind_corrals_back(pid: int, sig: int = signal.SIGKILL) -> int:
    """End `pid`, then do what a host application's SIGCHLD handler does: take its status."""
    os.kill(pid, sig)
    _, raw = os.waitpid(pid, 0)
    return raw


@pytest.mark.requires(Feature.PIDFD_EXIT_INFO)
def test_the_kernel_gives_a_stolen_status_back(twin: Twin) -> None:
    with twin.start(EXIT_3_ON_TERM, check=True) as proc:
        assert proc.readline() == "ready"
        raw = reap_behind_corrals_back(proc.pid, signal.SIGTERM)
        assert os.waitstatus_to_exitcode(raw) == 3
        with pytest.raises(corral.ExitedNonZero) as caught:
            proc.wait()
    assert caught.value.exit_code == 3


@pytest.mark.requires(Feature.PIDFD_EXIT_INFO)
def test_a_stolen_signal_death_is_given_back_too(twin: Twin) -> None:
    with twin.start(["sleep", "300"], check=False) as proc:
        reap_behind_corrals_back(proc.pid)
        result = proc.wait()
    assert result.signal_name == "SIGKILL"
    assert not result.status_unknown


@pytest.mark.requires(Feature.PIDFD)
def test_without_the_kernels_copy_the_status_is_unknown_and_check_fails(twin: Twin) -> None:
    with (
        override_feature(Feature.PIDFD_EXIT_INFO, False),
        twin.start(["sleep", "300"], check=True) as proc,
    ):
        reap_behind_corrals_back(proc.pid)
        with pytest.raises(corral.ExitStatusUnknown) as caught:
            proc.wait()
    result = caught.value.result
    assert isinstance(result, corral.Result)
    assert result.status_unknown
    assert not result.ok
    assert result.exit_code is None
    assert result.signal_name is None
    assert result.how == "exit status unknown"
    assert "unknown status" in str(caught.value)


@pytest.mark.requires(Feature.PIDFD)
def test_unchecked_an_unknown_status_is_still_not_ok(twin: Twin) -> None:
    with (
        override_feature(Feature.PIDFD_EXIT_INFO, False),
        twin.start(["sleep", "300"], check=False) as proc,
    ):
        reap_behind_corrals_back(proc.pid)
        result = proc.wait()
    assert result.status_unknown
    assert not result.ok
    assert "exit status unknown" in repr(result)


def test_the_waiter_thread_reports_a_stolen_status_as_unknown() -> None:
    pid = os.posix_spawn("/bin/sleep", ["sleep", "300"], dict(os.environ))
    reap_behind_corrals_back(pid)  # gone before the waiter's waitpid runs: ECHILD
    notifier = ThreadExitNotifier(pid)
    try:
        poller = select.poll()
        poller.register(notifier.fd, select.POLLIN)
        assert poller.poll(DEADLINE * 1000), "the waiter thread never reported"
        assert notifier.collect() == UNKNOWN
        assert not UNKNOWN.known
    finally:
        notifier.close()
