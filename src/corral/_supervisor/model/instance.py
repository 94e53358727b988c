"""PURE: one instance of a program as a state machine: inputs in, state and actions out.

`InstanceMachine.apply(input, now, rand)` is the only way its state changes. It looks
up the row for (state, input) in `states.TRANSITIONS`, runs the row's handler and
returns a `Step`: old and new state, the actions the runtime must carry out in
order, and a reason for the event log. No clock, no randomness, no I/O: `now`
(monotonic seconds) and `rand` (in [0, 1), for backoff jitter) come in as arguments.
The inputs, actions and results are defined in messages.py and re-exported here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeAlias

from corral._supervisor.model.messages import (
    Action,
    ArmTimer,
    CancelTimer,
    ExitInfo,
    Input,
    KillTree,
    ProcessExited,
    SendStopSignal,
    Spawn,
    Spawned,
    SpawnFailed,
    StartRequested,
    Step,
    StopRequested,
    TimerFired,
    TimerKind,
    input_kind,
)
from corral._supervisor.model.program import RestartPolicy
from corral._supervisor.model.states import Handler, InstanceState, transition

__all__ = [
    "Action",
    "ArmTimer",
    "CancelTimer",
    "ExitInfo",
    "Input",
    "InstanceMachine",
    "KillTree",
    "ProcessExited",
    "SendStopSignal",
    "Spawn",
    "SpawnFailed",
    "Spawned",
    "StartRequested",
    "Step",
    "StopRequested",
    "TimerFired",
    "TimerKind",
    "input_kind",
]

_S = InstanceState
_EXPLAINED = frozenset({_S.BACKOFF, _S.EXITED, _S.FATAL})


class InstanceMachine:
    """The state of one instance (`web:0`) and the only code that changes it: `apply`."""

    __slots__ = (
        "_failures",
        "_last_exit",
        "_last_token",
        "_name",
        "_next_start_at",
        "_pid",
        "_policy",
        "_reason",
        "_restarts",
        "_since",
        "_starts",
        "_state",
        "_stop_timeout",
        "_timer",
    )

    def __init__(
        self, name: str, policy: RestartPolicy, stop_timeout: float, *, now: float = 0.0
    ) -> None:
        self._name = name
        self._policy = policy
        self._stop_timeout = stop_timeout
        self._state = InstanceState.STOPPED
        self._since = now
        self._pid: int | None = None
        self._restarts = 0
        self._failures = 0
        self._starts: tuple[float, ...] = ()
        """Start times; each restart decision prunes them to the window, so at most burst + 1."""
        self._last_exit: ExitInfo | None = None
        self._reason: str | None = None
        self._next_start_at: float | None = None
        self._timer: tuple[TimerKind, int] | None = None
        self._last_token = 0

    def apply(self, event: Input, now: float, rand: float = 0.5) -> Step:
        """Feed one input at monotonic time `now`; `rand` in [0, 1) spreads backoff delays."""
        old = self._state
        if isinstance(event, TimerFired):
            if self._timer != (event.kind, event.token):
                reason = f"ignored a stale {event.kind} timer (token {event.token})"
                return Step(old, old, (), reason, ignored=True)
            self._timer = None
        row = transition(old, input_kind(event))
        step = _HANDLERS[row.handler](self, event, now, rand)
        if step.new not in row.targets:
            raise RuntimeError(f"{row.handler} led to {step.new.name}, not {row.to}")
        if step.changed:
            self._state = step.new
            self._since = now
            self._reason = step.reason if step.new in _EXPLAINED else None
        return step

    def update_policy(self, policy: RestartPolicy, stop_timeout: float) -> None:
        """Use a new policy from the next decision on; armed timers keep their delay."""
        self._policy = policy
        self._stop_timeout = stop_timeout

    @property
    def name(self) -> str:
        """The instance's name, `PROGRAM:INDEX`."""
        return self._name

    @property
    def state(self) -> InstanceState:
        """The current state."""
        return self._state

    @property
    def pid(self) -> int | None:
        """The process id while there is a process (STARTING, RUNNING, STOPPING)."""
        return self._pid

    @property
    def since(self) -> float:
        """The `now` of the last change of state (or of creation)."""
        return self._since

    @property
    def restarts(self) -> int:
        """Automatic restarts so far (manual starts are not counted)."""
        return self._restarts

    @property
    def failures(self) -> int:
        """Consecutive failed starts; 0 once an instance reaches RUNNING."""
        return self._failures

    @property
    def last_exit(self) -> ExitInfo | None:
        """How the process last exited, if it ever did."""
        return self._last_exit

    @property
    def reason(self) -> str | None:
        """Why the instance is FATAL, in BACKOFF or EXITED; None in other states."""
        return self._reason

    @property
    def next_start_at(self) -> float | None:
        """When the pending restart happens (in BACKOFF), else None."""
        return self._next_start_at if self._state is _S.BACKOFF else None

    @property
    def policy(self) -> RestartPolicy:
        """The restart policy in force."""
        return self._policy

    @property
    def stop_timeout(self) -> float:
        """Seconds between the stop signal and SIGKILL."""
        return self._stop_timeout

    def __repr__(self) -> str:
        pid = f" pid={self._pid}" if self._pid is not None else ""
        return f"<Instance {self._name} {self._state.name}{pid} restarts={self._restarts}>"

    # ---- handlers: one per `Handler`, each returns the Step; `apply` commits it ----

    def _on_start(self, event: Input, now: float, rand: float) -> Step:
        self._failures = 0
        self._starts = ()
        return self._spawn(now, (), "start requested")

    def _on_skip_backoff(self, event: Input, now: float, rand: float) -> Step:
        return self._spawn(now, (self._cancel(),), "start requested: backoff skipped")

    def _on_restart(self, event: Input, now: float, rand: float) -> Step:
        self._restarts += 1
        return self._spawn(now, (), f"restart {self._restarts}")

    def _on_reject(self, event: Input, now: float, rand: float) -> Step:
        if self._state is _S.STARTING:
            why = f"{self._name} is already STARTING"
        else:
            why = f"{self._name} is {self._state.name}; start it once it has stopped"
        return Step(self._state, self._state, (), why, rejected=why)

    def _on_nothing(self, event: Input, now: float, rand: float) -> Step:
        state = self._state.name
        if isinstance(event, StopRequested) and self._state is not _S.STOPPING:
            return self._stay(f"{self._name} is not running ({state})")
        return self._stay(f"{self._name} is already {state}")

    def _on_record_pid(self, event: Input, now: float, rand: float) -> Step:
        assert isinstance(event, Spawned)
        self._pid = event.pid
        seconds = self._policy.start_seconds
        if seconds == 0:
            self._failures = 0
            return self._to(_S.RUNNING, (), f"spawned pid {event.pid}; running")
        arm = self._arm("start", seconds)
        return self._stay(f"spawned pid {event.pid}; running once up {seconds:g} s", arm)

    def _on_signal_late_spawn(self, event: Input, now: float, rand: float) -> Step:
        assert isinstance(event, Spawned)
        self._pid = event.pid
        actions: tuple[Action, ...] = (SendStopSignal(),)
        if self._stop_timeout == 0:
            actions += (KillTree(),)
        return self._stay(f"spawned pid {event.pid} after the stop request", *actions)

    def _on_give_up(self, event: Input, now: float, rand: float) -> Step:
        assert isinstance(event, SpawnFailed)
        return self._to(_S.FATAL, (self._cancel(),), event.reason)

    def _on_nothing_started(self, event: Input, now: float, rand: float) -> Step:
        assert isinstance(event, SpawnFailed)
        return self._to(_S.STOPPED, (self._cancel(),), f"stopped; the spawn failed: {event.reason}")

    def _on_confirm_start(self, event: Input, now: float, rand: float) -> Step:
        self._failures = 0
        return self._to(_S.RUNNING, (), f"up {self._policy.start_seconds:g} s: running")

    def _on_failed_start(self, event: Input, now: float, rand: float) -> Step:
        exit_ = self._record_exit(event, now)
        self._failures += 1
        what = f"exited too quickly ({exit_.describe()})"
        if self._policy.mode == "never":
            return self._to(_S.EXITED, (self._cancel(),), f"{what}; restart is never")
        return self._restart_or_give_up(what, now, rand)

    def _on_exit(self, event: Input, now: float, rand: float) -> Step:
        exit_ = self._record_exit(event, now)
        expected = exit_.is_expected(self._policy.exit_codes)
        mode = self._policy.mode
        desc = exit_.describe()
        what = f"exited ({desc})" if expected else f"exited unexpectedly ({desc})"
        if mode == "always" or (mode == "on-failure" and not expected):
            return self._restart_or_give_up(what, now, rand)
        return self._to(_S.EXITED, (self._cancel(),), f"{what}; restart is {mode}")

    def _on_stop(self, event: Input, now: float, rand: float) -> Step:
        cancel, signal = self._cancel(), SendStopSignal()
        if self._stop_timeout == 0:
            return self._to(
                _S.STOPPING, (cancel, signal, KillTree()), "stop requested; SIGKILL now"
            )
        arm = self._arm("stop", self._stop_timeout)
        why = f"stop requested; SIGKILL in {self._stop_timeout:g} s if still running"
        return self._to(_S.STOPPING, (cancel, signal, arm), why)

    def _on_cancel_restart(self, event: Input, now: float, rand: float) -> Step:
        self._next_start_at = None
        return self._to(_S.STOPPED, (self._cancel(),), "stop requested: restart cancelled")

    def _on_kill(self, event: Input, now: float, rand: float) -> Step:
        why = f"still running {self._stop_timeout:g} s after the stop signal: SIGKILL"
        return self._stay(why, KillTree())

    def _on_stopped(self, event: Input, now: float, rand: float) -> Step:
        exit_ = self._record_exit(event, now)
        return self._to(_S.STOPPED, (self._cancel(),), f"stopped ({exit_.describe()})")

    def _on_ignore(self, event: Input, now: float, rand: float) -> Step:
        why = f"ignored {event} in {self._state.name}"
        return Step(self._state, self._state, (), why, ignored=True)

    # ---- helpers of the handlers ----

    def _restart_or_give_up(self, what: str, now: float, rand: float) -> Step:
        limit = self._policy.start_limit
        self._starts = tuple(t for t in self._starts if t > now - limit.interval)
        if len(self._starts) >= limit.burst:
            starts = f"{len(self._starts)} start{'s' if len(self._starts) != 1 else ''}"
            why = f"{what}; start limit hit: {starts} within {limit.interval:g} s"
            return self._to(_S.FATAL, (self._cancel(),), why)
        delay = self._policy.backoff.delay(self._failures or 1, rand)
        self._next_start_at = now + delay
        why = f"{what}; restart {self._restarts + 1} in {_seconds(delay)} s"
        return self._to(_S.BACKOFF, (self._arm("backoff", delay),), why)

    def _spawn(self, now: float, first: tuple[Action, ...], why: str) -> Step:
        self._starts = (*self._starts, now)
        self._pid = None
        self._next_start_at = None
        return self._to(_S.STARTING, (*first, Spawn()), why)

    def _record_exit(self, event: Input, now: float) -> ExitInfo:
        assert isinstance(event, ProcessExited)
        self._pid = None
        self._last_exit = ExitInfo(event.code, event.signal, event.oom, now)
        return self._last_exit

    def _arm(self, kind: TimerKind, delay: float) -> ArmTimer:
        self._last_token += 1
        self._timer = (kind, self._last_token)
        return ArmTimer(kind, delay, self._last_token)

    def _cancel(self) -> CancelTimer:
        self._timer = None
        return CancelTimer()

    def _to(self, new: InstanceState, actions: tuple[Action, ...], reason: str) -> Step:
        return Step(self._state, new, actions, reason)

    def _stay(self, reason: str, *actions: Action) -> Step:
        return Step(self._state, self._state, actions, reason)


