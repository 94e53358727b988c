"""Operations: THE core API every client calls (HTTP API, CLI through it, dashboard).

Each method parses nothing and renders nothing: it takes plain arguments,
resolves targets, calls the Supervisor and returns plain dataclasses, which the
control layer turns into JSON. Errors are CorralError subclasses with messages
fit to show a user as they are.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

from corral._errors import InvalidSpec
from corral._observe.logs.tail import tail_lines
from corral._observe.sampling import Usage, tree_usage
from corral._platform import parse_signal, send_to_group, send_to_pid
from corral._supervisor.config.load import Config, load_config
from corral._supervisor.model.states import InstanceState
from corral._supervisor.model.targets import resolve_targets
from corral._supervisor.runtime.driver import STREAMS, InstanceDriver
from corral._supervisor.runtime.output import OVERFLOW
from corral._supervisor.runtime.supervisor import Outcome, Supervisor

_LIVE = frozenset({InstanceState.STARTING, InstanceState.RUNNING, InstanceState.STOPPING})


@dataclass(frozen=True, slots=True, kw_only=True)
class InstanceStatus:
    """What `status` reports for one instance."""

    name: str
    program: str
    state: str
    pid: int | None
    uptime: float | None
    """Seconds since it entered its current live state (None unless live)."""
    restarts: int
    last_exit: str | None
    """"exit 1", "SIGKILL", "OOM-killed (SIGKILL)" or None."""
    reason: str
    cpu_seconds: float | None
    cpu_percent: float | None
    """CPU use of the tree since the previous status query (None on the first)."""
    memory_rss: int | None
    processes: int | None
    limits: dict[str, object] | None = None
    """The sandbox limits applied to the current process (None without a sandbox)."""
    cgroup: dict[str, int | float | None] | None = None
    """Usage read from the instance's cgroup: memory_current, memory_peak, cpu_seconds,
    pids, oom_kills (None without cgroup limits)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ReloadReport:
    """What a reload changed."""

    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[str, ...]
    unchanged: tuple[str, ...]
    notes: tuple[str, ...] = ()


