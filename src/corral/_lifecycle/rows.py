"""PURE: the lifecycle table: every transition of an instance, each row on its handler.

Each handler below is decorated with the rows it carries out: in a state, on an
input, to a state (or a `Decision`), with the actions it may emit and one line for
docs/states.md. A handler computes the next `Fields` and the actions from the
current ones and never changes anything itself; `InstanceMachine.apply` checks the
result against the row and commits it. Policies the runtime once applied on its own
are actions here: the root's exit kills its group (`KillGroup`), and entering
STOPPED, EXITED, FATAL or BACKOFF sweeps what is left of the tree (`Sweep`).

docs/states.md is generated from this table (`python -m corral._lifecycle.doc >
docs/states.md`) and a test fails when it is stale.
"""

from __future__ import annotations

from corral._lifecycle.fields import Fields, Next
from corral._lifecycle.messages import (
    Action,
    ArmTimer,
    CancelTimer,
    Input,
    KillGroup,
    KillTree,
    ProcessExited,
    SendStopSignal,
    Spawn,
    Spawned,
    SpawnFailed,
    StartRequested,
    StopRequested,
    Sweep,
    TimerFired,
    timer,
)
from corral._lifecycle.states import Decision, InstanceState
from corral._lifecycle.table import Table, Transition
from corral._process.exit import Exit

__all__ = ["LIFECYCLE", "TRANSITIONS", "transition"]

S = InstanceState
_EXIT_ACTIONS = (KillGroup, CancelTimer, ArmTimer, Sweep)
_RESET = "spawn it; consecutive failures and the start-limit window reset"
_NOT_RUNNING = "not running: succeeds, does nothing"
_STOP = "stop signal to the tree; arm the stop timer"


def ignore(f: Fields, event: Input, now: float, rand: float) -> Next:
    """An input with no meaning in this state (a stale timer, an exit with no process)."""
    return Next(f, (), f"ignored {event} in {f.state.name}", ignored=True)


LIFECYCLE = Table(ignore=ignore)
"""The instance lifecycle: the daemon's instances follow it (and the pool's workers can)."""
row = LIFECYCLE.row


# ---- starting ---------------------------------------------------------------------------


@row(S.STOPPED, StartRequested, S.STARTING, _RESET, actions=(Spawn,))
@row(S.EXITED, StartRequested, S.STARTING, _RESET, actions=(Spawn,))
@row(S.FATAL, StartRequested, S.STARTING, _RESET, actions=(Spawn,))
def start(f: Fields, event: StartRequested, now: float, rand: float) -> Next:
    """Manual start from rest: reset failures and the start-limit window, then spawn."""
    return _spawn(f._replace(failures=0, starts=()), now, (), "start requested")


@row(
    S.BACKOFF,
    StartRequested,
    S.STARTING,
    "skip the wait: spawn it now",
    actions=(CancelTimer, Spawn),
)
def skip_backoff(f: Fields, event: StartRequested, now: float, rand: float) -> Next:
    """Cancel the backoff timer and spawn now."""
    f, cancel = f.cancel()
    return _spawn(f, now, (cancel,), "start requested: backoff skipped")


@row(S.BACKOFF, timer("backoff"), S.STARTING, "spawn it again; restarts + 1", actions=(Spawn,))
def restart(f: Fields, event: TimerFired, now: float, rand: float) -> Next:
    """Automatic restart after the backoff delay: spawn, count the restart."""
    f = f._replace(restarts=f.restarts + 1)
    return _spawn(f, now, (), f"restart {f.restarts}")


@row(S.STARTING, StartRequested, S.STARTING, "rejected: a start is under way")
@row(S.STOPPING, StartRequested, S.STOPPING, "rejected: wait until it has stopped")
def reject(f: Fields, event: StartRequested, now: float, rand: float) -> Next:
    """Refuse the request; nothing changes."""
    if f.state is S.STARTING:
        why = f"{f.name} is already STARTING"
    else:
        why = f"{f.name} is {f.state.name}; start it once it has stopped"
    return Next(f, (), why, rejected=why)


@row(S.STOPPED, StopRequested, S.STOPPED, "already stopped: succeeds, does nothing")
@row(S.RUNNING, StartRequested, S.RUNNING, "already running: succeeds, does nothing")
@row(S.STOPPING, StopRequested, S.STOPPING, "already stopping: does nothing")
@row(S.EXITED, StopRequested, S.EXITED, _NOT_RUNNING)
@row(S.FATAL, StopRequested, S.FATAL, _NOT_RUNNING)
def nothing(f: Fields, event: StartRequested | StopRequested, now: float, rand: float) -> Next:
    """The request is already met; succeed without acting."""
    if isinstance(event, StopRequested) and f.state is not S.STOPPING:
        return Next(f, (), f"{f.name} is not running ({f.state.name})")
    return Next(f, (), f"{f.name} is already {f.state.name}")


