"""PURE: the states of a supervised instance and the one table of their transitions.

Every transition is a row of `TRANSITIONS`: in a state, on a kind of input, go to a
next state (or to one of a few states, a `Decision` made when the input arrives) by
running a handler of `InstanceMachine`, which `InstanceMachine.apply` looks up here.
A (state, input) pair with no row is ignored. docs/states.md is generated from this
module (`python -m corral._supervisor.model.states > docs/states.md`) and a test
fails when it is stale.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "TRANSITIONS",
    "Decision",
    "Handler",
    "InputKind",
    "InstanceState",
    "Transition",
    "render_markdown",
    "transition",
]


class InstanceState(enum.Enum):
    """Where one instance of a program is in its life: the states supervisord users know."""

    STOPPED = "STOPPED"
    """Not running and not meant to be: never started, or stopped on request."""
    STARTING = "STARTING"
    """Spawned; it counts as started once it has stayed up for `start_seconds`."""
    RUNNING = "RUNNING"
    """Up for at least `start_seconds`."""
    BACKOFF = "BACKOFF"
    """Exited; waits out the backoff delay, then is started again."""
    STOPPING = "STOPPING"
    """Sent the stop signal; SIGKILL goes to its whole tree when `stop_timeout` passes."""
    EXITED = "EXITED"
    """Exited, and the restart policy says not to start it again."""
    FATAL = "FATAL"
    """Given up: it could not be spawned, or it hit the start limit; waits for a manual start."""


class InputKind(enum.Enum):
    """What an instance reacts to; each kind of timer counts as an input of its own."""

    START = "StartRequested"
    """A user, or autostart, asks for the instance to run."""
    STOP = "StopRequested"
    """A user, a reload or the daemon's shutdown asks for the instance to stop."""
    SPAWNED = "Spawned"
    """The runtime spawned the process (right after a Spawn action); carries the pid."""
    SPAWN_FAILED = "SpawnFailed"
    """The spawn failed before anything ran: no such executable, a bad directory..."""
    EXITED = "ProcessExited"
    """The process exited: its exit code or signal name, and whether the OOM killer did it."""
    START_TIMER = "TimerFired(start)"
    """`start_seconds` passed since the spawn."""
    BACKOFF_TIMER = "TimerFired(backoff)"
    """The backoff delay passed."""
    STOP_TIMER = "TimerFired(stop)"
    """`stop_timeout` passed since the stop signal."""


class Decision(enum.Enum):
    """A next state chosen when the input arrives, among a few."""

    SPAWN_OUTCOME = "spawn outcome"
    """RUNNING at once when `start_seconds` is 0, else STARTING until the start timer fires."""
    RESTART = "restart decision"
    """BACKOFF if the policy restarts and the start limit allows; FATAL at the start limit;
    EXITED if the policy does not restart."""

    @property
    def states(self) -> tuple[InstanceState, ...]:
        """The states this decision can lead to."""
        return _DECISION_STATES[self]


_DECISION_STATES: Mapping[Decision, tuple[InstanceState, ...]] = {
    Decision.SPAWN_OUTCOME: (InstanceState.STARTING, InstanceState.RUNNING),
    Decision.RESTART: (InstanceState.BACKOFF, InstanceState.FATAL, InstanceState.EXITED),
}


class Handler(enum.Enum):
    """The function of `InstanceMachine` that carries out a row (the machine maps each one)."""

    START = "start"
    """Manual start from rest: reset failures and the start-limit window, then spawn."""
    SKIP_BACKOFF = "skip backoff"
    """Cancel the backoff timer and spawn now."""
    RESTART = "restart"
    """Automatic restart after the backoff delay: spawn, count the restart."""
    REJECT = "reject"
    """Refuse the request; nothing changes."""
    NOTHING = "nothing"
    """The request is already met; succeed without acting."""
    RECORD_PID = "record pid"
    """Keep the pid; arm the start timer, or declare RUNNING when `start_seconds` is 0."""
    SIGNAL_LATE_SPAWN = "signal late spawn"
    """Keep the pid of a process spawned after a stop request, and signal it."""
    GIVE_UP = "give up"
    """The spawn failed: FATAL with its reason."""
    NOTHING_STARTED = "nothing started"
    """The spawn failed while stopping: STOPPED."""
    CONFIRM_START = "confirm start"
    """The start timer fired: RUNNING; consecutive failures reset."""
    FAILED_START = "failed start"
    """Count a failed start, then make the restart decision."""
    EXIT = "exit"
    """Classify the exit as expected or not, then make the restart decision."""
    STOP = "stop"
    """Send the stop signal and arm the stop timer (or SIGKILL at once)."""
    CANCEL_RESTART = "cancel restart"
    """Cancel the pending restart."""
    KILL = "kill"
    """SIGKILL the whole tree."""
    STOPPED = "stopped"
    """Record the exit; the instance is stopped."""
    IGNORE = "ignore"
    """An input with no meaning in this state (a stale timer, an exit with no process)."""


@dataclass(frozen=True, slots=True)
class Transition:
    """One row: in `state`, on `input`, run `handler`, which leads to `to`."""

    state: InstanceState
    """The state the row applies in."""
    input: InputKind
    """The kind of input the row reacts to."""
    to: InstanceState | Decision
    """The next state, or the decision that picks it."""
    handler: Handler
    """What `InstanceMachine` does."""
    description: str
    """One line for docs/states.md."""

    @property
    def targets(self) -> tuple[InstanceState, ...]:
        """Every state this row can lead to."""
        return self.to.states if isinstance(self.to, Decision) else (self.to,)


