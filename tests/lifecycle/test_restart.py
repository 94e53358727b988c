"""The restart decision: which exits restart, how long to wait, and when to give up."""

from __future__ import annotations

import pytest

from corral._lifecycle.messages import (
    ArmTimer,
    CancelTimer,
    KillGroup,
    ProcessExited,
    Spawn,
    Spawned,
    StartRequested,
    Sweep,
)
from corral._lifecycle.policy import RestartMode
from corral._lifecycle.states import InstanceState
from corral._process.retry import Backoff

from .harness import Harness, harness, policy

S = InstanceState
RANDS = [i / 64 for i in range(64)] + [0.999999]


def crash_while_starting(h: Harness, *, rand: float = 0.5) -> ArmTimer | None:
    """Start (or restart) and exit at once; returns the backoff timer armed, if any."""
    if h.state is S.BACKOFF:
        h.fire()
    else:
        h.feed(StartRequested())
    h.feed(Spawned(100))
    h.feed(ProcessExited(1, None), after=0.01, rand=rand)
    return h.timer


@pytest.mark.parametrize(
    ("mode", "exit", "expected_state"),
    [
        ("always", ProcessExited(0, None), S.BACKOFF),
        ("always", ProcessExited(1, None), S.BACKOFF),
        ("on-failure", ProcessExited(0, None), S.EXITED),
        ("on-failure", ProcessExited(1, None), S.BACKOFF),
        ("on-failure", ProcessExited(None, "SIGSEGV"), S.BACKOFF),
        ("on-failure", ProcessExited(None, "SIGKILL", oom=True), S.BACKOFF),
        ("on-failure", ProcessExited(None, None), S.BACKOFF),
        ("never", ProcessExited(1, None), S.EXITED),
        ("never", ProcessExited(0, None), S.EXITED),
    ],
)
def test_exit_while_running_restarts_as_the_mode_says(
    mode: RestartMode, exit: ProcessExited, expected_state: InstanceState
) -> None:
    h = harness(policy(mode=mode)).run()
    step = h.feed(exit)
    assert step.new is expected_state
    if expected_state is S.EXITED:
        assert step.actions == (KillGroup(), CancelTimer(), Sweep())
        assert h.machine.reason == step.reason


def test_an_exit_code_listed_in_exit_codes_is_expected() -> None:
    h = harness(policy(exit_codes=frozenset({0, 3}))).run()
    step = h.exit(3)
    assert step.new is S.EXITED
    assert step.reason == "exited (exit 3); restart is on-failure"


def test_an_unexpected_exit_says_so_and_when_it_restarts() -> None:
    h = harness().run()
    step = h.exit(2)
    assert step.reason == "exited unexpectedly (exit 2); restart 1 in 0.1 s"
    assert h.machine.reason == step.reason
    assert h.machine.last_exit is not None
    assert h.machine.last_exit.code == 2


def test_an_oom_kill_is_unexpected_and_described_as_oom() -> None:
    h = harness(policy(mode="on-failure")).run()
    step = h.feed(ProcessExited(None, "SIGKILL", oom=True))
    assert step.new is S.BACKOFF
    assert step.reason.startswith("exited unexpectedly (OOM-killed (SIGKILL));")


def test_exit_while_starting_is_a_failed_start_that_backs_off() -> None:
    h = harness()
    h.start()
    step = h.exit(1, after=0.3)
    assert step.new is S.BACKOFF
    assert step.actions == (KillGroup(), Sweep(), ArmTimer("backoff", 0.1, 2))
    assert step.reason == "exited too quickly (exit 1); restart 1 in 0.1 s"
    assert h.machine.failures == 1
    assert h.machine.next_start_at == pytest.approx(0.4)


def test_a_failed_start_restarts_even_with_an_expected_exit_code() -> None:
    h = harness(policy(mode="on-failure"))
    h.start()
    assert h.exit(0).new is S.BACKOFF


def test_a_failed_start_with_restart_never_is_exited() -> None:
    h = harness(policy(mode="never"))
    h.start()
    step = h.exit(1)
    assert (step.new, step.actions) == (S.EXITED, (KillGroup(), CancelTimer(), Sweep()))
    assert step.reason == "exited too quickly (exit 1); restart is never"


def test_the_backoff_timer_restarts_and_counts_the_restart() -> None:
    h = harness().run()
    h.exit(1)
    step = h.fire()
    assert (step.old, step.new, step.actions) == (S.BACKOFF, S.STARTING, (Spawn(),))
    assert step.reason == "restart 1"
    assert h.machine.restarts == 1
    assert h.machine.next_start_at is None


def test_backoff_delays_stay_within_the_bounds_for_any_rand() -> None:
    backoff = Backoff(initial=0.5, factor=3.0, max=20.0, jitter=0.25)
    for rand in RANDS:
        h = harness(policy(backoff=backoff, interval=0))
        for failures in range(1, 9):
            timer = crash_while_starting(h, rand=rand)
            assert timer is not None
            low, high = backoff.bounds(failures)
            assert low <= timer.delay <= high, (rand, failures, timer.delay)


