"""Supervisor: every program's instances, started and stopped in priority order.

Start order is ascending `priority`, stop order descending, each priority group
finishing before the next begins stopping. Lifecycle calls return when every
instance they touched has finished its transition (or failed it).

Operations take turns (turns.py): a start, stop or restart resolves its targets
and acts inside a shared turn, a reload inside the exclusive one, so no operation
acts on an instance a reload is replacing; one that waited for a reload acts on
the new config (a program it removed is an unknown target). A reload is a
transaction: the new instances (and their log files) are all made before any old
one is stopped; if one cannot be made, those made are closed and the old config
runs on. After `shutdown` begins, nothing starts again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import itertools
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from corral._errors import CorralError
from corral._lifecycle.messages import StartRequested, Step, StopRequested
from corral._lifecycle.states import InstanceState
from corral._observe.events import Event, EventLog
from corral._observe.logs.directory import LogDirectory
from corral._platform.sandbox_names import lookup_group
from corral._process import tree as _tree
from corral._process.reaper import OwningReaper
from corral._supervisor.config.load import Config, DaemonSettings
from corral._supervisor.model.dependencies import start_layers, with_dependencies, with_dependents
from corral._supervisor.model.program import Program
from corral._supervisor.model.reload import ReloadPlan, diff_programs
from corral._supervisor.model.scale import Scaled, apply_scales, check_count
from corral._supervisor.model.targets import resolve_program, resolve_targets
from corral._supervisor.runtime.compat import compat_env
from corral._supervisor.runtime.driver import InstanceDriver
from corral._supervisor.runtime.keeper import KeeperHandover
from corral._supervisor.runtime.notify import notify_directory
from corral._supervisor.runtime.sockets import HeldSockets
from corral._supervisor.runtime.turns import Turns

S = InstanceState
_AFTER_START = frozenset({S.RUNNING, S.FATAL, S.EXITED, S.STOPPED})
_AFTER_STOP = frozenset({S.STOPPED, S.EXITED, S.FATAL})
SHUTTING_DOWN = "the daemon is shutting down"
_T = TypeVar("_T")
SLICE_SECONDS = 0.002
"""How long one request feeds its instances before the loop gets a turn (`_paced`)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one instance ended up after a lifecycle request."""

    name: str
    ok: bool
    state: str
    message: str


class Supervisor:
    """Owns the drivers of every instance of every configured program."""

    def __init__(
        self,
        config: Config,
        *,
        events: EventLog,
        reaper: OwningReaper,
        sockets: HeldSockets | None = None,
        keeper: KeeperHandover | None = None,
    ) -> None:
        self.config = config
        self.keeper = keeper
        """The handover to the keeper this daemon runs under (None: no keeper)."""
        self.sockets = sockets if sockets is not None else HeldSockets()
        """The `[sockets.NAME]` listeners (bound by the caller, which reports a failure)."""
        self.scales: dict[str, Scaled] = {}
        """Programs `scale` resized, by name (model/scale.py: kept while numprocs is `base`)."""
        self.events = events
        self.reaper = reaper
        self._turns = Turns()
        self._closing = False
        self.programs: dict[str, Program] = {}
        self.drivers: dict[str, InstanceDriver] = {}
        self.log_dir = _open_log_dir(config.daemon)
        """The log directory, held open: every instance's logs are opened through it.
        [daemon] settings take effect at the next daemon start, log_dir too."""
        for driver in self._build(config.programs):
            self.drivers[driver.name] = driver
        self.programs = {program.name: program for program in config.programs}
        self._reactions: set[asyncio.Task[list[Outcome]]] = set()
        events.subscribe(self._dependency_changed)

    def _build(self, programs: Iterable[Program]) -> list[InstanceDriver]:
        """The drivers of every instance of `programs`, log files open; all or none.

        If one cannot be made (no fd left, a log directory gone), the ones made are
        closed again and the error (a CorralError naming the log) is raised.
        """
        return self._build_instances((p, range(p.numprocs)) for p in programs)

    def _build_instances(
        self, wanted: Iterable[tuple[Program, Iterable[int]]]
    ) -> list[InstanceDriver]:
        """The drivers of the given instances of each program; all or none (see `_build`)."""
        built: list[InstanceDriver] = []
        make = functools.partial(
            InstanceDriver,
            reaper=self.reaper,
            events=self.events,
            log_dir=self.log_dir,
            notify_dir=notify_directory(self.config.daemon.socket),
            sockets=self.sockets,
            keeper=self.keeper,
        )
        try:
            for program, indexes in wanted:
                built.extend(
                    make(program, index, extra_env=compat_env(self.config, program, index))
                    for index in indexes
                )
        except BaseException:
            for driver in built:
                driver.discard()
            raise
        return built

    def ordered(self, names: Iterable[str] | None = None) -> list[InstanceDriver]:
        """Drivers in start order (priority, program name, index)."""
        chosen = self.drivers.values() if names is None else (self.drivers[n] for n in names)
        return sorted(chosen, key=lambda d: (d.program.priority, d.program.name, d.index))

    def live_trees(self) -> dict[str, _tree.Tree]:
        """Instance name -> process tree of every instance that has a process (for sampling).

        The tree names its members as stop finds them (root, group, marker, cgroup).
        """
        return {
            name: tree
            for name, d in self.drivers.items()
            if d.live_pid is not None and (tree := d.tree) is not None
        }

    # -- lifecycle ------------------------------------------------------------

    async def start(self, targets: Sequence[str]) -> list[Outcome]:
        """Start the instances `targets` name (instances, programs, all) in priority order;
        return when each is RUNNING or has failed."""
        async with self._turns.shared(self._waiting("start", targets)):
            return await self._start(self._resolve(targets))

    async def stop(self, targets: Sequence[str]) -> list[Outcome]:
        """Stop instances, highest priority number first; return when their trees are gone."""
        async with self._turns.shared(self._waiting("stop", targets)):
            return await self._stop(self._resolve(targets))

    async def restart(self, targets: Sequence[str]) -> list[Outcome]:
        """Stop, then start again (one turn: no reload comes in between)."""
        async with self._turns.shared(self._waiting("restart", targets)):
            names = self._resolve(targets)
            stopped = await self._stop(names)  # with the live programs that depend on them
            return await self._start([o.name for o in stopped])

    async def restart_rolling(self, targets: Sequence[str]) -> list[Outcome]:
        """Restart programs a few instances at a time, without taking them all down.

        For each program named (programs only, in start order), its instances go in
        batches of `max_unavailable`: a batch is stopped and started again, and the next
        batch is stopped only once this one is RUNNING (ready, with `notify`). An
        instance that fails to start stops the roll: the rest keep running, untouched,
        and their outcomes say why.
        """
        async with self._turns.shared(self._waiting("rolling restart", targets)):
            if not targets:
                raise CorralError("name at least one program to restart --rolling")
            chosen = {resolve_program(t, "restart --rolling", self.programs).name for t in targets}
            outcomes: list[Outcome] = []
            failed: str | None = None
            for program in (p for p in self.programs.values() if p.name in chosen):
                names = program.instance_names()
                for first in range(0, len(names), program.max_unavailable):
                    batch = names[first : first + program.max_unavailable]
                    if failed is not None:
                        why = f"not restarted: the rolling restart stopped at {failed}"
                        outcomes += [_refused(self.drivers[name], why) for name in batch]
                        continue
                    await self._stop_together(batch)  # the rest serve: dependents stay up
                    started = await self._start(batch)
                    outcomes += started
                    failed = next((o.name for o in started if not o.ok), None)
            return outcomes

    async def start_autostart(self) -> list[Outcome]:
        """Start every instance of every autostart program."""
        async with self._turns.shared(self._waiting("autostart", ())):
            return await self._start([d.name for d in self.ordered() if d.program.autostart])

    async def shutdown(self) -> list[Outcome]:
        """Stop everything, then close logs and pumps; nothing starts from now on.

        A reload under way finishes first (it starts nothing more); operations under
        way are not waited for: stopping their instances is what ends them.
        """
        self._closing = True
        await self._turns.until_no_exclusive()
        outcomes = await self._stop(list(self.drivers))
        for reaction in list(self._reactions):  # a dependency's failure being followed
            reaction.cancel()
        await asyncio.gather(*self._reactions, return_exceptions=True)
        await asyncio.gather(*(d.close() for d in self.drivers.values()))
        self.log_dir.close()
        self.sockets.close()
        if self.keeper is not None:  # every program stopped: the keeper exits with us
            self.keeper.bye()
        return outcomes

    def _resolve(self, targets: Sequence[str]) -> list[str]:
        return resolve_targets(targets, self.programs)

    def _waiting(self, what: str, targets: Sequence[str]) -> _Say:
        shown = " ".join(targets[:3]) + (" ..." if len(targets) > 3 else "")
        return _Say(self.events, f"{what} {shown}".rstrip() + " waits for the reload under way")

    async def _start(self, names: Sequence[str]) -> list[Outcome]:
        """Start `names`; with dependencies, what they need first, layer by layer."""
        if not any(program.depends_on for program in self.programs.values()):
            return await self._start_together(names)
        wanted = list(names)
        asked = {self.drivers[name].program.name for name in wanted}
        needed = with_dependencies(asked, self.programs)
        for name in sorted(needed - asked):  # a dependency comes whole (systemd's Requires=)
            wanted += self.programs[name].instance_names()
        by_program: dict[str, list[str]] = {}
        for name in wanted:
            by_program.setdefault(self.drivers[name].program.name, []).append(name)
        outcomes: dict[str, Outcome] = {}
        for layer in start_layers(needed, self.programs):
            batch: list[str] = []
            for program in layer:
                unmet = await self._unmet(self.programs[program])
                if unmet is None:
                    batch += by_program[program]
                    continue
                for name in by_program[program]:
                    outcomes[name] = _refused(self.drivers[name], f"not started: {unmet}")
            outcomes.update((o.name, o) for o in await self._start_together(batch))
        return [outcomes[d.name] for d in self.ordered(outcomes)]

    def _dependency_changed(self, event: Event) -> None:
        """A dependency failed (FATAL, BACKOFF, an unexpected exit): its running dependents
        follow `on_dependency_failure` (stop; restart once it is back; ignore)."""
        driver = self.drivers.get(event.subject) if event.kind == "state" else None
        if driver is None or self._closing:
            return
        new = driver.machine.state
        failed = new in (S.FATAL, S.BACKOFF) or (
            new is S.EXITED and not _meets(driver, "completed")
        )
        if not failed:
            return
        name = driver.program.name
        for program in self.programs.values():
            if program.on_dependency_failure == "ignore" or all(
                d != name for d, _ in program.depends_on
            ):
                continue
            live = [n for n in program.instance_names() if _live(self.drivers[n])]
            if live:
                self._react(self._follow_failure(program, live))

    async def _follow_failure(self, program: Program, live: list[str]) -> list[Outcome]:
        """Stop `live`; with "restart", start the program again once its dependencies are met."""
        stopped = await self.stop(live)
        if program.on_dependency_failure != "restart" or self._closing:
            return stopped
        if await self._unmet(program) is not None:  # waits while a dependency restarts
            return stopped
        return await self.start([program.name])

    def _react(self, work: Coroutine[Any, Any, list[Outcome]]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._reactions.add(task)
        task.add_done_callback(self._reactions.discard)

    async def _unmet(self, program: Program) -> str | None:
        """Why a dependency of `program` is not where it must be, or None when all are."""
        for dependency, condition in program.depends_on:
            drivers = self.ordered(self.programs[dependency].instance_names())
            await _Gate(drivers, _SETTLED[condition]).done
            for driver in drivers:
                if not _meets(driver, condition):
                    state = driver.machine.state.value
                    return f"dependency {driver.name} is {state}, not {condition}"
        return None

    async def _start_together(self, names: Sequence[str]) -> list[Outcome]:
        drivers = self.ordered(names)
        if self._closing:
            return [_refused(d, SHUTTING_DOWN) for d in drivers]
        rejected: dict[str, str | None] = {}
        async for driver in _paced(drivers):
            # A shutdown may begin while the loop has its turn: start nothing after it.
            closing = self._closing
            step = None if closing else driver.feed(StartRequested())
            rejected[driver.name] = SHUTTING_DOWN if closing else _rejection(step)
        await _Gate(drivers, _in(_AFTER_START)).done
        return [_start_outcome(d, rejected[d.name]) for d in drivers]

    async def _stop(self, names: Sequence[str]) -> list[Outcome]:
        """Stop `names`; with dependencies, the live instances that need them first."""
        if not any(program.depends_on for program in self.programs.values()):
            return await self._stop_together(names)
        asked = {self.drivers[name].program.name for name in names}
        wanted = set(names)
        for program in with_dependents(asked, self.programs) - asked:
            wanted.update(
                n for n in self.programs[program].instance_names() if _live(self.drivers[n])
            )
        outcomes: list[Outcome] = []
        for layer in reversed(
            start_layers({self.drivers[n].program.name for n in wanted}, self.programs)
        ):
            members = set(layer)
            outcomes += await self._stop_together(
                [n for n in wanted if self.drivers[n].program.name in members]
            )
        order = {name: index for index, name in enumerate(self.drivers)}
        return sorted(outcomes, key=lambda o: order[o.name])

    async def _stop_together(self, names: Sequence[str]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        groups = itertools.groupby(reversed(self.ordered(names)), key=lambda d: d.program.priority)
        for _, group in groups:
            drivers = list(group)
            async for driver in _paced(drivers):
                driver.feed(StopRequested())
            await _Gate(drivers, _in(_AFTER_STOP)).done
            for driver in drivers:  # sweeps run on their own; waiting in turn costs no time
                await driver.wait_swept()
            outcomes.extend(_stop_outcome(d) for d in drivers)
        order = {name: index for index, name in enumerate(self.drivers)}
        return sorted(outcomes, key=lambda o: order[o.name])

    def reopen_logs(self) -> int:
        """Reopen every instance's log files at their paths; returns how many."""
        return sum(driver.reopen_logs() for driver in self.drivers.values())

    # -- reload ---------------------------------------------------------------

    async def reload(self, config: Config) -> ReloadPlan:
        """Apply a new, already validated config as a diff of programs, all or nothing.

        Raises CorralError, with nothing changed, if a new instance cannot be made.
        """
        operations = _Say(self.events, "reload waits for the operations under way")
        async with self._turns.exclusive(operations):
            if self._closing:
                raise CorralError(f"cannot reload: {SHUTTING_DOWN}")
            fresh, scales = apply_scales(config.program_map(), self.scales)
            sockets = self.sockets.prepare(config)  # ConfigError: nothing changed
            rebound = [n for n, p in fresh.items() if sockets.rebound.intersection(p.sockets)]
            plan = diff_programs(self.programs, fresh, restart=rebound)
            try:
                built = self._build(fresh[name] for name in plan.added + plan.changed)
            except CorralError as exc:
                sockets.rollback()
                raise CorralError(f"reload refused, the running config is kept: {exc}") from exc
            leaving = set(plan.removed + plan.changed)
            going = [d.name for d in self.ordered() if d.program.name in leaving]
            await self._stop_together(going)  # only what changes: its dependents run on
            for name in going:
                await self.drivers.pop(name).close()
            sockets.commit()  # the old instances are gone: removed sockets close now
            self.drivers.update((driver.name, driver) for driver in built)
            self.drivers = {d.name: d for d in self.ordered()}
            self.programs = dict(fresh)
            self.scales = scales
            self.config = config
            await self._start([d.name for d in built if d.program.autostart])
        return plan

    # -- scale ----------------------------------------------------------------

    async def scale(self, name: str, count: int) -> list[Outcome]:
        """Run `count` instances of program `name`: new ones started, the highest stopped.

        Returns the outcome of each instance started or stopped. Exclusive, as a reload
        is: the set of instances changes.
        """
        async with self._turns.exclusive(_Say(self.events, "scale waits for the operations")):
            if self._closing:
                raise CorralError(f"cannot scale: {SHUTTING_DOWN}")
            program = resolve_program(name, "scale", self.programs)
            resized = dataclasses.replace(program, numprocs=check_count(count))
            self._remember_scale(resized)
            return await self._resize(program, resized)

    def _remember_scale(self, resized: Program) -> None:
        base = self.config.program_map()[resized.name].numprocs
        if resized.numprocs == base:
            self.scales.pop(resized.name, None)
        else:
            self.scales[resized.name] = Scaled(resized.numprocs, base)

    async def _resize(self, old: Program, new: Program) -> list[Outcome]:
        names = [old.instance_name(i) for i in range(new.numprocs, old.numprocs)]
        stopped = await self._stop_together(names) if names else []
        for name in names:
            await self.drivers.pop(name).close()
        built = self._build_instances([(new, range(old.numprocs, new.numprocs))])
        self._install(new, built)
        if built:
            return await self._start([d.name for d in built])
        return stopped

    def _install(self, program: Program, built: Iterable[InstanceDriver]) -> None:
        """`program` in force, its new drivers added; every driver of it holds the new spec."""
        self.programs[program.name] = program
        self.drivers.update((driver.name, driver) for driver in built)
        for driver in self.drivers.values():
            if driver.program.name == program.name:
                driver.program = program
        self.drivers = {d.name: d for d in self.ordered()}

    def restore_scales(self, scales: Mapping[str, Scaled]) -> None:
        """Before the first start: the scales a previous daemon's state file recorded,
        for the programs whose numprocs is still what it was then (the rest are dropped)."""
        resized, kept = apply_scales(self.programs, scales)
        for name in kept:
            old, new = self.programs[name], resized[name]
            for index in range(new.numprocs, old.numprocs):
                self.drivers.pop(old.instance_name(index)).discard()
            self._install(new, self._build_instances([(new, range(old.numprocs, new.numprocs))]))
        self.scales = kept