@row(
    S.STARTING,
    Spawned,
    Decision.SPAWN_OUTCOME,
    "keep the pid; arm the start timer (RUNNING at once if `start_seconds` is 0)",
    actions=(ArmTimer,),
)
def record_pid(f: Fields, event: Spawned, now: float, rand: float) -> Next:
    """Keep the pid; arm the start timer, or declare RUNNING when `start_seconds` is 0."""
    f = f._replace(pid=event.pid)
    seconds = f.policy.start_seconds
    if seconds == 0:
        return _to(f._replace(failures=0), S.RUNNING, (), f"spawned pid {event.pid}; running")
    f, arm = f.arm("start", seconds)
    return Next(f, (arm,), f"spawned pid {event.pid}; running once up {seconds:g} s")


@row(
    S.STARTING,
    SpawnFailed,
    S.FATAL,
    "nothing ran: give up with the spawn error as the reason; sweep the last tree",
    actions=(CancelTimer, Sweep),
)
def give_up(f: Fields, event: SpawnFailed, now: float, rand: float) -> Next:
    """The spawn failed: FATAL with its reason."""
    return _rest(f, S.FATAL, (), event.reason)


@row(
    S.STARTING,
    timer("start"),
    S.RUNNING,
    "up for `start_seconds`: started; consecutive failures reset to 0",
)
def confirm_start(f: Fields, event: TimerFired, now: float, rand: float) -> Next:
    """The start timer fired: RUNNING; consecutive failures reset."""
    why = f"up {f.policy.start_seconds:g} s: running"
    return _to(f._replace(failures=0), S.RUNNING, (), why)


# ---- exits ------------------------------------------------------------------------------


@row(
    S.STARTING,
    ProcessExited,
    Decision.RESTART,
    "a failed start: consecutive failures + 1, then the restart decision; SIGKILL its group",
    actions=_EXIT_ACTIONS,
)
def failed_start(f: Fields, event: ProcessExited, now: float, rand: float) -> Next:
    """Count a failed start, then make the restart decision."""
    f, exit_ = _exited(f, event, now)
    f = f._replace(failures=f.failures + 1)
    what = f"exited too quickly ({exit_.describe()})"
    if f.policy.mode == "never":
        return _rest(f, S.EXITED, (KillGroup(),), f"{what}; restart is never")
    return _restart_or_give_up(f, what, now, rand)


@row(
    S.RUNNING,
    ProcessExited,
    Decision.RESTART,
    "expected or not by `exit_codes`, then the restart decision by `restart`; SIGKILL its group",
    actions=_EXIT_ACTIONS,
)
def exited(f: Fields, event: ProcessExited, now: float, rand: float) -> Next:
    """Classify the exit as expected or not, then make the restart decision."""
    f, exit_ = _exited(f, event, now)
    expected = exit_.is_expected(f.policy.exit_codes)
    mode, desc = f.policy.mode, exit_.describe()
    what = f"exited ({desc})" if expected else f"exited unexpectedly ({desc})"
    if mode == "always" or (mode == "on-failure" and not expected):
        return _restart_or_give_up(f, what, now, rand)
    return _rest(f, S.EXITED, (KillGroup(),), f"{what}; restart is {mode}")


# ---- stopping ---------------------------------------------------------------------------


@row(
    S.STARTING,
    StopRequested,
    S.STOPPING,
    _STOP,
    actions=(CancelTimer, SendStopSignal, KillTree, ArmTimer),
)
@row(
    S.RUNNING,
    StopRequested,
    S.STOPPING,
    _STOP,
    actions=(CancelTimer, SendStopSignal, KillTree, ArmTimer),
)
def stop(f: Fields, event: StopRequested, now: float, rand: float) -> Next:
    """Send the stop signal and arm the stop timer (or SIGKILL at once)."""
    f, cancel = f.cancel()
    if f.stop_timeout == 0:
        return _to(
            f, S.STOPPING, (cancel, SendStopSignal(), KillTree()), "stop requested; SIGKILL now"
        )
    f, arm = f.arm("stop", f.stop_timeout)
    why = f"stop requested; SIGKILL in {f.stop_timeout:g} s if still running"
    return _to(f, S.STOPPING, (cancel, SendStopSignal(), arm), why)


@row(
    S.BACKOFF,
    StopRequested,
    S.STOPPED,
    "cancel the pending restart; sweep the last tree",
    actions=(CancelTimer, Sweep),
)
def cancel_restart(f: Fields, event: StopRequested, now: float, rand: float) -> Next:
    """Cancel the pending restart."""
    return _rest(f._replace(next_start_at=None), S.STOPPED, (), "stop requested: restart cancelled")