_S = InstanceState
_I = InputKind
_T = Transition

# fmt: off
TRANSITIONS: tuple[Transition, ...] = (
    _T(_S.STOPPED, _I.START, _S.STARTING, Handler.START,
       "spawn it; consecutive failures and the start-limit window reset"),
    _T(_S.STOPPED, _I.STOP, _S.STOPPED, Handler.NOTHING,
       "already stopped: succeeds, does nothing"),
    _T(_S.STARTING, _I.START, _S.STARTING, Handler.REJECT, "rejected: a start is under way"),
    _T(_S.STARTING, _I.STOP, _S.STOPPING, Handler.STOP,
       "stop signal to the tree; arm the stop timer"),
    _T(_S.STARTING, _I.SPAWNED, Decision.SPAWN_OUTCOME, Handler.RECORD_PID,
       "keep the pid; arm the start timer (RUNNING at once if `start_seconds` is 0)"),
    _T(_S.STARTING, _I.SPAWN_FAILED, _S.FATAL, Handler.GIVE_UP,
       "nothing ran: give up with the spawn error as the reason"),
    _T(_S.STARTING, _I.EXITED, Decision.RESTART, Handler.FAILED_START,
       "a failed start: consecutive failures + 1, then the restart decision"),
    _T(_S.STARTING, _I.START_TIMER, _S.RUNNING, Handler.CONFIRM_START,
       "up for `start_seconds`: started; consecutive failures reset to 0"),
    _T(_S.RUNNING, _I.START, _S.RUNNING, Handler.NOTHING,
       "already running: succeeds, does nothing"),
    _T(_S.RUNNING, _I.STOP, _S.STOPPING, Handler.STOP,
       "stop signal to the tree; arm the stop timer"),
    _T(_S.RUNNING, _I.EXITED, Decision.RESTART, Handler.EXIT,
       "expected or not by `exit_codes`, then the restart decision by `restart`"),
    _T(_S.BACKOFF, _I.START, _S.STARTING, Handler.SKIP_BACKOFF, "skip the wait: spawn it now"),
    _T(_S.BACKOFF, _I.STOP, _S.STOPPED, Handler.CANCEL_RESTART, "cancel the pending restart"),
    _T(_S.BACKOFF, _I.BACKOFF_TIMER, _S.STARTING, Handler.RESTART, "spawn it again; restarts + 1"),
    _T(_S.STOPPING, _I.START, _S.STOPPING, Handler.REJECT, "rejected: wait until it has stopped"),
    _T(_S.STOPPING, _I.STOP, _S.STOPPING, Handler.NOTHING, "already stopping: does nothing"),
    _T(_S.STOPPING, _I.SPAWNED, _S.STOPPING, Handler.SIGNAL_LATE_SPAWN,
       "spawned after the stop request: keep the pid, send it the stop signal"),
    _T(_S.STOPPING, _I.SPAWN_FAILED, _S.STOPPED, Handler.NOTHING_STARTED,
       "nothing ran, nothing to stop"),
    _T(_S.STOPPING, _I.EXITED, _S.STOPPED, Handler.STOPPED, "stopped; cancel the stop timer"),
    _T(_S.STOPPING, _I.STOP_TIMER, _S.STOPPING, Handler.KILL,
       "still running after `stop_timeout`: SIGKILL to the whole tree"),
    _T(_S.EXITED, _I.START, _S.STARTING, Handler.START,
       "spawn it; consecutive failures and the start-limit window reset"),
    _T(_S.EXITED, _I.STOP, _S.EXITED, Handler.NOTHING, "not running: succeeds, does nothing"),
    _T(_S.FATAL, _I.START, _S.STARTING, Handler.START,
       "spawn it; consecutive failures and the start-limit window reset"),
    _T(_S.FATAL, _I.STOP, _S.FATAL, Handler.NOTHING, "not running: succeeds, does nothing"),
)
# fmt: on

del _S, _I, _T


def _index(rows: tuple[Transition, ...]) -> dict[tuple[InstanceState, InputKind], Transition]:
    table: dict[tuple[InstanceState, InputKind], Transition] = {}
    for row in rows:
        key = (row.state, row.input)
        if key in table:
            raise RuntimeError(f"two transitions for {row.state.name} + {row.input.value}")
        table[key] = row
    return table


_TABLE = _index(TRANSITIONS)


def transition(state: InstanceState, kind: InputKind) -> Transition:
    """The row for `kind` in `state`; a pair with no row gets an IGNORE row (no change)."""
    row = _TABLE.get((state, kind))
    if row is None:
        return Transition(state, kind, state, Handler.IGNORE, "ignored")
    return row


def render_markdown() -> str:
    """The whole text of docs/states.md, generated from the enums and the table."""
    from corral._supervisor.model.states_doc import render

    return render(InstanceState, InputKind, Decision, TRANSITIONS)


if __name__ == "__main__":
    import importlib
    import sys

    # Render from the imported module, not this `__main__` copy, whose classes
    # `inspect` cannot find the source of when run in-process (runpy).
    module = importlib.import_module("corral._supervisor.model.states")
    sys.stdout.write(module.render_markdown())
