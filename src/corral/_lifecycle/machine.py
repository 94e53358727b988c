"""PURE: one instance of a program as a state machine: inputs in, state and actions out.

`InstanceMachine.apply(input, now, rand)` is the only way its state changes. It looks
up the row for (state, input) in the lifecycle table (rows.py), lets the row's
handler compute the next fields and actions, checks them against the row, and only
then commits them, in one assignment. It returns a `Step`: old and new state, the
actions the runtime must carry out in order, and a reason for the event log. No
clock, no randomness, no I/O: `now` (monotonic seconds) and `rand` (in [0, 1), for
backoff jitter) come in as arguments.
"""

from __future__ import annotations

from corral._lifecycle.fields import Fields
from corral._lifecycle.messages import Input, Step, TimerFired, input_kind
from corral._lifecycle.policy import RestartPolicy
from corral._lifecycle.rows import LIFECYCLE
from corral._lifecycle.states import InstanceState
from corral._lifecycle.table import Table
from corral._process.exit import Exit

__all__ = ["InstanceMachine"]

_EXPLAINED = frozenset({InstanceState.BACKOFF, InstanceState.EXITED, InstanceState.FATAL})


class InstanceMachine:
    """The state of one instance (`web:0`) and the only code that changes it: `apply`."""

    __slots__ = ("_fields", "_table")

    def __init__(
        self,
        name: str,
        policy: RestartPolicy,
        stop_timeout: float,
        *,
        now: float = 0.0,
        table: Table = LIFECYCLE,
    ) -> None:
        self._fields = Fields(name, policy, stop_timeout, since=now)
        self._table = table

    def apply(self, event: Input, now: float, rand: float = 0.5) -> Step:
        """Feed one input at monotonic time `now`; `rand` in [0, 1) spreads backoff delays.

        Raises RuntimeError, and changes nothing, if the handler's result is not one
        its row allows (a state outside its targets, an action it does not list).
        """
        fields = self._fields
        old = fields.state
        if isinstance(event, TimerFired):
            if fields.timer != (event.kind, event.token):
                reason = f"ignored a stale {event.kind} timer (token {event.token})"
                return Step(old, old, (), reason, ignored=True)
            fields = fields._replace(timer=None)
        row = self._table.transition(old, input_kind(event))
        result = row.handler(fields, event, now, rand)
        new = result.fields.state
        name = getattr(row.handler, "__name__", "the handler")
        if new not in row.targets:
            raise RuntimeError(f"{name} led to {new.name}, not {row.to.name}")
        stray = [type(a).__name__ for a in result.actions if type(a) not in row.actions]
        if stray:
            raise RuntimeError(f"{name} emitted {', '.join(stray)}, which its row does not list")
        fields = result.fields
        if new is not old:
            explained = result.reason if new in _EXPLAINED else None
            fields = fields._replace(since=now, reason=explained)
        self._fields = fields
        return Step(
            old, new, result.actions, result.reason, result.rejected, result.ignored, result.quiet
        )

    def update_policy(self, policy: RestartPolicy, stop_timeout: float) -> None:
        """Use a new policy from the next decision on; armed timers keep their delay."""
        self._fields = self._fields._replace(policy=policy, stop_timeout=stop_timeout)

    @property
    def fields(self) -> Fields:
        """Everything the machine knows, as one frozen record."""
        return self._fields

    @property
    def name(self) -> str:
        """The instance's name, `PROGRAM:INDEX`."""
        return self._fields.name

    @property
    def state(self) -> InstanceState:
        """The current state."""
        return self._fields.state

    @property
    def pid(self) -> int | None:
        """The process id while there is a process (STARTING, RUNNING, STOPPING)."""
        return self._fields.pid

    @property
    def since(self) -> float:
        """The `now` of the last change of state (or of creation)."""
        return self._fields.since

    @property
    def restarts(self) -> int:
        """Automatic restarts so far (manual starts are not counted)."""
        return self._fields.restarts

    @property
    def failures(self) -> int:
        """Consecutive failed starts; 0 once an instance reaches RUNNING."""
        return self._fields.failures

    @property
    def last_exit(self) -> Exit | None:
        """How the process last exited, if it ever did."""
        return self._fields.last_exit

    @property
    def reason(self) -> str | None:
        """Why the instance is FATAL, in BACKOFF or EXITED; None in other states."""
        return self._fields.reason

    @property
    def next_start_at(self) -> float | None:
        """When the pending restart happens (in BACKOFF), else None."""
        f = self._fields
        return f.next_start_at if f.state is InstanceState.BACKOFF else None

    @property
    def policy(self) -> RestartPolicy:
        """The restart policy in force."""
        return self._fields.policy

    @property
    def stop_timeout(self) -> float:
        """Seconds between the stop signal and SIGKILL."""
        return self._fields.stop_timeout

    def __repr__(self) -> str:
        f = self._fields
        pid = f" pid={f.pid}" if f.pid is not None else ""
        return f"<Instance {f.name} {f.state.name}{pid} restarts={f.restarts}>"
