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
from corral._lifecycle.health import Health, counted
from corral._lifecycle.messages import (
    Action,
    ArmTimer,
    CancelTimer,
    Input,
    KillGroup,
    KillTree,
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
    "keep the pid; with `notify` arm the ready timer (`ready_timeout`), with a health "
    "check wait for its first pass, else arm the start timer (RUNNING at once if "
    "`start_seconds` is 0)",
    actions=(ArmTimer,),
)
def record_pid(f: Fields, event: Spawned, now: float, rand: float) -> Next:
    """Keep the pid; arm the ready or start timer, or declare RUNNING when `start_seconds` is 0."""
    f = f._replace(pid=event.pid)
    if f.policy.notify is not None:
        return _await_ready(f, now, event.pid)
    if f.policy.health is not None:
        return Next(f, (), f"spawned pid {event.pid}; running once a health probe passes")
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


# ---- readiness (notify) -------------------------------------------------------------------


def _await_ready(f: Fields, now: float, pid: int) -> Next:
    """STARTING until the program says it is ready, within `ready_timeout` if it is not 0."""
    seconds = f.policy.ready_timeout
    if seconds == 0:
        return Next(f, (), f"spawned pid {pid}; running once it says it is ready")
    f, arm = f._replace(ready_by=now + seconds).arm("ready", seconds)
    why = f"spawned pid {pid}; running once it says it is ready (within {seconds:g} s)"
    return Next(f, (arm,), why)


@row(
    S.STARTING,
    NotifiedReady,
    Decision.READINESS,
    "said ready: RUNNING; consecutive failures reset; arm the watchdog if it has one "
    "(ignored once it is being ended as not ready)",
    actions=(CancelTimer, ArmTimer),
)
def ready(f: Fields, event: NotifiedReady, now: float, rand: float) -> Next:
    """The program said it is ready: RUNNING, with its watchdog armed."""
    if f.failing is not None:
        return Next(f, (), f"ignored READY: {f.failing}", ignored=True)
    f, cancel = f._replace(failures=0, ready_by=None).cancel()
    f, watch = _watch(f)
    return _to(f, S.RUNNING, (cancel, *watch), "said it is ready: running")


@row(
    S.RUNNING,
    NotifiedReady,
    S.RUNNING,
    "ready again after `RELOADING=1`: the phase clears (else nothing)",
)
def ready_again(f: Fields, event: NotifiedReady, now: float, rand: float) -> Next:
    """READY=1 after a reload ends the reloading phase; a repeated READY=1 means nothing."""
    if f.phase != "reloading":
        return Next(f, (), "already ready", ignored=True)
    return Next(f._replace(phase=None), (), "said it is ready again after reloading")


@row(S.STARTING, NotifiedReloading, S.STARTING, "shown as reloading until `READY=1`")
@row(S.RUNNING, NotifiedReloading, S.RUNNING, "shown as reloading until `READY=1`")
def reloading(f: Fields, event: NotifiedReloading, now: float, rand: float) -> Next:
    """The program is reloading: a phase shown in status; the state stays."""
    return Next(f._replace(phase="reloading"), (), "said it is reloading")


@row(
    S.RUNNING,
    NotifiedStopping,
    S.RUNNING,
    "shown as stopping; the watchdog is disarmed (its exit is judged as any exit)",
    actions=(CancelTimer,),
)
def stopping_on_its_own(f: Fields, event: NotifiedStopping, now: float, rand: float) -> Next:
    """The program is shutting down on its own: a phase shown in status, no more pings."""
    if f.failing is not None or f.phase == "stopping":
        return Next(f, (), "said it is stopping", ignored=True)
    actions: tuple[Action, ...] = ()
    if f.timer is not None and f.timer[0] == "watchdog":
        f, cancel = f.cancel()
        actions = (cancel,)
    return Next(f._replace(phase="stopping"), actions, "said it is stopping")


