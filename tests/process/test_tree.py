"""Ending the whole process tree: timeouts, leaving `with`, errors, stop, kill, grace.

The tree under test includes a double-forked grandchild in its own session and
process group, re-parented to us (the test process is a child subreaper), which
only the tree marker can find. Each test opens pidfds on the pids while they are
alive and proves through them that every process died; the autouse leak check
proves nothing was left unreaped.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import corral
from corral.lowlevel import Feature, override_feature
from tests.helpers import argv
from tests.support.pids import DeathWatch, PidReports, assert_reaped, read_stat, watch
from tests.support.twins import Handle, Twin
from tests.support.waiting import DEADLINE

pytestmark = pytest.mark.usefixtures("exit_notifier")


def started_tree(proc: Handle, deaths: DeathWatch | None = None) -> DeathWatch:
    """Read the grandchild's pid and `ready` from double_fork; watch root and grandchild.

    Pass `deaths` when the proof must outlive the `with` block of the process.
    """
    grandchild = int(proc.readline() or "0")
    watching = deaths if deaths is not None else DeathWatch()
    try:
        watching.add(proc.pid)
        watching.add(grandchild)
        assert proc.readline() == "ready"
    except BaseException:
        if deaths is None:
            watching.close()
        raise
    return watching


def assert_escaped(root: int, grandchild: int) -> None:
    """The grandchild left the root's group and session and was re-parented to us."""
    stat = read_stat(grandchild)
    assert stat is not None
    assert stat.ppid == os.getpid()
    assert stat.pgid != root
    assert stat.sid != os.getsid(0)


def test_a_wait_timeout_ends_a_tree_with_a_double_forked_grandchild(twin: Twin) -> None:
    with twin.start(argv("double_fork")) as proc, started_tree(proc) as deaths:
        root, grandchild = deaths.fds
        assert_escaped(root, grandchild)
        with pytest.raises(corral.TimedOut) as caught:
            proc.wait(timeout=0.1)
        deaths.assert_dead()
    result = caught.value.result
    assert isinstance(result, corral.Result)
    assert result.timed_out
    assert result.signal_name == "SIGTERM"  # asked first, and it obeyed
    assert_reaped(grandchild)


def test_a_run_timeout_ends_a_tree_with_a_double_forked_grandchild(twin: Twin) -> None:
    with PidReports() as reports:
        fd = reports.write_fd
        with pytest.raises(corral.TimedOut) as caught:
            twin.run(argv("double_fork", "--fd", str(fd)), pass_fds=[fd], timeout=1.0)
        root, grandchild = reports.wait_for(2)
        reports.deaths.assert_dead()
    assert caught.value.result.pid == root
    assert caught.value.timeout == 1.0
    assert_reaped(grandchild)


def test_an_exception_inside_the_with_block_kills_the_tree(twin: Twin) -> None:
    with DeathWatch() as deaths:
        # the whole block is the subject: an error raised inside it must end the tree
        with pytest.raises(RuntimeError, match="boom"), twin.start(argv("double_fork")) as proc:  # noqa: PT012
            started_tree(proc, deaths)
            raise RuntimeError("boom")
        deaths.assert_dead()
    assert proc.signal_name == "SIGKILL"  # no grace after an error


def test_leaving_the_with_block_normally_stops_the_tree(twin: Twin) -> None:
    with DeathWatch() as deaths:
        with twin.start(argv("double_fork")) as proc:
            started_tree(proc, deaths)
        deaths.assert_dead()
    assert proc.signal_name == "SIGTERM"


def test_leaving_the_with_block_ends_what_an_exited_root_left_behind(twin: Twin) -> None:
    with DeathWatch() as deaths:
        with twin.start(argv("double_fork", "--root-exits", "--detach")) as proc:
            _, grandchild = started_tree(proc, deaths).fds
            assert proc.wait().exit_code == 0  # the root is done; its daemon lives on
            assert deaths.alive() == [grandchild]
        deaths.assert_dead()


def test_stop_asks_with_the_stop_signal_first(twin: Twin) -> None:
    with twin.start(argv("trap_term", "exit")) as proc:
        assert proc.readline() == "ready"
        result = proc.stop()
    assert result.exit_code == 0
    assert result.stdout_text == "got SIGTERM\n"


