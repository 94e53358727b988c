"""The test tools themselves: waiting, death proofs, zombies and children."""

from __future__ import annotations

import os
import subprocess
import sys
from itertools import count

import pytest

from tests.helpers import argv
from tests.support.pids import DeathWatch, PidReports, children_of, is_zombie, watch
from tests.support.waiting import wait_until


def test_wait_until_returns_the_first_truthy_value() -> None:
    calls = count(1)
    assert wait_until(lambda: next(calls) >= 3 and "done", what="the third call") == "done"


def test_wait_until_says_what_it_waited_for_and_the_last_value() -> None:
    with pytest.raises(AssertionError) as caught:
        wait_until(lambda: [], timeout=0.01, what="a non-empty list")
    assert str(caught.value) == "waited 0.01 s for a non-empty list; the last value seen was []"


def test_a_death_watch_needs_something_to_watch() -> None:
    with DeathWatch() as deaths, pytest.raises(AssertionError, match="vacuously"):
        deaths.assert_dead()


def test_a_death_watch_refuses_a_pid_that_is_already_gone() -> None:
    with subprocess.Popen(argv("exit_with", "0")) as proc:
        proc.wait()
    with pytest.raises(AssertionError, match=f"pid {proc.pid} was gone"):
        watch([proc.pid])


def test_a_death_watch_proves_death_and_reports_survivors() -> None:
    with subprocess.Popen(argv("trap_term", "exit"), stdout=subprocess.PIPE) as proc:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"ready\n"
        with watch([proc.pid]) as deaths:
            assert deaths.alive() == [proc.pid]
            with pytest.raises(AssertionError, match=f"still alive after 0.01 s: {proc.pid}"):
                deaths.assert_dead(timeout=0.01)
            proc.kill()
            deaths.assert_dead()
            assert deaths.alive() == []


def test_a_zombie_is_a_child_until_reaped() -> None:
    with subprocess.Popen(argv("exit_with", "0")) as proc:
        os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped
        assert is_zombie(proc.pid)
        assert proc.pid in [stat.pid for stat in children_of(os.getpid())]
    assert not is_zombie(proc.pid)
    assert proc.pid not in [stat.pid for stat in children_of(os.getpid())]


def test_pid_reports_watch_each_pid_and_wait_for_every_writer() -> None:
    with PidReports() as reports:
        code = f"import os; os.write({reports.write_fd}, b'%d\\n' % os.getpid())"
        with subprocess.Popen([sys.executable, "-c", code], pass_fds=[reports.write_fd]) as proc:
            assert reports.wait_for(1) == [proc.pid]
        reports.deaths.assert_dead()