@row(
    S.STARTING,
    TimeoutExtended,
    S.STARTING,
    "the ready timer fires no sooner than the time asked for from now",
    actions=(ArmTimer,),
)
def extend(f: Fields, event: TimeoutExtended, now: float, rand: float) -> Next:
    """Move the ready deadline later (never earlier), as systemd's EXTEND_TIMEOUT_USEC=."""
    wanted = now + max(event.seconds, 0.0)
    if f.ready_by is None or f.failing is not None or wanted <= f.ready_by:
        return Next(f, (), "timeout extension changes nothing", ignored=True)
    f, arm = f._replace(ready_by=wanted).arm("ready", wanted - now)
    return Next(f, (arm,), f"ready timeout extended: {event.seconds:g} s from now", quiet=True)


@row(
    S.STARTING,
    timer("ready"),
    S.STARTING,
    "not ready within `ready_timeout`: a failed start; stop signal to the tree, SIGKILL "
    "after `stop_timeout`; its exit goes to the restart decision",
    actions=(SendStopSignal, KillTree, ArmTimer),
)
def not_ready(f: Fields, event: TimerFired, now: float, rand: float) -> Next:
    """The program did not say ready in time: end it; its exit is a failed start."""
    return _end_as_failed(
        f._replace(ready_by=None), f"not ready within {f.policy.ready_timeout:g} s"
    )


@row(
    S.RUNNING,
    WatchdogPing,
    S.RUNNING,
    "`WATCHDOG=1`: re-arm the watchdog timer (no state event)",
    actions=(ArmTimer,),
)
def ping(f: Fields, event: WatchdogPing, now: float, rand: float) -> Next:
    """The program is alive: the watchdog period starts again."""
    if f.failing is not None or f.phase == "stopping" or not f.policy.watchdog:
        return Next(f, (), "ignored a watchdog ping", ignored=True)
    f, watch = _watch(f)
    return Next(f, watch, "watchdog ping", quiet=True)


@row(
    S.RUNNING,
    timer("watchdog"),
    S.RUNNING,
    "no `WATCHDOG=1` within `watchdog`: stop signal to the tree, SIGKILL after "
    "`stop_timeout`; its exit is a failure whatever its code",
    actions=(SendStopSignal, KillTree, ArmTimer),
)
def watchdog_expired(f: Fields, event: TimerFired, now: float, rand: float) -> Next:
    """No ping in the period: end the program as failed."""
    return _end_as_failed(f, f"no watchdog ping for {f.policy.watchdog:g} s")


@row(
    S.STARTING,
    timer("stop"),
    S.STARTING,
    "still running `stop_timeout` after being ended as failed: SIGKILL to the tree",
    actions=(KillTree,),
)
@row(
    S.RUNNING,
    timer("stop"),
    S.RUNNING,
    "still running `stop_timeout` after being ended as failed: SIGKILL to the tree",
    actions=(KillTree,),
)
def kill_failing(f: Fields, event: TimerFired, now: float, rand: float) -> Next:
    """The failing program ignored its stop signal: SIGKILL the whole tree."""
    return Next(f, (KillTree(),), f"{f.failing}; still running after the stop signal: SIGKILL")


def _end_as_failed(f: Fields, why: str) -> Next:
    """Stop signal to the tree (and SIGKILL later, or now); the exit will count as failed."""
    f = f._replace(failing=why)
    if f.stop_timeout == 0:
        return Next(f, (SendStopSignal(), KillTree()), f"{why}: SIGKILL")
    f, arm = f.arm("stop", f.stop_timeout)
    return Next(f, (SendStopSignal(), arm), f"{why}: stop signal, SIGKILL in {f.stop_timeout:g} s")


def _watch(f: Fields) -> tuple[Fields, tuple[ArmTimer, ...]]:
    """These fields with the watchdog armed, if the program has one."""
    if not f.policy.watchdog:
        return f, ()
    f, arm = f.arm("watchdog", f.policy.watchdog)
    return f, (arm,)


# ---- health ------------------------------------------------------------------------------


