"""Every row of the transition table, driven through InstanceMachine.apply."""

from __future__ import annotations

import pytest

from corral._lifecycle.health import HealthCheck
from corral._lifecycle.messages import (
    ArmTimer,
    CancelTimer,
    Input,
    KillGroup,
    NotifiedReady,
    NotifiedReloading,
    NotifiedStopping,
    ProbeFinished,
    ProcessExited,
    SendStopSignal,
    Spawn,
    Spawned,
    SpawnFailed,
    StartRequested,
    StopRequested,
    Sweep,
    TimeoutExtended,
    TimerFired,
    WatchdogPing,
    kind_of,
    timer,
)
from corral._lifecycle.rows import TRANSITIONS, reject
from corral._lifecycle.states import REST, InstanceState
from corral._lifecycle.table import Transition

from .harness import Harness, harness, policy, reach

S = InstanceState
_NEEDS_UNSPAWNED = {kind_of(Spawned), kind_of(SpawnFailed)}
_NOTIFY = policy(notify="sd_notify", ready_timeout=2.0, watchdog=3.0)
_PROBED = policy(health=HealthCheck(tcp="127.0.0.1:5432", interval=1, retries=2))
_NOTIFIED = {
    kind_of(NotifiedReady),
    kind_of(NotifiedReloading),
    kind_of(NotifiedStopping),
    kind_of(WatchdogPing),
    kind_of(TimeoutExtended),
    timer("ready"),
    timer("watchdog"),
}


def _reach_for(row: Transition) -> Harness:
    """A harness where `row` applies and means something (readiness rows: a notify program)."""
    failing_stop = row.input is timer("stop") and row.state in (S.STARTING, S.RUNNING)
    if row.input is kind_of(ProbeFinished):
        return reach(row.state, rp=_PROBED)
    if row.input not in _NOTIFIED and not failing_stop:
        return reach(row.state, spawned=row.input not in _NEEDS_UNSPAWNED)
    h = reach(row.state, rp=_NOTIFY)
    if failing_stop:  # ended as failed: not ready in time, or no watchdog ping
        h.fire()
    elif (row.state, row.input) == (S.RUNNING, kind_of(NotifiedReady)):
        h.feed(NotifiedReloading())
    return h


def _input_for(row: Transition, h: Harness) -> Input:
    kind = row.input
    if kind.name.startswith("TimerFired("):
        assert h.timer is not None
        assert f"TimerFired({h.timer.kind})" == kind.name
        return TimerFired(h.timer.kind, h.timer.token)
    simple: list[Input] = [
        StartRequested(),
        StopRequested(),
        Spawned(200),
        SpawnFailed("no such file: ./srv"),
        ProcessExited(1, None),
        NotifiedReady(),
        NotifiedReloading(),
        NotifiedStopping(),
        WatchdogPing(),
        TimeoutExtended(5.0),
        ProbeFinished(ok=True, output="HTTP 200"),
    ]
    return next(event for event in simple if kind_of(type(event)) is kind)


@pytest.mark.parametrize(
    "row", TRANSITIONS, ids=[f"{r.state.name}+{r.input.name}" for r in TRANSITIONS]
)
def test_every_row_leads_where_the_table_says(row: Transition) -> None:
    h = _reach_for(row)
    step = h.feed(_input_for(row, h))
    assert step.old is row.state
    assert step.new in row.targets
    assert h.state is step.new
    assert not step.ignored
    assert (step.rejected is not None) == (row.handler is reject)


@pytest.mark.parametrize("state", [S.STOPPED, S.EXITED, S.FATAL])
def test_start_from_rest_spawns(state: InstanceState) -> None:
    h = reach(state)
    step = h.feed(StartRequested(), after=5)
    assert (step.old, step.new, step.actions) == (state, S.STARTING, (Spawn(),))
    assert h.machine.since == h.now
    assert h.machine.pid is None


def test_start_while_starting_is_rejected_and_changes_nothing() -> None:
    h = reach(S.STARTING)
    step = h.feed(StartRequested())
    assert step.rejected == "web:0 is already STARTING"
    assert (step.new, step.actions, step.changed) == (S.STARTING, (), False)


def test_start_while_stopping_is_rejected() -> None:
    h = reach(S.STOPPING)
    step = h.feed(StartRequested())
    assert step.rejected == "web:0 is STOPPING; start it once it has stopped"
    assert (step.new, step.actions) == (S.STOPPING, ())


def test_start_while_running_succeeds_without_acting() -> None:
    h = reach(S.RUNNING)
    step = h.feed(StartRequested())
    assert step.rejected is None
    assert (step.new, step.actions, step.changed) == (S.RUNNING, (), False)
    assert step.reason == "web:0 is already RUNNING"


