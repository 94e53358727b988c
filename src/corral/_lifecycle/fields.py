"""PURE: everything an instance's machine knows, as one frozen record, and what a handler returns.

A handler of a row never changes the machine: it takes the current `Fields` and
returns a `Next` holding the fields it wants (built with `_replace`).
`InstanceMachine.apply` checks the row allows the result, then commits it in one
assignment, so a transition that is refused leaves nothing half done.

`Fields` is a NamedTuple rather than a frozen dataclass because every input of every
instance builds a few of them: `_replace` costs about a quarter of
`dataclasses.replace` on 14 fields (timeit on this machine; there are 18 now), and the
record is no larger. Its `_replace` is our own (below): the stock one left 136 bytes
behind for good at every input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from corral._lifecycle.health import Health
from corral._lifecycle.messages import Action, ArmTimer, CancelTimer, TimerKind
from corral._lifecycle.policy import RestartPolicy
from corral._lifecycle.states import InstanceState
from corral._process.exit import Exit

__all__ = ["Fields", "Next"]


class Fields(NamedTuple):
    """The state of one instance and every counter the rows read or change."""

    name: str
    """The instance's name, `PROGRAM:INDEX`."""
    policy: RestartPolicy
    """The restart policy in force."""
    stop_timeout: float
    """Seconds between the stop signal and SIGKILL."""
    state: InstanceState = InstanceState.STOPPED
    """The current state."""
    since: float = 0.0
    """The `now` of the last change of state (or of creation)."""
    pid: int | None = None
    """The process id while there is a process."""
    restarts: int = 0
    """Automatic restarts so far (manual starts are not counted)."""
    failures: int = 0
    """Consecutive failed starts; 0 once the instance reaches RUNNING."""
    starts: tuple[float, ...] = ()
    """Start times; each restart decision prunes them to the window, so at most burst + 1."""
    last_exit: Exit | None = None
    """How the process last exited, if it ever did."""
    reason: str | None = None
    """Why the instance is FATAL, in BACKOFF or EXITED; None in other states."""
    next_start_at: float | None = None
    """When the pending restart happens (kept while in BACKOFF)."""
    timer: tuple[TimerKind, int] | None = None
    """The armed timer (kind, token); a TimerFired that does not match it is stale."""
    last_token: int = 0
    """The token of the latest ArmTimer; each arming takes the next one."""
    ready_by: float | None = None
    """When the armed ready timer fires (`EXTEND_TIMEOUT_USEC=` may move it later)."""
    failing: str | None = None
    """Why a live process is being ended as failed (not ready in time, watchdog): its exit
    is then a failed start or a failure whatever its code."""
    phase: str | None = None
    """What the program last said it is doing, when not plain running: "reloading"
    (`RELOADING=1`, until `READY=1`) or "stopping" (`STOPPING=1`)."""
    health: Health | None = None
    """The health of the current (or last) process, with a health check; else None."""

    def arm(self, kind: TimerKind, delay: float) -> tuple[Fields, ArmTimer]:
        """These fields with a new timer armed, and the action that arms it."""
        token = self.last_token + 1
        armed = self._replace(timer=(kind, token), last_token=token)
        return armed, ArmTimer(kind, delay, token)

    def cancel(self) -> tuple[Fields, CancelTimer]:
        """These fields with no timer armed, and the action that cancels it."""
        return self._replace(timer=None), CancelTimer()


def _replace(self: Fields, /, **changes: Any) -> Fields:
    """`Fields._replace` as collections.namedtuple writes it, without its leak into a free list.

    The stock method builds the record from a map object, and CPython (3.11) first builds
    a plain tuple from that map by growing a shorter one; freed, that 14-item tuple goes
    to the interpreter's free list of 14-item tuples, which such a build never draws on.
    So every `_replace` kept 136 bytes until the list held 2,000 of them (200 instances
    held 217 KB once started). Built from a list, the temporary tuple is taken from that
    free list and goes back to it. Same result, same error for an unknown field.
    """
    values = list(map(changes.pop, self._fields, self))
    if changes:
        raise ValueError(f"Got unexpected field names: {list(changes)!r}")
    return tuple.__new__(Fields, values)


Fields._replace = _replace  # type: ignore[method-assign, assignment]  # NamedTuple forbids it in the body


@dataclass(frozen=True, slots=True)
class Next:
    """What a handler decided: the fields after the input (state included), actions, why."""

    fields: Fields
    """The machine's fields once the input is applied; `fields.state` is the next state."""
    actions: tuple[Action, ...]
    """What the runtime must do, in order."""
    reason: str
    """Human text for the event log."""
    rejected: str | None = None
    """Why the input is not allowed now; then the fields are the current ones."""
    ignored: bool = False
    """The input meant nothing in this state."""
    quiet: bool = False
    """A routine input that only re-armed a timer: the runtime emits no state event."""