@row(
    S.STARTING,
    ProbeFinished,
    Decision.HEALTH,
    "count the result (Docker's rules); without `notify` the first pass makes it RUNNING; "
    "turning unhealthy acts by `on_unhealthy`: restart ends it as a failed start, stop "
    "stops it, none only reports",
    actions=(CancelTimer, SendStopSignal, KillTree, ArmTimer),
)
@row(
    S.RUNNING,
    ProbeFinished,
    Decision.HEALTH,
    "count the result (Docker's rules); turning unhealthy acts by `on_unhealthy`: restart "
    "ends it as failed whatever its exit code, stop stops it, none only reports",
    actions=(CancelTimer, SendStopSignal, KillTree, ArmTimer),
)
def probed(f: Fields, event: ProbeFinished, now: float, rand: float) -> Next:
    """Count one probe result; act when the instance turns unhealthy or first passes."""
    check = f.policy.health
    if check is None or f.health is None or f.failing is not None or f.phase == "stopping":
        return Next(f, (), "ignored a health probe result", ignored=True)
    before = f.health.state
    health = counted(f.health, check, event.ok, event.output, now)
    f = f._replace(health=health)
    if health.state == "unhealthy" and before != "unhealthy":
        return _unhealthy(f, health)
    if f.state is S.STARTING and health.state == "healthy" and f.policy.notify is None:
        f, cancel = f._replace(failures=0).cancel()
        return _to(f, S.RUNNING, (cancel,), "health probe passed: running")
    return Next(f, (), f"health probe {'passed' if event.ok else 'failed'}", quiet=True)


def _unhealthy(f: Fields, health: Health) -> Next:
    """The instance just turned unhealthy: restart it as failed, stop it, or only say so."""
    last = health.results[-1].output if health.results else ""
    why = f"unhealthy: {health.streak} health probes failed in a row"
    why += f" (last: {last})" if last else ""
    action = f.policy.on_unhealthy
    if action == "none":
        return Next(f, (), why)
    f, cancel = f.cancel()
    if action == "stop":
        return _stopping(f, (cancel,), f"{why}; on_unhealthy is stop")
    failed = _end_as_failed(f, why)
    return Next(failed.fields, (cancel, *failed.actions), failed.reason)


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
    failing = f.failing
    f, exit_ = _exited(f, event, now)
    f = f._replace(failures=f.failures + 1)
    what = f"exited too quickly ({exit_.describe()})"
    if failing is not None:
        what = f"{failing}; ended ({exit_.describe()})"
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
    failing = f.failing
    f, exit_ = _exited(f, event, now)
    expected = failing is None and exit_.is_expected(f.policy.exit_codes)
    mode, desc = f.policy.mode, exit_.describe()
    what = f"exited ({desc})" if expected else f"exited unexpectedly ({desc})"
    if failing is not None:
        what = f"{failing}; ended ({desc})"
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
    return _stopping(f, (cancel,), "stop requested")


def _stopping(f: Fields, first: tuple[Action, ...], why: str) -> Next:
    """STOPPING: the stop signal to the tree, and the stop timer armed (or SIGKILL now)."""
    if f.stop_timeout == 0:
        return _to(f, S.STOPPING, (*first, SendStopSignal(), KillTree()), f"{why}; SIGKILL now")
    f, arm = f.arm("stop", f.stop_timeout)
    why = f"{why}; SIGKILL in {f.stop_timeout:g} s if still running"
    return _to(f, S.STOPPING, (*first, SendStopSignal(), arm), why)


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
    health = None if f.policy.health is None else Health(started=now)
    f = f._replace(
        starts=(*f.starts, now),
        pid=None,
        next_start_at=None,
        failing=None,
        phase=None,
        health=health,
    )
    return _to(f, S.STARTING, (*first, Spawn()), why)


def _exited(f: Fields, event: ProcessExited, now: float) -> tuple[Fields, Exit]:
    exit_ = Exit(event.code, event.signal, event.oom, now)
    return f._replace(pid=None, last_exit=exit_, failing=None, phase=None), exit_


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
