"""PURE: the messages between an instance's state machine and the runtime that drives it.

Inputs go in (`InstanceMachine.apply`), actions come out inside a `Step`, and the
runtime carries them out in order. All are frozen values. An input's `InputKind`, the
key of its rows, is derived from its class (name and docstring), and for a timer
from its kind, so a new input is one class here and one name in `Input`.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, TypeAlias

from corral._lifecycle.states import InstanceState

__all__ = [
    "ACTIONS",
    "INPUT_KINDS",
    "Action",
    "ArmTimer",
    "CancelTimer",
    "Input",
    "InputKind",
    "KillGroup",
    "KillTree",
    "NotifiedReady",
    "NotifiedReloading",
    "NotifiedStopping",
    "ProbeFinished",
    "ProcessExited",
    "SendStopSignal",
    "Spawn",
    "SpawnFailed",
    "Spawned",
    "StartRequested",
    "Step",
    "StopRequested",
    "Sweep",
    "TimeoutExtended",
    "TimerFired",
    "TimerKind",
    "WatchdogPing",
    "input_kind",
    "kind_of",
    "timer",
]

TimerKind: TypeAlias = Literal["start", "backoff", "stop", "ready", "watchdog"]


# ---- inputs ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StartRequested:
    """A user, or autostart, asks for the instance to run."""


@dataclass(frozen=True, slots=True)
class StopRequested:
    """A user, a reload or the daemon's shutdown asks for the instance to stop."""


@dataclass(frozen=True, slots=True)
class Spawned:
    """The runtime spawned the process (right after a Spawn action); carries the pid."""

    pid: int
    """The new process's id (the leader of its group)."""


@dataclass(frozen=True, slots=True)
class SpawnFailed:
    """The spawn failed before anything ran: no such executable, a bad directory..."""

    reason: str
    """The spawn error's message; kept as the FATAL reason that status shows."""


@dataclass(frozen=True, slots=True)
class ProcessExited:
    """The process exited: its exit code or signal name, and whether the OOM killer did it."""

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
    """Which timer: start (start_seconds), backoff (restart delay), stop (stop_timeout),
    ready (ready_timeout), watchdog (the watchdog period)."""
    token: int
    """The token of the ArmTimer; a token that is not the current one is stale and ignored."""


@dataclass(frozen=True, slots=True)
class NotifiedReady:
    """The program said it is ready: `READY=1` (sd_notify) or a newline on its notification fd."""


@dataclass(frozen=True, slots=True)
class NotifiedReloading:
    """The program said it is reloading its configuration (`RELOADING=1`)."""


@dataclass(frozen=True, slots=True)
class NotifiedStopping:
    """The program said it is shutting down on its own (`STOPPING=1`)."""


@dataclass(frozen=True, slots=True)
class WatchdogPing:
    """The program said it is alive (`WATCHDOG=1`)."""


@dataclass(frozen=True, slots=True)
class TimeoutExtended:
    """The program asked for more time to get ready (`EXTEND_TIMEOUT_USEC=`)."""

    seconds: float
    """The start timeout fires no sooner than this many seconds from now."""


@dataclass(frozen=True, slots=True)
class ProbeFinished:
    """A health probe of the current process finished: passed or failed, and what it said."""

    ok: bool
    """It passed."""
    output: str
    """What it printed or why it failed (the model keeps the head)."""


Input: TypeAlias = (
    StartRequested
    | StopRequested
    | Spawned
    | SpawnFailed
    | ProcessExited
    | TimerFired
    | NotifiedReady
    | NotifiedReloading
    | NotifiedStopping
    | WatchdogPing
    | TimeoutExtended
    | ProbeFinished
)


@dataclass(frozen=True, slots=True)
class InputKind:
    """What a row reacts to: a class of input, and for a timer which one."""

    name: str
    """How docs/states.md names it: "ProcessExited", "TimerFired(start)"."""
    meaning: str
    """One line for docs/states.md."""


def kind_of(cls: type[Input]) -> InputKind:
    """The kind of every input of class `cls` (not TimerFired, whose kind says which timer)."""
    return _CLASS_KINDS[cls]


def timer(kind: TimerKind) -> InputKind:
    """The kind of a TimerFired input of the given timer."""
    return _TIMER_KINDS[kind]


def input_kind(event: Input) -> InputKind:
    """The row key of an input: its class, and for a timer its kind."""
    if isinstance(event, TimerFired):
        return _TIMER_KINDS[event.kind]
    return _CLASS_KINDS[type(event)]


def _meaning(cls: type) -> str:
    return " ".join((cls.__doc__ or "").split("\n\n", 1)[0].split())


_CLASS_KINDS: Mapping[type, InputKind] = {
    cls: InputKind(cls.__name__, _meaning(cls))
    for cls in typing.get_args(Input)
    if cls is not TimerFired
}
_TIMER_KINDS: Mapping[TimerKind, InputKind] = {
    "start": InputKind("TimerFired(start)", "`start_seconds` passed since the spawn."),
    "backoff": InputKind("TimerFired(backoff)", "The backoff delay passed."),
    "stop": InputKind("TimerFired(stop)", "`stop_timeout` passed since the stop signal."),
    "ready": InputKind("TimerFired(ready)", "`ready_timeout` passed and it has not said ready."),
    "watchdog": InputKind("TimerFired(watchdog)", "`watchdog` passed since the last ping."),
}
INPUT_KINDS: tuple[InputKind, ...] = (*_CLASS_KINDS.values(), *_TIMER_KINDS.values())
"""Every kind of input, in the order docs/states.md lists them (and rows are sorted)."""


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


@dataclass(frozen=True, slots=True)
class KillGroup:
    """SIGKILL the process group of the root that just exited: what is left in it dies too."""


@dataclass(frozen=True, slots=True)
class Sweep:
    """Kill what is left of the last tree (strays outside the group too), then let it go."""


Action: TypeAlias = Spawn | ArmTimer | CancelTimer | SendStopSignal | KillTree | KillGroup | Sweep

ACTIONS: tuple[type[Action], ...] = typing.get_args(Action)
"""Every kind of action, in the order docs/states.md lists them."""


# ---- results --------------------------------------------------------------------------


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
    quiet: bool = False
    """A routine input that only re-armed a timer (a watchdog ping): no state event."""

    @property
    def changed(self) -> bool:
        """Whether the state changed."""
        return self.old is not self.new
