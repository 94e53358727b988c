"""What an instance shows: repr, exit descriptions, and the read-only properties."""

from __future__ import annotations

import pytest

from corral._lifecycle.machine import InstanceMachine
from corral._lifecycle.messages import (
    ProcessExited,
    Spawned,
    StartRequested,
    Step,
)
from corral._lifecycle.states import InstanceState
from corral._process.exit import Exit

from .harness import harness, policy

S = InstanceState


def test_repr_shows_name_state_pid_and_restarts() -> None:
    h = harness(policy(start_seconds=0))
    h.start(pid=1)
    for _ in range(2):
        h.exit(1)
        h.fire()
        h.feed(Spawned(4121))
    assert repr(h.machine) == "<Instance web:0 RUNNING pid=4121 restarts=2>"


def test_repr_leaves_out_the_pid_when_there_is_no_process() -> None:
    machine = InstanceMachine("api:3", policy(), 10)
    assert repr(machine) == "<Instance api:3 STOPPED restarts=0>"


@pytest.mark.parametrize(
    ("exit", "text"),
    [
        (Exit(3, None, False, 0), "exit 3"),
        (Exit(0, None, False, 0), "exit 0"),
        (Exit(None, "SIGKILL", False, 0), "SIGKILL"),
        (Exit(None, "SIGKILL", True, 0), "OOM-killed (SIGKILL)"),
        (Exit(137, None, True, 0), "OOM-killed"),
        (Exit(None, None, False, 0), "exit status unknown"),
    ],
)
def test_exit_info_describes_the_exit(exit: Exit, text: str) -> None:
    assert exit.describe() == text


@pytest.mark.parametrize(
    ("exit", "expected"),
    [
        (Exit(0, None, False, 0), True),
        (Exit(2, None, False, 0), True),
        (Exit(1, None, False, 0), False),
        (Exit(None, "SIGTERM", False, 0), False),
        (Exit(0, None, True, 0), False),
        (Exit(None, None, False, 0), False),
    ],
)
def test_an_exit_is_expected_only_by_code_without_signal_or_oom(exit: Exit, expected: bool) -> None:
    assert exit.is_expected(frozenset({0, 2})) is expected


def test_a_new_machine_is_stopped_since_its_creation() -> None:
    machine = InstanceMachine("web:0", policy(), 10, now=42.0)
    assert (machine.state, machine.since, machine.pid) == (S.STOPPED, 42.0, None)
    assert (machine.restarts, machine.failures, machine.last_exit) == (0, 0, None)
    assert (machine.reason, machine.next_start_at) == (None, None)
    assert (machine.name, machine.stop_timeout, machine.policy) == ("web:0", 10, policy())


def test_since_moves_only_when_the_state_changes() -> None:
    h = harness()
    h.feed(StartRequested(), after=2)
    h.feed(Spawned(5), after=0.5)
    assert h.machine.since == 2
    h.fire()
    assert h.machine.since == 3.5


def test_last_exit_records_how_and_when_it_exited() -> None:
    h = harness().run()
    h.feed(ProcessExited(None, "SIGSEGV"), after=4)
    assert h.machine.last_exit == Exit(None, "SIGSEGV", False, 5.0)
    assert h.machine.pid is None


def test_the_reason_is_kept_only_while_backoff_exited_or_fatal() -> None:
    h = harness().run()
    h.exit(1)
    assert h.machine.reason == "exited unexpectedly (exit 1); restart 1 in 0.1 s"
    h.fire()
    assert h.machine.reason is None


def test_next_start_at_is_when_the_backoff_ends() -> None:
    h = harness().run()
    h.exit(1, after=2)
    assert h.machine.next_start_at == pytest.approx(3.1)


def test_a_step_is_changed_only_when_the_state_changes() -> None:
    assert Step(S.STOPPED, S.STARTING, (), "").changed
    assert not Step(S.STOPPING, S.STOPPING, (), "").changed