def _seconds(value: float) -> str:
    """A delay for messages: "0.42", "3.5", "30", and small ones in full ("0.004")."""
    return f"{value:.2g}" if value < 0.1 else f"{value:.2f}".rstrip("0").rstrip(".")


_Handle: TypeAlias = Callable[[InstanceMachine, Input, float, float], Step]

_HANDLERS: Mapping[Handler, _Handle] = {
    Handler.START: InstanceMachine._on_start,
    Handler.SKIP_BACKOFF: InstanceMachine._on_skip_backoff,
    Handler.RESTART: InstanceMachine._on_restart,
    Handler.REJECT: InstanceMachine._on_reject,
    Handler.NOTHING: InstanceMachine._on_nothing,
    Handler.RECORD_PID: InstanceMachine._on_record_pid,
    Handler.SIGNAL_LATE_SPAWN: InstanceMachine._on_signal_late_spawn,
    Handler.GIVE_UP: InstanceMachine._on_give_up,
    Handler.NOTHING_STARTED: InstanceMachine._on_nothing_started,
    Handler.CONFIRM_START: InstanceMachine._on_confirm_start,
    Handler.FAILED_START: InstanceMachine._on_failed_start,
    Handler.EXIT: InstanceMachine._on_exit,
    Handler.STOP: InstanceMachine._on_stop,
    Handler.CANCEL_RESTART: InstanceMachine._on_cancel_restart,
    Handler.KILL: InstanceMachine._on_kill,
    Handler.STOPPED: InstanceMachine._on_stopped,
    Handler.IGNORE: InstanceMachine._on_ignore,
}