def test_the_stop_signal_can_be_chosen(twin: Twin) -> None:
    with twin.start(argv("trap_term", "exit", "SIGINT"), stop_signal="INT") as proc:
        assert proc.readline() == "ready"
        result = proc.stop()
    assert result.exit_code == 0
    assert result.stdout_text == "got SIGINT\n"


def test_stop_kills_after_the_grace_when_the_signal_is_ignored(twin: Twin) -> None:
    with twin.start(argv("trap_term", "ignore")) as proc:
        assert proc.readline() == "ready"
        result = proc.stop(grace=0.1)
    assert result.signal_name == "SIGKILL"
    assert result.exit_code is None


def test_a_timeout_kills_after_the_grace_when_the_signal_is_ignored(twin: Twin) -> None:
    with twin.start(argv("trap_term", "ignore"), grace=0.1) as proc:
        assert proc.readline() == "ready"
        with pytest.raises(corral.TimedOut) as caught:
            proc.wait(timeout=0.05)
    assert caught.value.result.signal_name == "SIGKILL"


def test_kill_does_not_ask_first(twin: Twin) -> None:
    with twin.start(argv("trap_term", "exit")) as proc:
        assert proc.readline() == "ready"
        result = proc.kill()
    assert result.signal_name == "SIGKILL"
    assert result.stdout == b""


def test_stop_ends_the_double_forked_grandchild_too(twin: Twin) -> None:
    with twin.start(argv("double_fork")) as proc, started_tree(proc) as deaths:
        proc.stop(grace=5)
        deaths.assert_dead()


def test_send_signal_to_the_whole_tree(twin: Twin) -> None:
    with twin.start(argv("double_fork"), check=False) as proc, started_tree(proc) as deaths:
        proc.send_signal("KILL", whole_tree=True)
        deaths.assert_dead()
        assert proc.wait().signal_name == "SIGKILL"


def test_a_member_found_only_by_parentage_is_ended(twin: Twin) -> None:
    # spawn_scrubbed's child has an empty environment (no marker) and its own session.
    with twin.start(argv("spawn_scrubbed")) as proc:
        child = int(proc.readline() or "0")
        with watch([proc.pid, child]) as deaths:
            assert proc.readline() == "ready"
            proc.kill()
            deaths.assert_dead()


def test_without_proc_scan_the_process_group_is_still_ended(twin: Twin) -> None:
    # Without /proc, corral can only signal the group: a grandchild that stayed in it dies.
    with (
        override_feature(Feature.PROC_SCAN, False),
        twin.start(argv("double_fork", "--no-setsid")) as proc,
        started_tree(proc) as deaths,
    ):
        _, grandchild = deaths.fds
        proc.kill()
        deaths.assert_dead()
    # Nothing found it by scan, so nothing reaped it: as its subreaper, we do.
    os.waitpid(grandchild, 0)


def test_a_wait_timeout_on_a_chatty_process_still_ends_it(twin: Twin) -> None:
    with twin.start(argv("flood", str(1 << 30))) as proc:
        assert proc.readline() == "o" * 63  # it is flooding both pipes now
        with pytest.raises(corral.TimedOut) as caught:
            proc.wait(timeout=0.2)
    result = caught.value.result
    assert isinstance(result, corral.Result)
    assert result.timed_out
    assert result.signal_name == "SIGTERM"


@pytest.mark.parametrize("mode", ["subreaper", "plain"])
def test_run_ends_a_double_forked_tree_whether_or_not_the_caller_is_a_subreaper(mode: str) -> None:
    # A subreaper searches only its own descendants for the marker, where the
    # grandchild lands; a plain caller's grandchild goes past it (to us), so it
    # must search every process.
    with PidReports() as reports:
        fd = reports.write_fd
        done = subprocess.run(
            [sys.executable, "-m", "tests.process.run_as", mode, str(fd)],
            pass_fds=[fd],
            env=dict(os.environ, PYTHONPATH=str(Path(__file__).parents[2])),
            capture_output=True,
            text=True,
            timeout=DEADLINE,
            check=False,
        )
        assert (done.returncode, done.stdout, done.stderr) == (0, "ended\n", "")
        _, grandchild = reports.wait_for(2)
        reports.deaths.assert_dead()
    if mode == "plain":  # it was re-parented to us, so nobody else could reap it
        os.waitpid(grandchild, 0)
