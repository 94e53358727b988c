"""Readiness rows: a `notify` program is RUNNING when it says so, within `ready_timeout`,
and a `watchdog` program is ended as failed when its pings stop."""

from __future__ import annotations

from corral._lifecycle.messages import (
    ArmTimer,
    CancelTimer,
    KillTree,
    NotifiedReady,
    NotifiedReloading,
    NotifiedStopping,
    ProcessExited,
    SendStopSignal,
    Spawned,
    StartRequested,
    TimeoutExtended,
    WatchdogPing,
)
from corral._lifecycle.states import InstanceState

from .harness import Harness, harness, policy

S = InstanceState


def notify(*, ready_timeout: float = 2.0, watchdog: float = 0.0, burst: int = 5) -> Harness:
    rp = policy(notify="sd_notify", ready_timeout=ready_timeout, watchdog=watchdog, burst=burst)
    return harness(rp)


def test_a_notify_program_waits_for_ready_not_for_start_seconds() -> None:
    h = notify()
    h.feed(StartRequested())
    step = h.feed(Spawned(41))
    assert (step.new, step.actions) == (S.STARTING, (ArmTimer("ready", 2.0, 1),))
    assert step.reason == "spawned pid 41; running once it says it is ready (within 2 s)"
    step = h.feed(NotifiedReady(), after=0.3)
    assert (step.old, step.new, step.actions) == (S.STARTING, S.RUNNING, (CancelTimer(),))
    assert step.reason == "said it is ready: running"
    assert h.machine.since == 0.3


def test_ready_timeout_0_waits_for_ever() -> None:
    h = notify(ready_timeout=0)
    h.feed(StartRequested())
    step = h.feed(Spawned(41))
    assert (step.new, step.actions, h.timer) == (S.STARTING, (), None)


def test_not_ready_in_time_is_ended_and_its_exit_is_a_failed_start() -> None:
    h = notify()
    h.start()
    step = h.fire()
    assert step.new is S.STARTING
    assert step.actions == (SendStopSignal(), ArmTimer("stop", 10.0, 2))
    assert step.reason == "not ready within 2 s: stop signal, SIGKILL in 10 s"
    assert h.feed(NotifiedReady()).ignored, "too late: it is being ended"
    step = h.feed(ProcessExited(None, "SIGTERM"), after=0.1)
    assert step.new is S.BACKOFF
    assert h.machine.failures == 1
    assert h.machine.reason == "not ready within 2 s; ended (SIGTERM); restart 1 in 0.1 s"


def test_a_failing_program_that_ignores_the_stop_signal_is_killed() -> None:
    h = notify()
    h.start()
    h.fire()
    step = h.fire()
    assert (step.new, step.actions) == (S.STARTING, (KillTree(),))


def test_never_ready_hits_the_start_limit() -> None:
    h = notify(burst=2)
    h.start()
    h.fire()  # not ready: ended
    assert h.feed(ProcessExited(None, "SIGTERM")).new is S.BACKOFF
    h.fire()  # the restart
    h.feed(Spawned(101))
    h.fire()  # not ready again
    assert h.feed(ProcessExited(None, "SIGTERM")).new is S.FATAL
    assert "start limit hit: 2 starts" in (h.machine.reason or "")


def test_a_stop_request_while_ended_as_failed_stops_without_restart() -> None:
    h = notify()
    h.start()
    h.fire()
    assert h.stop().new is S.STOPPING
    assert h.feed(ProcessExited(None, "SIGTERM")).new is S.STOPPED


def test_extend_timeout_moves_the_deadline_later_never_earlier() -> None:
    h = notify(ready_timeout=2.0)
    h.start()
    assert h.feed(TimeoutExtended(1.0), after=0.5).ignored, "0.5 + 1 is before 2"
    step = h.feed(TimeoutExtended(5.0), after=0.5)
    assert step.actions == (ArmTimer("ready", 5.0, 2),)
    assert step.quiet
    assert h.machine.fields.ready_by == 6.0
    step = h.fire()
    assert h.now == 6.0
    assert step.reason.startswith("not ready within 2 s")


def test_the_watchdog_is_armed_at_ready_and_reset_by_each_ping() -> None:
    h = notify(watchdog=3.0)
    h.start()
    step = h.feed(NotifiedReady())
    assert step.actions == (CancelTimer(), ArmTimer("watchdog", 3.0, 2))
    step = h.feed(WatchdogPing(), after=2.5)
    assert (step.new, step.actions, step.quiet) == (
        S.RUNNING,
        (ArmTimer("watchdog", 3.0, 3),),
        True,
    )


def test_a_missed_ping_ends_it_and_even_a_clean_exit_restarts_it() -> None:
    h = notify(watchdog=3.0)
    h.run()
    step = h.fire()
    assert (step.new, step.actions[0]) == (S.RUNNING, SendStopSignal())
    assert step.reason == "no watchdog ping for 3 s: stop signal, SIGKILL in 10 s"
    assert h.feed(WatchdogPing()).ignored, "a late ping does not save it"
    step = h.feed(ProcessExited(0, None))
    assert step.new is S.BACKOFF
    assert h.machine.reason == "no watchdog ping for 3 s; ended (exit 0); restart 1 in 0.1 s"


def test_a_new_spawn_forgets_why_the_last_one_was_ended() -> None:
    h = notify(watchdog=3.0)
    h.run()
    h.fire()
    h.feed(ProcessExited(0, None))
    h.fire()
    h.feed(Spawned(101))
    assert h.machine.fields.failing is None
    assert h.feed(NotifiedReady()).new is S.RUNNING


def test_reloading_is_a_phase_until_ready_again() -> None:
    h = notify()
    h.run()
    step = h.feed(NotifiedReloading())
    assert (step.new, h.machine.fields.phase) == (S.RUNNING, "reloading")
    step = h.feed(NotifiedReady())
    assert (step.ignored, h.machine.fields.phase) == (False, None)
    assert h.feed(NotifiedReady()).ignored


def test_stopping_on_its_own_disarms_the_watchdog() -> None:
    h = notify(watchdog=3.0)
    h.run()
    step = h.feed(NotifiedStopping())
    assert step.actions == (CancelTimer(),)
    assert h.machine.fields.phase == "stopping"
    assert h.feed(WatchdogPing()).ignored
    assert h.feed(ProcessExited(0, None)).new is S.EXITED