class _Say:
    """Emits one `daemon` event when called (an operation had to wait for its turn)."""

    __slots__ = ("_events", "_message")

    def __init__(self, events: EventLog, message: str) -> None:
        self._events = events
        self._message = message

    def __call__(self) -> None:
        self._events.emit("daemon", "", message=self._message)


async def _paced(drivers: Sequence[_T]) -> AsyncIterator[_T]:
    """Each driver in turn, giving the loop a turn whenever feeding took `SLICE_SECONDS`.

    A sandboxed start costs the parent a fork and its cgroup's files, a millisecond or
    more each: one request starting many must not hold log pumps and restarts.
    """
    began = time.perf_counter()
    for driver in drivers:
        yield driver
        if time.perf_counter() - began >= SLICE_SECONDS:
            await asyncio.sleep(0)
            began = time.perf_counter()


class _Gate:
    """`done` once `settled(driver)` has held for each driver, checked at each of its changes
    (of state, or of health).

    One future and one callback for the whole group: no task per instance.
    """

    __slots__ = ("_check", "_left", "_settled", "done")

    def __init__(
        self, drivers: Iterable[InstanceDriver], settled: Callable[[InstanceDriver], bool]
    ) -> None:
        self._settled = settled
        self._check = self._changed  # one bound method, shared by every driver
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._left = 0
        for driver in drivers:
            if not settled(driver):
                self._left += 1
                driver.call_at_next_change(self._check)
        if not self._left:
            self.done.set_result(None)

    def _changed(self, driver: InstanceDriver) -> None:
        if self.done.done():  # the waiting call was cancelled
            return
        if not self._settled(driver):
            driver.call_at_next_change(self._check)
            return
        self._left -= 1
        if not self._left:
            self.done.set_result(None)