def test_start_in_backoff_skips_the_wait() -> None:
    h = reach(S.BACKOFF)
    step = h.feed(StartRequested())
    assert (step.new, step.actions) == (S.STARTING, (CancelTimer(), Spawn()))
    assert h.machine.next_start_at is None
    assert h.machine.restarts == 0, "a manual start is not an automatic restart"


def test_spawned_records_the_pid_and_arms_the_start_timer() -> None:
    h = harness(policy(start_seconds=2.5))
    h.feed(StartRequested())
    step = h.feed(Spawned(4121))
    assert h.machine.pid == 4121
    assert step.new is S.STARTING
    assert step.actions == (ArmTimer("start", 2.5, 1),)
    assert step.reason == "spawned pid 4121; running once up 2.5 s"


def test_spawned_with_zero_start_seconds_is_running_at_once() -> None:
    h = harness(policy(start_seconds=0))
    h.feed(StartRequested())
    step = h.feed(Spawned(7))
    assert (step.new, step.actions) == (S.RUNNING, ())
    assert h.timer is None


def test_start_timer_makes_it_running() -> None:
    h = reach(S.STARTING)
    step = h.fire()
    assert (step.old, step.new, step.actions) == (S.STARTING, S.RUNNING, ())
    assert step.reason == "up 1 s: running"
    assert h.machine.since == 1.0


def test_spawn_failure_is_fatal_with_its_reason() -> None:
    h = harness()
    h.feed(StartRequested())
    step = h.fail_spawn("cannot start `./srv`: exec: no such file [ENOENT]")
    assert (step.new, step.actions) == (S.FATAL, (CancelTimer(), Sweep()))
    assert h.machine.reason == "cannot start `./srv`: exec: no such file [ENOENT]"
    assert h.machine.pid is None


@pytest.mark.parametrize("state", [S.STARTING, S.RUNNING])
def test_stop_signals_the_tree_and_arms_the_stop_timer(state: InstanceState) -> None:
    h = reach(state)
    step = h.stop()
    assert step.new is S.STOPPING
    assert step.actions[:2] == (CancelTimer(), SendStopSignal())
    assert isinstance(step.actions[2], ArmTimer)
    assert (step.actions[2].kind, step.actions[2].delay) == ("stop", 10.0)
    assert step.reason == "stop requested; SIGKILL in 10 s if still running"


def test_stop_in_backoff_cancels_the_restart() -> None:
    h = reach(S.BACKOFF)
    step = h.stop()
    assert (step.new, step.actions) == (S.STOPPED, (CancelTimer(), Sweep()))
    assert h.machine.next_start_at is None


@pytest.mark.parametrize("state", [S.STOPPED, S.EXITED, S.FATAL])
def test_stop_when_not_running_succeeds_without_acting(state: InstanceState) -> None:
    h = reach(state)
    step = h.stop()
    assert step.rejected is None
    assert (step.new, step.actions, step.changed, step.ignored) == (state, (), False, False)
    assert step.reason == f"web:0 is not running ({state.name})"


def test_stop_while_stopping_does_nothing_more() -> None:
    h = reach(S.STOPPING)
    step = h.stop()
    assert (step.new, step.actions, step.rejected) == (S.STOPPING, (), None)
    assert step.reason == "web:0 is already STOPPING"


def test_exit_while_stopping_is_stopped() -> None:
    h = reach(S.STOPPING)
    step = h.feed(ProcessExited(None, "SIGTERM"), after=0.2)
    assert (step.new, step.actions) == (S.STOPPED, (KillGroup(), CancelTimer(), Sweep()))
    assert step.reason == "stopped (SIGTERM)"
    assert h.machine.pid is None
    assert h.machine.reason is None


@pytest.mark.parametrize(
    "row", TRANSITIONS, ids=[f"{r.state.name}+{r.input.name}" for r in TRANSITIONS]
)
def test_every_row_into_rest_or_backoff_sweeps_and_every_exit_kills_the_group_first(
    row: Transition,
) -> None:
    h = _reach_for(row)
    step = h.feed(_input_for(row, h))
    assert set(type(action) for action in step.actions) <= set(row.actions)
    if step.changed and step.new in REST:
        assert step.actions[-1] == Sweep()
    elif step.changed and step.new is S.BACKOFF:  # the restart replaces the tree
        assert Sweep() in step.actions
    else:
        assert Sweep() not in step.actions
    if row.input is kind_of(ProcessExited):
        assert step.actions[0] == KillGroup()
    else:
        assert KillGroup() not in step.actions