@row(
    S.STOPPING,
    Spawned,
    S.STOPPING,
    "spawned after the stop request: keep the pid, send it the stop signal",
    actions=(SendStopSignal, KillTree),
)
def signal_late_spawn(f: Fields, event: Spawned, now: float, rand: float) -> Next:
    """Keep the pid of a process spawned after a stop request, and signal it."""
    actions: tuple[Action, ...] = (SendStopSignal(),)
    if f.stop_timeout == 0:
        actions += (KillTree(),)
    return Next(
        f._replace(pid=event.pid), actions, f"spawned pid {event.pid} after the stop request"
    )


@row(
    S.STOPPING,
    SpawnFailed,
    S.STOPPED,
    "nothing ran, nothing to stop; sweep the last tree",
    actions=(CancelTimer, Sweep),
)
def nothing_started(f: Fields, event: SpawnFailed, now: float, rand: float) -> Next:
    """The spawn failed while stopping: STOPPED."""
    return _rest(f, S.STOPPED, (), f"stopped; the spawn failed: {event.reason}")


@row(
    S.STOPPING,
    ProcessExited,
    S.STOPPED,
    "stopped; cancel the stop timer; SIGKILL its group, sweep the tree",
    actions=(KillGroup, CancelTimer, Sweep),
)
def stopped(f: Fields, event: ProcessExited, now: float, rand: float) -> Next:
    """Record the exit; the instance is stopped."""
    f, exit_ = _exited(f, event, now)
    return _rest(f, S.STOPPED, (KillGroup(),), f"stopped ({exit_.describe()})")


@row(
    S.STOPPING,
    timer("stop"),
    S.STOPPING,
    "still running after `stop_timeout`: SIGKILL to the whole tree",
    actions=(KillTree,),
)
def kill(f: Fields, event: TimerFired, now: float, rand: float) -> Next:
    """SIGKILL the whole tree."""
    why = f"still running {f.stop_timeout:g} s after the stop signal: SIGKILL"
    return Next(f, (KillTree(),), why)


# ---- what the handlers share --------------------------------------------------------------


def _spawn(f: Fields, now: float, first: tuple[Action, ...], why: str) -> Next:
    f = f._replace(starts=(*f.starts, now), pid=None, next_start_at=None)
    return _to(f, S.STARTING, (*first, Spawn()), why)


def _exited(f: Fields, event: ProcessExited, now: float) -> tuple[Fields, Exit]:
    exit_ = Exit(event.code, event.signal, event.oom, now)
    return f._replace(pid=None, last_exit=exit_), exit_


def _restart_or_give_up(f: Fields, what: str, now: float, rand: float) -> Next:
    """BACKOFF with the delay armed, or FATAL at the start limit; the exit killed the group.

    BACKOFF sweeps the old tree too: the restart replaces it, and a stray left outside
    the group (setsid, double fork) would otherwise run on untracked.
    """
    limit = f.policy.start_limit
    f = f._replace(starts=tuple(t for t in f.starts if t > now - limit.interval))
    if len(f.starts) >= limit.burst:
        starts = f"{len(f.starts)} start{'s' if len(f.starts) != 1 else ''}"
        why = f"{what}; start limit hit: {starts} within {limit.interval:g} s"
        return _rest(f, S.FATAL, (KillGroup(),), why)
    delay = f.policy.backoff.delay(f.failures or 1, rand)
    f, arm = f._replace(next_start_at=now + delay).arm("backoff", delay)
    why = f"{what}; restart {f.restarts + 1} in {_seconds(delay)} s"
    return _to(f, S.BACKOFF, (KillGroup(), Sweep(), arm), why)


def _rest(f: Fields, state: InstanceState, first: tuple[Action, ...], why: str) -> Next:
    """Into STOPPED, EXITED or FATAL: cancel the timer, sweep what is left of the tree."""
    f, cancel = f.cancel()
    return _to(f, state, (*first, cancel, Sweep()), why)


def _to(f: Fields, state: InstanceState, actions: tuple[Action, ...], why: str) -> Next:
    return Next(f._replace(state=state), actions, why)


def _seconds(value: float) -> str:
    """A delay for messages: "0.42", "3.5", "30", and small ones in full ("0.004")."""
    return f"{value:.2g}" if value < 0.1 else f"{value:.2f}".rstrip("0").rstrip(".")


LIFECYCLE.seal()
TRANSITIONS: tuple[Transition, ...] = LIFECYCLE.rows
"""Every row, by state then input: the order docs/states.md shows them in."""
transition = LIFECYCLE.transition
