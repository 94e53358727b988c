"""Issue #11: a wait with a timeout that leaves the process running (subprocess's
`Popen.wait(timeout)`, which raises TimeoutExpired and leaves the child alone), beside
the wait whose timeout ends the tree (TimedOut)."""

from __future__ import annotations

import pytest

import corral
from corral import CorralError, StillRunning
from tests.helpers import argv
from tests.support.pids import read_stat
from tests.support.twins import Twin


def test_a_wait_that_runs_out_leaves_the_process_running(twin: Twin) -> None:
    with twin.start(argv("copy_stdin"), stdin="pipe") as proc:
        with pytest.raises(StillRunning) as caught:
            proc.wait(0.05, keep_running=True)
        stat = read_stat(proc.pid)
        assert stat is not None
        assert stat.state != "Z"
        assert proc.running
        proc.write("still here\n")  # stdin was left open too
        proc.close_stdin()
        result = proc.wait()  # a later wait carries on
    assert result.stdout == b"still here\n"
    assert not result.timed_out
    assert caught.value.pid == proc.pid
    assert caught.value.timeout == 0.05


def test_still_running_is_not_timed_out(twin: Twin) -> None:
    with (
        twin.start(argv("copy_stdin"), stdin="pipe") as proc,
        pytest.raises(StillRunning) as caught,
    ):
        proc.wait(0.01, keep_running=True)
    error = caught.value
    assert isinstance(error, CorralError)
    assert isinstance(error, TimeoutError)
    assert not isinstance(error, corral.TimedOut)
    assert f"(pid {proc.pid}) is still running after 0.01 s" in str(error)
    assert "it was left running: wait again, or stop() it" in str(error)


def test_the_commands_own_timeout_still_ends_the_tree(twin: Twin) -> None:
    with twin.start(argv("copy_stdin"), stdin="pipe", timeout=0.2) as proc:
        with pytest.raises(corral.TimedOut):
            proc.wait(60, keep_running=True)
        assert not proc.running


def test_a_wait_that_does_not_run_out_returns_the_result(twin: Twin) -> None:
    with twin.start(argv("exit_with", "0")) as proc:
        assert proc.wait(60, keep_running=True).exit_code == 0
