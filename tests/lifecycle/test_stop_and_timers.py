"""Stopping (signal, then SIGKILL after stop_timeout) and timers that fire too late."""

from __future__ import annotations

import pytest

from corral._lifecycle.messages import (
    INPUT_KINDS,
    ArmTimer,
    CancelTimer,
    Input,
    InputKind,
    KillGroup,
    KillTree,
    NotifiedReady,
    NotifiedReloading,
    NotifiedStopping,
    ProbeFinished,
    ProcessExited,
    SendStopSignal,
    Spawned,
    SpawnFailed,
    StartRequested,
    Sweep,
    TimeoutExtended,
    TimerFired,
    WatchdogPing,
    input_kind,
)
from corral._lifecycle.rows import LIFECYCLE as TABLE
from corral._lifecycle.rows import transition
from corral._lifecycle.states import InstanceState

from .harness import harness, reach

S = InstanceState


def test_a_tree_still_there_after_stop_timeout_is_killed() -> None:
    h = harness(stop_timeout=5).run()
    h.stop()
    assert h.timer == ArmTimer("stop", 5, 2)
    step = h.fire()
    assert (step.old, step.new, step.actions) == (S.STOPPING, S.STOPPING, (KillTree(),))
    assert step.reason == "still running 5 s after the stop signal: SIGKILL"
    assert h.now == pytest.approx(6.0)
    step = h.feed(ProcessExited(None, "SIGKILL"))
    assert (step.new, step.actions) == (S.STOPPED, (KillGroup(), CancelTimer(), Sweep()))
    assert step.reason == "stopped (SIGKILL)"


def test_a_stop_timeout_of_zero_kills_the_tree_at_once() -> None:
    h = harness(stop_timeout=0).run()
    step = h.stop()
    assert (step.new, step.actions) == (S.STOPPING, (CancelTimer(), SendStopSignal(), KillTree()))
    assert h.timer is None


def test_a_process_spawned_after_the_stop_request_gets_the_stop_signal() -> None:
    h = harness()
    h.feed(StartRequested())
    h.stop()
    step = h.feed(Spawned(4242))
    assert (step.new, step.actions) == (S.STOPPING, (SendStopSignal(),))
    assert h.machine.pid == 4242
    assert h.timer is not None
    assert h.timer.kind == "stop", "the stop timer still escalates"


def test_a_late_spawn_with_stop_timeout_zero_is_killed_at_once() -> None:
    h = harness(stop_timeout=0)
    h.feed(StartRequested())
    h.stop()
    assert h.feed(Spawned(4242)).actions == (SendStopSignal(), KillTree())


def test_a_spawn_failure_after_the_stop_request_is_stopped() -> None:
    h = harness()
    h.feed(StartRequested())
    h.stop()
    step = h.fail_spawn("no such file: ./srv")
    assert (step.new, step.actions) == (S.STOPPED, (CancelTimer(), Sweep()))
    assert step.reason == "stopped; the spawn failed: no such file: ./srv"


def test_a_start_timer_from_before_the_stop_is_stale() -> None:
    h = reach(S.STARTING)
    start_timer = h.timer
    assert start_timer is not None
    h.stop()
    step = h.feed(TimerFired("start", start_timer.token))
    assert (step.new, step.actions, step.ignored) == (S.STOPPING, (), True)
    assert step.reason == f"ignored a stale start timer (token {start_timer.token})"


def test_a_backoff_timer_cancelled_by_a_manual_start_is_stale() -> None:
    h = reach(S.BACKOFF)
    backoff = h.timer
    assert backoff is not None
    h.feed(StartRequested())
    step = h.feed(TimerFired("backoff", backoff.token))
    assert (step.new, step.ignored, h.machine.restarts) == (S.STARTING, True, 0)


def test_a_stop_timer_after_the_exit_is_stale() -> None:
    h = reach(S.STOPPING)
    stop = h.timer
    assert stop is not None
    h.feed(ProcessExited(0, None))
    step = h.feed(TimerFired("stop", stop.token))
    assert (step.new, step.actions, step.ignored) == (S.STOPPED, (), True)


def test_a_timer_fires_only_once() -> None:
    h = reach(S.STARTING)
    timer = h.timer
    assert timer is not None
    assert h.fire().new is S.RUNNING
    assert h.feed(TimerFired("start", timer.token)).ignored


def test_the_right_token_with_the_wrong_kind_is_stale() -> None:
    h = reach(S.STARTING)
    assert h.timer is not None
    step = h.feed(TimerFired("backoff", h.timer.token))
    assert (step.new, step.ignored) == (S.STARTING, True)


@pytest.mark.parametrize(
    ("state", "kind"),
    [(state, kind) for state in S for kind in INPUT_KINDS if (state, kind) not in TABLE],
    ids=lambda value: getattr(value, "name", None),
)
def test_inputs_without_a_row_are_ignored_and_change_nothing(
    state: InstanceState, kind: InputKind
) -> None:
    h = reach(state)
    before = repr(h.machine), h.machine.since, h.machine.reason
    events: list[Input] = [
        Spawned(9),
        SpawnFailed("no such file: ./srv"),
        ProcessExited(0, None),
        TimerFired("start", 99),
        TimerFired("backoff", 99),
        TimerFired("stop", 99),
        TimerFired("ready", 99),
        TimerFired("watchdog", 99),
        NotifiedReady(),
        NotifiedReloading(),
        NotifiedStopping(),
        WatchdogPing(),
        TimeoutExtended(5.0),
        ProbeFinished(ok=False, output="refused"),
    ]
    step = h.feed(next(e for e in events if input_kind(e) is kind), after=1)
    assert transition(state, kind).to is state
    assert (step.new, step.actions, step.rejected, step.ignored) == (state, (), None, True)
    assert (repr(h.machine), h.machine.since, h.machine.reason) == before


def test_an_exit_with_no_process_is_ignored_and_says_so() -> None:
    h = harness()
    step = h.feed(ProcessExited(0, None))
    assert step.ignored
    assert step.reason == "ignored ProcessExited(code=0, signal=None, oom=False) in STOPPED"