class Operations:
    """The daemon's operations, shared by every control surface."""

    def __init__(
        self, supervisor: Supervisor, *, on_shutdown: Callable[[], None], clock: Callable[[], float]
    ) -> None:
        self._sup = supervisor
        self._on_shutdown = on_shutdown
        self._clock = clock
        self._cpu_seen: dict[tuple[str, int], tuple[float, float]] = {}
        self._reloading = asyncio.Lock()

    def _resolve(self, targets: Sequence[str]) -> list[str]:
        if not targets:
            raise InvalidSpec("name at least one target: an instance (web:0), a program or all")
        return resolve_targets(targets, self._sup.programs)

    # -- queries ------------------------------------------------------------

    def status(self, targets: Sequence[str] = ()) -> list[InstanceStatus]:
        """Status of the named instances (all when none are named)."""
        names = self._resolve(targets) if targets else list(self._sup.drivers)
        drivers = [self._sup.drivers[n] for n in names]
        live = {
            d.name: d.machine.pid
            for d in drivers
            if d.machine.pid is not None and d.machine.state in _LIVE
        }
        usage = tree_usage(live)
        now = self._clock()
        rows = [self._status_of(d, usage.get(d.name), now) for d in drivers]
        if not targets:  # forget processes that are gone, so the table stays bounded
            self._cpu_seen = {k: v for k, v in self._cpu_seen.items() if live.get(k[0]) == k[1]}
        return rows

    def _status_of(self, driver: InstanceDriver, usage: Usage | None, now: float) -> InstanceStatus:
        machine = driver.machine
        live = machine.state in _LIVE
        cpu = None if usage is None else usage.cpu_seconds
        uptime = max(0.0, now - machine.since) if live else None
        percent = self._cpu_percent(driver.name, machine.pid, cpu, uptime)
        return InstanceStatus(
            name=driver.name,
            program=driver.program.name,
            state=machine.state.value,
            pid=machine.pid if live else None,
            uptime=uptime,
            restarts=machine.restarts,
            last_exit=None if machine.last_exit is None else machine.last_exit.describe(),
            reason=machine.reason or "",
            cpu_seconds=cpu,
            cpu_percent=percent,
            memory_rss=None if usage is None else usage.rss_bytes,
            processes=None if usage is None else usage.processes,
            limits=driver.limits(),
            cgroup=driver.cgroup_usage() if live else None,
        )

    def _cpu_percent(
        self, name: str, pid: int | None, cpu: float | None, uptime: float | None
    ) -> float | None:
        """CPU use since the previous query of this process, else its average since start."""
        if pid is None or cpu is None:
            return None
        now = time.monotonic()
        previous = self._cpu_seen.get((name, pid))
        self._cpu_seen[(name, pid)] = (now, cpu)
        if previous is not None and now > previous[0]:
            return round(100.0 * (cpu - previous[1]) / (now - previous[0]), 1)
        return round(100.0 * cpu / uptime, 1) if uptime else None

    # -- lifecycle ----------------------------------------------------------

    async def start(self, targets: Sequence[str]) -> list[Outcome]:
        """Start; returns when each instance is RUNNING or has failed."""
        return await self._sup.start(self._resolve(targets))

    async def stop(self, targets: Sequence[str]) -> list[Outcome]:
        """Stop; returns when each instance's tree is gone."""
        return await self._sup.stop(self._resolve(targets))

    async def restart(self, targets: Sequence[str]) -> list[Outcome]:
        """Stop, then start."""
        return await self._sup.restart(self._resolve(targets))

    def signal(self, sig: str, targets: Sequence[str]) -> list[Outcome]:
        """Send a signal to each named instance's process group."""
        number = parse_signal(sig)
        outcomes = []
        for name in self._resolve(targets):
            machine = self._sup.drivers[name].machine
            pid = machine.pid if machine.state in _LIVE else None
            sent = pid is not None and (send_to_group(pid, number) or send_to_pid(pid, number))
            message = f"sent {number.name}" if sent else f"not running ({machine.state.value})"
            outcomes.append(Outcome(name, sent, machine.state.value, message))
        return outcomes

    # -- logs -----------------------------------------------------------------

    def _log_target(self, target: str, stream: str) -> InstanceDriver:
        if stream not in STREAMS:
            raise InvalidSpec(f"stream must be stdout or stderr, got {stream!r}")
        names = self._resolve([target])
        if len(names) != 1:
            raise InvalidSpec(f"{target!r} names {len(names)} instances; name one, e.g. {names[0]}")
        return self._sup.drivers[names[0]]

    def logs(self, target: str, *, lines: int, stream: str = "stdout") -> list[bytes]:
        """The last `lines` lines of an instance's log."""
        driver = self._log_target(target, stream)
        return tail_lines(driver.log_paths[stream], lines, backups=driver.program.logs.backups)

    async def follow(self, target: str, *, stream: str = "stdout") -> AsyncIterator[bytes]:
        """New output of an instance as it is written, until the daemon stops it."""
        driver = self._log_target(target, stream)
        queue = driver.follow(stream)
        try:
            while (chunk := await queue.get()) is not None:
                if chunk is OVERFLOW:
                    yield b"\n[corral: follower fell behind; reconnect to continue]\n"
                    return
                yield chunk
        finally:
            driver.unfollow(stream, queue)

    # -- config and daemon ------------------------------------------------------

    async def reload(self) -> ReloadReport:
        """Re-read the config file; on error keep the running config and raise ConfigError."""
        async with self._reloading:
            config: Config = load_config(self._sup.config.path)
            notes = _daemon_notes(self._sup.config, config)
            plan = await self._sup.reload(config)
        return ReloadReport(
            added=plan.added,
            removed=plan.removed,
            changed=plan.changed,
            unchanged=plan.unchanged,
            notes=notes,
        )

    def shutdown(self) -> None:
        """Ask the daemon to stop every program and exit (returns at once)."""
        self._on_shutdown()


def _daemon_notes(old: Config, new: Config) -> tuple[str, ...]:
    if old.daemon == new.daemon:
        return ()
    return ("[daemon] settings changed; they take effect when the daemon restarts",)