def test_backoff_grows_by_the_factor_with_each_failed_start() -> None:
    h = harness(policy(backoff=Backoff(initial=0.1, factor=2.0, max=30.0, jitter=0.3)))
    delays = [crash_while_starting(h) for _ in range(4)]
    assert [t.delay if t else None for t in delays] == pytest.approx([0.1, 0.2, 0.4, 0.8])


def test_backoff_is_capped_at_max() -> None:
    h = harness(policy(backoff=Backoff(initial=1, factor=10, max=5, jitter=0), interval=0))
    delays = [timer.delay for timer in (crash_while_starting(h) for _ in range(5)) if timer]
    assert delays == [1, 5, 5, 5, 5]


def test_backoff_after_a_successful_run_starts_from_initial_again() -> None:
    h = harness()
    for _ in range(3):
        crash_while_starting(h)
    h.fire()
    h.feed(Spawned(5))
    h.fire()
    assert (h.state, h.machine.failures) == (S.RUNNING, 0)
    h.exit(1)
    assert h.timer is not None
    assert h.timer.delay == pytest.approx(0.1)


def test_the_start_limit_gives_up_after_burst_starts() -> None:
    h = harness(policy(burst=3, interval=60))
    crash_while_starting(h)
    crash_while_starting(h)
    assert h.state is S.BACKOFF
    h.fire()
    step = h.exit(1, after=0.01)
    assert (step.new, step.actions) == (S.FATAL, (KillGroup(), CancelTimer(), Sweep()))
    assert step.reason == "exited too quickly (exit 1); start limit hit: 3 starts within 60 s"
    assert h.machine.reason == step.reason
    assert h.machine.restarts == 2


def test_a_burst_of_one_gives_up_after_the_first_failure() -> None:
    h = harness(policy(burst=1))
    h.start()
    step = h.exit(1)
    assert step.new is S.FATAL
    assert step.reason.endswith("start limit hit: 1 start within 60 s")


def test_starts_older_than_the_interval_leave_the_window() -> None:
    # Runs 6 s, crashes, restarts; with a 10 s window only the latest start counts.
    h = harness(policy(burst=2, interval=10, start_seconds=1))
    h.run()
    for _ in range(5):
        step = h.exit(1, after=6)
        assert step.new is S.BACKOFF, step.reason
        h.fire()
        h.feed(Spawned(100))
        h.fire()


def test_starts_within_the_interval_count_even_after_a_run() -> None:
    h = harness(policy(burst=2, interval=10, start_seconds=1))
    h.run()
    h.exit(1, after=6)
    h.fire()
    h.feed(Spawned(100))
    h.fire()
    assert h.exit(1, after=1).new is S.FATAL


def test_a_start_exactly_one_interval_ago_is_outside_the_window() -> None:
    h = harness(policy(burst=1, interval=10, start_seconds=1))
    h.run()
    assert h.now == 1.0
    assert h.exit(1, after=9).new is S.BACKOFF
    assert h.machine.reason == "exited unexpectedly (exit 1); restart 1 in 0.1 s"


def test_an_interval_of_zero_disables_the_start_limit() -> None:
    h = harness(policy(burst=1, interval=0))
    for _ in range(20):
        crash_while_starting(h)
        assert h.state is S.BACKOFF


def test_a_manual_start_from_fatal_resets_failures_and_the_start_window() -> None:
    h = harness(policy(burst=2))
    crash_while_starting(h)
    crash_while_starting(h)
    assert (h.state, h.machine.failures) == (S.FATAL, 2)
    h.feed(StartRequested())
    assert h.machine.failures == 0
    h.feed(Spawned(100))
    assert h.exit(1).new is S.BACKOFF
    assert h.timer is not None
    assert h.timer.delay == pytest.approx(0.1)


def test_a_manual_start_from_exited_resets_the_start_window() -> None:
    h = harness(policy(burst=2)).run()
    assert h.exit(0).new is S.EXITED
    h.start()
    assert h.exit(1).new is S.BACKOFF, "the start before EXITED no longer counts"


def test_a_manual_start_from_exited_resets_failures() -> None:
    h = harness(policy(mode="never"))
    crash_while_starting(h)
    assert (h.state, h.machine.failures) == (S.EXITED, 1)
    h.feed(StartRequested())
    assert h.machine.failures == 0


def test_a_start_in_backoff_keeps_the_failure_count() -> None:
    h = harness(policy(burst=10))
    crash_while_starting(h)
    crash_while_starting(h)
    h.feed(StartRequested())
    assert h.machine.failures == 2
    h.exit(1)
    assert h.timer is not None
    assert h.timer.delay == pytest.approx(0.4)


def test_restarts_keep_counting_across_manual_starts() -> None:
    h = harness(policy(burst=2))
    crash_while_starting(h)
    crash_while_starting(h)
    assert (h.state, h.machine.restarts) == (S.FATAL, 1)
    h.feed(StartRequested())
    h.exit(1)
    h.fire()
    assert h.machine.restarts == 2


def test_update_policy_applies_to_the_next_decision() -> None:
    h = harness(policy(mode="always")).run()
    h.machine.update_policy(policy(mode="never"), stop_timeout=3)
    assert h.exit(1).new is S.EXITED
    assert (h.machine.policy.mode, h.machine.stop_timeout) == ("never", 3)
