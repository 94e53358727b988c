"""PURE: the messages between an instance's state machine and the runtime that drives it.

Inputs go in (`InstanceMachine.apply`), actions come out inside a `Step`, and the
runtime carries them out in order. All are frozen values; `instance.py` re-exports
them, so `corral._supervisor.model.instance` holds the whole API of the machine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, TypeAlias

from corral._supervisor.model.states import InputKind, InstanceState

__all__ = [
    "Action",
    "ArmTimer",
    "CancelTimer",
    "ExitInfo",
    "Input",
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

TimerKind: TypeAlias = Literal["start", "backoff", "stop"]


# ---- inputs ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StartRequested:
    """A user, or autostart, asks for the instance to run."""


@dataclass(frozen=True, slots=True)
class StopRequested:
    """A user, a reload or the daemon's shutdown asks for the instance to stop."""


@dataclass(frozen=True, slots=True)
class Spawned:
    """The runtime spawned the process; fed right after it carried out a Spawn action."""

    pid: int
    """The new process's id (the leader of its group)."""


@dataclass(frozen=True, slots=True)
class SpawnFailed:
    """The spawn failed before anything ran (no such executable, a bad directory...)."""

    reason: str
    """The spawn error's message; kept as the FATAL reason that status shows."""


@dataclass(frozen=True, slots=True)
class ProcessExited:
    """The process exited."""

    code: int | None
    """Exit code, or None when a signal ended it."""
    signal: str | None
    """Name of the signal that ended it ("SIGKILL"), or None."""
    oom: bool = False
    """The kernel's OOM killer ended it."""


@dataclass(frozen=True, slots=True)
class TimerFired:
    """A timer armed by an ArmTimer action fired."""

    kind: TimerKind
    """Which timer: start (start_seconds), backoff (restart delay), stop (stop_timeout)."""
    token: int
    """The token of the ArmTimer; a token that is not the current one is stale and ignored."""


Input: TypeAlias = (
    StartRequested | StopRequested | Spawned | SpawnFailed | ProcessExited | TimerFired
)

_KINDS: Mapping[type, InputKind] = {
    StartRequested: InputKind.START,
    StopRequested: InputKind.STOP,
    Spawned: InputKind.SPAWNED,
    SpawnFailed: InputKind.SPAWN_FAILED,
    ProcessExited: InputKind.EXITED,
}
_TIMER_KINDS: Mapping[TimerKind, InputKind] = {
    "start": InputKind.START_TIMER,
    "backoff": InputKind.BACKOFF_TIMER,
    "stop": InputKind.STOP_TIMER,
}


def input_kind(event: Input) -> InputKind:
    """The row key of an input: its type, and for a timer its kind."""
    if isinstance(event, TimerFired):
        return _TIMER_KINDS[event.kind]
    return _KINDS[type(event)]


# ---- actions --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Spawn:
    """Spawn the program's process, then feed back Spawned(pid) or SpawnFailed(reason)."""


@dataclass(frozen=True, slots=True)
class ArmTimer:
    """Arm the instance's timer; it replaces any earlier timer of this instance."""

    kind: TimerKind
    """Which timer; fed back as TimerFired(kind, token)."""
    delay: float
    """Seconds from now."""
    token: int
    """Identifies this arming; fed back with TimerFired."""


@dataclass(frozen=True, slots=True)
class CancelTimer:
    """Cancel the instance's timer, if one is armed."""


@dataclass(frozen=True, slots=True)
class SendStopSignal:
    """Send the program's stop signal to the instance's whole process tree."""


@dataclass(frozen=True, slots=True)
class KillTree:
    """Send SIGKILL to the instance's whole process tree."""


Action: TypeAlias = Spawn | ArmTimer | CancelTimer | SendStopSignal | KillTree


# ---- results --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExitInfo:
    """How and when the instance's process last exited."""

    code: int | None
    """Exit code, or None when a signal ended it."""
    signal: str | None
    """Name of the signal that ended it, or None."""
    oom: bool
    """The kernel's OOM killer ended it."""
    at: float
    """When the exit was seen (the `now` of that input)."""

    def describe(self) -> str:
        """ "exit 3", "SIGKILL" or "OOM-killed (SIGKILL)"."""
        if self.oom:
            return f"OOM-killed ({self.signal})" if self.signal else "OOM-killed"
        if self.signal is not None:
            return self.signal
        return f"exit {self.code}" if self.code is not None else "exit status unknown"

    def is_expected(self, exit_codes: frozenset[int]) -> bool:
        """Whether the exit counts as success: no signal, no OOM, code in `exit_codes`."""
        return self.signal is None and not self.oom and self.code in exit_codes


@dataclass(frozen=True, slots=True)
class Step:
    """What one input did: the state before and after, actions to carry out, and why."""

    old: InstanceState
    """State before the input."""
    new: InstanceState
    """State after the input."""
    actions: tuple[Action, ...]
    """What the runtime must do, in order (possibly something even when the state stays)."""
    reason: str
    """Human text for the event log, e.g. "exited too quickly (exit 1); restart 3 in 0.4 s"."""
    rejected: str | None = None
    """Why the input is not allowed now (e.g. "web:0 is STOPPING"); then nothing changed."""
    ignored: bool = False
    """The input meant nothing in this state (a stale timer, an exit with no process)."""

    @property
    def changed(self) -> bool:
        """Whether the state changed."""
        return self.old is not self.new
