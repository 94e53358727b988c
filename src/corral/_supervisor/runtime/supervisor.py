"""Supervisor: every program's instances, started and stopped in priority order.

Start order is ascending `priority`, stop order descending, each priority group
finishing before the next begins stopping. Lifecycle calls return when every
instance they touched has finished its transition (or failed it).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from corral._errors import CorralError
from corral._lifecycle.messages import StartRequested, Step, StopRequested
from corral._lifecycle.states import InstanceState
from corral._observe.events import EventLog
from corral._observe.logs.directory import LogDirectory
from corral._platform.sandbox_names import lookup_group
from corral._process import tree as _tree
from corral._process.reaper import OwningReaper
from corral._supervisor.config.load import Config, DaemonSettings
from corral._supervisor.model.program import Program
from corral._supervisor.model.reload import ReloadPlan, diff_programs
from corral._supervisor.runtime.driver import InstanceDriver

S = InstanceState
_AFTER_START = frozenset({S.RUNNING, S.FATAL, S.EXITED, S.STOPPED})
_AFTER_STOP = frozenset({S.STOPPED, S.EXITED, S.FATAL})


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one instance ended up after a lifecycle request."""

    name: str
    ok: bool
    state: str
    message: str


class Supervisor:
    """Owns the drivers of every instance of every configured program."""

    def __init__(self, config: Config, *, events: EventLog, reaper: OwningReaper) -> None:
        self.config = config
        self.events = events
        self.reaper = reaper
        self.programs: dict[str, Program] = {}
        self.drivers: dict[str, InstanceDriver] = {}
        self.log_dir = _open_log_dir(config.daemon)
        """The log directory, held open: every instance's logs are opened through it."""
        for program in config.programs:
            self._add(program)

    def _add(self, program: Program) -> None:
        self.programs[program.name] = program
        for index in range(program.numprocs):
            driver = InstanceDriver(
                program,
                index,
                reaper=self.reaper,
                events=self.events,
                log_dir=self.log_dir,
            )
            self.drivers[driver.name] = driver

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

    async def start(self, names: Sequence[str]) -> list[Outcome]:
        """Start instances in priority order; return when each is RUNNING or has failed."""
        drivers = self.ordered(names)
        rejected = {d.name: _rejection(d.feed(StartRequested())) for d in drivers}
        await _Gate(drivers, _AFTER_START).done
        return [_start_outcome(d, rejected[d.name]) for d in drivers]

    async def stop(self, names: Sequence[str]) -> list[Outcome]:
        """Stop instances, highest priority number first; return when their trees are gone."""
        outcomes: list[Outcome] = []
        groups = itertools.groupby(reversed(self.ordered(names)), key=lambda d: d.program.priority)
        for _, group in groups:
            drivers = list(group)
            for driver in drivers:
                driver.feed(StopRequested())
            await _Gate(drivers, _AFTER_STOP).done
            for driver in drivers:  # sweeps run on their own; waiting in turn costs no time
                await driver.wait_swept()
            outcomes.extend(_stop_outcome(d) for d in drivers)
        return sorted(outcomes, key=lambda o: list(self.drivers).index(o.name))

    async def restart(self, names: Sequence[str]) -> list[Outcome]:
        """Stop, then start again."""
        await self.stop(names)
        return await self.start(names)

    async def start_autostart(self) -> list[Outcome]:
        """Start every instance of every autostart program."""
        names = [d.name for d in self.ordered() if d.program.autostart]
        return await self.start(names)

    async def shutdown(self) -> list[Outcome]:
        """Stop everything, then close logs and pumps."""
        outcomes = await self.stop(list(self.drivers))
        await asyncio.gather(*(d.close() for d in self.drivers.values()))
        self.log_dir.close()
        return outcomes

    # -- reload ---------------------------------------------------------------

    async def reload(self, config: Config) -> ReloadPlan:
        """Apply a new, already validated config as a diff of programs."""
        plan = diff_programs(self.programs, config.program_map())
        going = [d.name for d in self.ordered() if d.program.name in plan.removed + plan.changed]
        await self.stop(going)
        for name in going:
            await self.drivers.pop(name).close()
        for name in plan.removed + plan.changed:
            del self.programs[name]
        self.config = config
        fresh = config.program_map()
        for name in plan.added + plan.changed:
            self._add(fresh[name])
        self.drivers = {d.name: d for d in self.ordered()}
        starting = [
            d.name
            for d in self.ordered()
            if d.program.name in plan.added + plan.changed and d.program.autostart
        ]
        await self.start(starting)
        return plan


class _Gate:
    """`done` once each driver has been in one of `states`, checked at each of its changes.

    One future and one callback for the whole group: no task per instance.
    """

    __slots__ = ("_check", "_left", "_states", "done")

    def __init__(self, drivers: Iterable[InstanceDriver], states: frozenset[InstanceState]) -> None:
        self._states = states
        self._check = self._changed  # one bound method, shared by every driver
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._left = 0
        for driver in drivers:
            if driver.machine.state not in states:
                self._left += 1
                driver.call_at_next_change(self._check)
        if not self._left:
            self.done.set_result(None)

    def _changed(self, driver: InstanceDriver) -> None:
        if self.done.done():  # the waiting call was cancelled
            return
        if driver.machine.state not in self._states:
            driver.call_at_next_change(self._check)
            return
        self._left -= 1
        if not self._left:
            self.done.set_result(None)


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


def _stop_outcome(driver: InstanceDriver) -> Outcome:
    state = driver.machine.state
    return Outcome(driver.name, True, state.value, state.value)
