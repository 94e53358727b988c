"""Operations: THE core API every client calls (HTTP API, CLI through it, dashboard).

Each method parses nothing and renders nothing: it takes plain arguments,
resolves targets, calls the Supervisor and returns plain dataclasses, which the
control layer turns into JSON. Errors are CorralError subclasses with messages
fit to show a user as they are.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

from corral._errors import InvalidSpec
from corral._observe.logs.tail import tail_lines
from corral._observe.metrics.history import Point
from corral._observe.metrics.prometheus import Family
from corral._observe.sampling import Usage, tree_usage
from corral._platform import parse_signal, send_to_group, send_to_pid
from corral._supervisor.config.load import Config, load_config
from corral._supervisor.model.targets import resolve_targets
from corral._supervisor.runtime.driver import LIVE, STREAMS, InstanceDriver
from corral._supervisor.runtime.metrics import MetricsLoop
from corral._supervisor.runtime.output import OVERFLOW
from corral._supervisor.runtime.prometheus import families
from corral._supervisor.runtime.supervisor import Outcome, Supervisor


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
class InstanceMetrics:
    """One instance in `metrics`: its last sample (all None when it was not running)."""

    name: str
    program: str
    state: str
    cpu_percent: float | None
    """CPU use over the last sampling interval, 100 = one core."""
    cpu_seconds: float | None
    memory_rss: int | None
    processes: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricsReport:
    """What `metrics` reports: the last tick of the sampler."""

    interval: float
    """Seconds between samples; 0 when sampling is off."""
    taken_at: float | None
    """Wall-clock time of the last sample; None before the first (or when off)."""
    sample_seconds: float
    """How long the last tick took: the sampler's own cost."""
    daemon_cpu_percent: float | None
    daemon_memory_rss: int | None
    instances: list[InstanceMetrics]


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
        self,
        supervisor: Supervisor,
        *,
        metrics: MetricsLoop,
        on_shutdown: Callable[[], None],
        clock: Callable[[], float],
    ) -> None:
        self._sup = supervisor
        self._metrics = metrics
        self._on_shutdown = on_shutdown
        self._clock = clock
        self._reloading = asyncio.Lock()

    def _resolve(self, targets: Sequence[str]) -> list[str]:
        if not targets:
            raise InvalidSpec("name at least one target: an instance (web:0), a program or all")
        return resolve_targets(targets, self._sup.programs)

    # -- queries ------------------------------------------------------------

    def status(self, targets: Sequence[str] = ()) -> list[InstanceStatus]:
        """Status of the named instances (all when none are named)."""
        drivers = self._drivers(targets)
        live = {d.name: t for d in drivers if d.live_pid is not None and (t := d.tree) is not None}
        usage = tree_usage(live)
        now = self._clock()
        return [self._status_of(d, usage.get(d.name), now) for d in drivers]

    def _drivers(self, targets: Sequence[str]) -> list[InstanceDriver]:
        names = self._resolve(targets) if targets else list(self._sup.drivers)
        return [self._sup.drivers[n] for n in names]

    def _status_of(self, driver: InstanceDriver, usage: Usage | None, now: float) -> InstanceStatus:
        machine = driver.machine
        live = machine.state in LIVE
        cpu = None if usage is None else usage.cpu_seconds
        uptime = max(0.0, now - machine.since) if live else None
        percent = self._cpu_percent(driver.name, cpu, uptime)
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

    def _cpu_percent(self, name: str, cpu: float | None, uptime: float | None) -> float | None:
        """CPU use over the sampler's last interval, else the average since start."""
        if cpu is None:
            return None
        sample = self._metrics.latest.get(name)
        if sample is not None and sample.cpu_percent is not None:
            return sample.cpu_percent
        return round(100.0 * cpu / uptime, 1) if uptime else None

    def metrics(self, targets: Sequence[str] = ()) -> MetricsReport:
        """The sampler's last tick for the named instances (all when none are named)."""
        sampler = self._metrics
        rows = []
        for driver in self._drivers(targets):
            sample = sampler.latest.get(driver.name)
            rows.append(
                InstanceMetrics(
                    name=driver.name,
                    program=driver.program.name,
                    state=driver.machine.state.value,
                    cpu_percent=None if sample is None else sample.cpu_percent,
                    cpu_seconds=None if sample is None else sample.cpu_seconds,
                    memory_rss=None if sample is None else sample.rss_bytes,
                    processes=None if sample is None else sample.processes,
                )
            )
        own = sampler.daemon
        return MetricsReport(
            interval=sampler.settings.interval,
            taken_at=sampler.taken_at,
            sample_seconds=sampler.tick_seconds,
            daemon_cpu_percent=None if own is None else own.cpu_percent,
            daemon_memory_rss=None if own is None else own.rss_bytes,
            instances=rows,
        )

    def history(self, target: str) -> list[Point]:
        """The kept samples of one instance, oldest first."""
        return self._metrics.history.points(self._one(target).name)

    def prometheus(self) -> list[Family]:
        """Every metric family the Prometheus endpoint serves."""
        return families(self._sup, self._metrics, now=self._clock())

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
            driver = self._sup.drivers[name]
            machine, pid = driver.machine, driver.live_pid
            sent = pid is not None and (send_to_group(pid, number) or send_to_pid(pid, number))
            message = f"sent {number.name}" if sent else f"not running ({machine.state.value})"
            outcomes.append(Outcome(name, sent, machine.state.value, message))
        return outcomes

    # -- logs -----------------------------------------------------------------

    def _log_target(self, target: str, stream: str) -> InstanceDriver:
        if stream not in STREAMS:
            raise InvalidSpec(f"stream must be stdout or stderr, got {stream!r}")
        return self._one(target)

    def _one(self, target: str) -> InstanceDriver:
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
            self._metrics.reconfigure(config.metrics)
            self._metrics.forget_except(set(self._sup.drivers))
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
