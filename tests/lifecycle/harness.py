"""A fake runtime for the pure model: feeds inputs at a fake `now`, tracks the armed timer.

It carries out the machine's timer actions the way the asyncio runtime does (a later
ArmTimer replaces the earlier one, CancelTimer clears it), so tests can say
"fire the armed timer" and "spawn succeeded" instead of building tokens by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from corral._lifecycle.health import HealthCheck, OnUnhealthy
from corral._lifecycle.machine import InstanceMachine
from corral._lifecycle.messages import (
    ArmTimer,
    CancelTimer,
    Input,
    NotifiedReady,
    ProbeFinished,
    ProcessExited,
    Spawned,
    SpawnFailed,
    StartRequested,
    Step,
    StopRequested,
    TimerFired,
)
from corral._lifecycle.policy import NotifyMode, RestartMode, RestartPolicy, StartLimit
from corral._lifecycle.states import InstanceState
from corral._process.retry import Backoff


def policy(
    *,
    mode: RestartMode = "on-failure",
    start_seconds: float = 1.0,
    exit_codes: frozenset[int] = frozenset({0}),
    backoff: Backoff | None = None,
    burst: int = 5,
    interval: float = 60.0,
    notify: NotifyMode | None = None,
    ready_timeout: float = 90.0,
    watchdog: float = 0.0,
    health: HealthCheck | None = None,
    on_unhealthy: OnUnhealthy = "restart",
) -> RestartPolicy:
    """A restart policy with readable defaults: backoff 0.1 s doubling to 30 s, no jitter."""
    return RestartPolicy(
        health=health,
        on_unhealthy=on_unhealthy,
        notify=notify,
        ready_timeout=ready_timeout,
        watchdog=watchdog,
        mode=mode,
        start_seconds=start_seconds,
        exit_codes=exit_codes,
        backoff=backoff or Backoff(initial=0.1, factor=2.0, max=30.0, jitter=0.0),
        start_limit=StartLimit(burst=burst, interval=interval),
    )


@dataclass
class Harness:
    """One machine, a fake clock and the timer the runtime would have armed."""

    machine: InstanceMachine
    now: float = 0.0
    timer: ArmTimer | None = None
    armed_at: float = 0.0
    steps: list[Step] = field(default_factory=list)

    @property
    def state(self) -> InstanceState:
        return self.machine.state

    def feed(self, event: Input, *, after: float = 0.0, rand: float = 0.5) -> Step:
        """Advance the clock by `after` seconds, apply `event`, carry out timer actions."""
        self.now += after
        step = self.machine.apply(event, self.now, rand)
        for action in step.actions:
            if isinstance(action, ArmTimer):
                self.timer, self.armed_at = action, self.now
            elif isinstance(action, CancelTimer):
                self.timer = None
        self.steps.append(step)
        return step

    def fire(self, *, rand: float = 0.5) -> Step:
        """Let the armed timer fire: the clock moves to its deadline."""
        assert self.timer is not None, f"no timer armed in {self.machine!r}"
        timer = self.timer
        self.now = self.armed_at + timer.delay
        self.timer = None
        return self.feed(TimerFired(timer.kind, timer.token), rand=rand)

    def start(self, *, pid: int = 100) -> Step:
        """A start request and a successful spawn; returns the Spawned step."""
        self.feed(StartRequested())
        return self.feed(Spawned(pid))

    def run(self, *, pid: int = 100) -> Harness:
        """Start, spawn and wait out start_seconds (or, with notify, say READY): RUNNING."""
        self.start(pid=pid)
        if self.machine.policy.notify is not None:
            self.feed(NotifiedReady())
        elif self.machine.policy.health is not None:
            self.feed(ProbeFinished(ok=True, output="passed"))
        elif self.state is InstanceState.STARTING:
            self.fire()
        assert self.state is InstanceState.RUNNING, self.machine
        return self

    def exit(self, code: int | None = 1, *, after: float = 0.0, rand: float = 0.5) -> Step:
        return self.feed(ProcessExited(code, None), after=after, rand=rand)

    def stop(self) -> Step:
        return self.feed(StopRequested())

    def fail_spawn(self, reason: str = "no such file: ./srv") -> Step:
        return self.feed(SpawnFailed(reason))


def harness(
    rp: RestartPolicy | None = None, *, stop_timeout: float = 10.0, name: str = "web:0"
) -> Harness:
    """A fresh machine in STOPPED at now = 0."""
    return Harness(InstanceMachine(name, rp or policy(), stop_timeout))


def reach(
    state: InstanceState, *, spawned: bool = True, rp: RestartPolicy | None = None
) -> Harness:
    """A harness in `state` by the shortest ordinary path (under policy `rp`).

    `spawned=False` stops before the Spawned input in STARTING and STOPPING, for the
    rows about Spawned and SpawnFailed.
    """
    h = harness(rp)
    S = InstanceState
    if state is S.STARTING:
        h.feed(StartRequested())
        if spawned:
            h.feed(Spawned(100))
    elif state is S.RUNNING:
        h.run()
    elif state is S.BACKOFF:
        h.run().exit(1)
    elif state is S.STOPPING:
        if spawned:
            h.run().stop()
        else:
            h.feed(StartRequested())
            h.stop()
    elif state is S.EXITED:
        h.run().exit(0)
    elif state is S.FATAL:
        h.feed(StartRequested())
        h.fail_spawn()
    assert h.state is state, h.machine
    return h