def _in(states: frozenset[InstanceState]) -> Callable[[InstanceDriver], bool]:
    return lambda driver: driver.machine.state in states


def _health_settled(driver: InstanceDriver) -> bool:
    """Started and, with a health check, past its first verdict (or no longer live)."""
    health = driver.health
    state = driver.machine.state
    undecided = state is S.RUNNING and health is not None and health.state == "starting"
    return state in _AFTER_START and not undecided


def log_group_id(daemon: DaemonSettings) -> int:
    """The gid of `[daemon] log_group`; -1 (the daemon's own group) when unset or gone."""
    group = None if daemon.log_group is None else lookup_group(daemon.log_group)
    return -1 if group is None else group


def _open_log_dir(daemon: DaemonSettings) -> LogDirectory:
    """The [daemon] log_dir, open; its files 0640 with `log_group` (the daemon's own if unset)."""
    try:
        return LogDirectory(daemon.log_dir, group=log_group_id(daemon))
    except OSError as exc:
        raise CorralError(
            f"cannot open the log directory {daemon.log_dir}: {exc.strerror}"
        ) from exc


def _rejection(step: Step | None) -> str | None:
    """Why a start was refused; None if it was not, or if it was queued (never from here)."""
    return None if step is None else step.rejected


def _start_outcome(driver: InstanceDriver, rejected: str | None) -> Outcome:
    state = driver.machine.state
    ok = state is S.RUNNING
    message = rejected or driver.machine.reason or state.value
    return Outcome(driver.name, ok and rejected is None, state.value, message)


_COMPLETED = frozenset({S.EXITED, S.FATAL, S.STOPPED})
_SETTLED: dict[str, Callable[[InstanceDriver], bool]] = {
    "started": _in(_AFTER_START),
    "healthy": _health_settled,
    "completed": _in(_COMPLETED),
}
"""When a dependency's instance has settled enough for its condition to be judged."""


def _meets(driver: InstanceDriver, condition: str) -> bool:
    """Whether one instance of a dependency is where `condition` needs it."""
    state = driver.machine.state
    if condition == "completed":
        exit_ = driver.machine.last_exit
        codes = driver.program.restart.exit_codes
        return state is S.EXITED and exit_ is not None and exit_.is_expected(codes)
    if condition == "healthy" and (health := driver.health) is not None:
        return state is S.RUNNING and health.state == "healthy"
    return state is S.RUNNING


def _live(driver: InstanceDriver) -> bool:
    return driver.machine.state not in _AFTER_STOP


def _refused(driver: InstanceDriver, why: str) -> Outcome:
    return Outcome(driver.name, False, driver.machine.state.value, why)


def _stop_outcome(driver: InstanceDriver) -> Outcome:
    state = driver.machine.state
    return Outcome(driver.name, True, state.value, state.value)
