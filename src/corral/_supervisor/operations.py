"""Operations: THE core API every client calls (HTTP API, CLI through it, dashboard).

Each method parses nothing and renders nothing: it takes plain arguments,
resolves targets, calls the Supervisor and returns plain dataclasses, which the
control layer turns into JSON. Errors are CorralError subclasses with messages
fit to show a user as they are.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from corral._errors import CorralError, InvalidSpec, SpawnError
from corral._lifecycle.states import InstanceState
from corral._observe.metrics.history import Point
from corral._observe.metrics.prometheus import Family
from corral._observe.metrics.sampler import Sample
from corral._observe.sampling import OFF_LOOP_TREES, Usage, tree_usage
from corral._platform import (
    ProcessInfo,
    inspect_processes,
    parse_signal,
    process_credentials,
    send_to_group,
    send_to_pid,
    tree_members,
)
from corral._supervisor.config.load import Config, load_config
from corral._supervisor.model.reload import ReloadPlan, diff_programs
from corral._supervisor.model.scale import Scaled, apply_scales, check_count
from corral._supervisor.model.targets import ALL, resolve_targets
from corral._supervisor.runtime.alerts import AlertRunner
from corral._supervisor.runtime.driver import STREAMS, InstanceDriver
from corral._supervisor.runtime.metrics import MetricsLoop, Watcher
from corral._supervisor.runtime.prometheus import families
from corral._supervisor.runtime.snapshot import (
    inspect_view,
    instance_view,
    security_view,
    tree_view,
)
from corral._supervisor.runtime.supervisor import Outcome, Supervisor
from corral._supervisor.view import (
    AlertsView,
    DaemonView,
    InspectView,
    InstanceView,
    SamplerView,
    SecurityView,
    StatusView,
    TreeView,
)
from corral._version import VERSION

if TYPE_CHECKING:
    from corral._process.tree import Tree


_ASSUMED_UMASK = 0o022
"""The daemon's umask where /proc does not show it (reading it with umask(2) would
change it for a moment under the threads that create log files)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ReloadReport:
    """What a reload changed."""

    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[str, ...]
    unchanged: tuple[str, ...]
    notes: tuple[str, ...] = ()


VIEW_SLICE = 200
"""Instance views built per loop turn by a large `status`."""

FELL_BEHIND = b"\n[corral: follower fell behind; reconnect to continue]\n"
"""The last line a `logs -f` reader gets when it fell 1 MiB behind and was cut off."""


class Operations:
    """The daemon's operations, shared by every control surface."""

    def __init__(
        self,
        supervisor: Supervisor,
        *,
        metrics: MetricsLoop,
        on_shutdown: Callable[[], None],
        clock: Callable[[], float],
        on_reload: Callable[[str], None] | None = None,
        alerts: AlertRunner | None = None,
    ) -> None:
        """`on_reload` is told "reloading" before a reload and "reloaded" after it (taken
        or refused): the daemon tells its own service manager."""
        self._sup = supervisor
        self._on_reload = on_reload
        self._metrics = metrics
        self._alerts = alerts
        self._on_shutdown = on_shutdown
        self._clock = clock
        self._reloading = asyncio.Lock()
        self._started = clock()
        self._tree_views: dict[str, tuple[Tree, TreeView]] = {}

    def _resolve(self, targets: Sequence[str]) -> list[str]:
        return resolve_targets(self._targets(targets), self._sup.programs)

    @staticmethod
    def _targets(targets: Sequence[str]) -> Sequence[str]:
        """The targets, unless there are none (the Supervisor resolves them in its turn)."""
        if not targets:
            raise InvalidSpec("name at least one target: an instance (web:0), a program or all")
        return targets

    # -- queries ------------------------------------------------------------

    async def status(self, targets: Sequence[str] = ()) -> StatusView:
        """The daemon and the named instances (all when none are named), measured now.

        With `OFF_LOOP_TREES` trees or more, the /proc scan runs in a worker thread
        (its reads release the GIL, so the loop runs between them) and the views are
        built in slices: status of a thousand instances held the loop 110 ms.
        """
        drivers = self._drivers(targets)
        # Every live tree, even for one target: a process in another instance's group is
        # then claimed by that group, not read for a marker (environ is the dear read).
        only = {d.name for d in drivers} if targets else None
        trees = self._sup.live_trees()
        if len(trees) < OFF_LOOP_TREES:
            return self._view(drivers, usage=tree_usage(trees, only), cgroup=True)
        usage = await asyncio.to_thread(tree_usage, trees, only)
        now, samples = self._clock(), self._metrics.latest
        instances: list[InstanceView] = []
        for start in range(0, len(drivers), VIEW_SLICE):
            if start:
                await asyncio.sleep(0)
            part = drivers[start : start + VIEW_SLICE]
            instances += self._rows(part, usage=usage, cgroup=True, now=now, samples=samples)
        return StatusView(daemon=self._daemon(now), instances=tuple(instances))

    def snapshot(self) -> StatusView:
        """The daemon and every instance without fresh measurements (the sampler's last
        tick only): what `metrics`, the Prometheus endpoint and the state file read."""
        return self._view(list(self._sup.drivers.values()), usage={}, cgroup=False)

    def trees(self) -> dict[str, TreeView]:
        """Instance name -> process tree of every instance that has one (the state file).

        Only the trees' part of the views: the file is rewritten on every change of
        state, on the loop, so a restart storm of a thousand instances must stay cheap.
        A tree's view is made once and handed out again while the tree is the same, so
        the checkpoint remakes only the entries of trees that changed.
        """
        kept, views = self._tree_views, {}
        for name, driver in self._sup.drivers.items():
            tree = driver.tree
            if tree is None:
                continue
            held = kept.get(name)
            views[name] = held if held is not None and held[0] is tree else (tree, tree_view(tree))
        self._tree_views = views
        return {name: view for name, (_, view) in views.items()}

    async def inspect(self, target: str) -> InspectView:
        """One snapshot of an instance's process tree (`corral inspect`), read off the loop.

        Each member is read from /proc in a worker thread: a tree of many processes,
        each with many fds, takes milliseconds per process.
        """
        driver = self._one(target)
        tree = driver.tree if driver.live_pid is not None else None

        def read() -> tuple[list[ProcessInfo], dict[str, int | float | None] | None]:
            if tree is None:
                return [], None
            members = tree_members([tree])[0]
            pids = sorted((m.pid for m in members), key=lambda pid: (pid != tree.root, pid))
            usage = driver.cgroup_usage()
            return inspect_processes(pids), usage

        processes, cgroup = await asyncio.to_thread(read)
        notes = ("Python stacks are not taken: py-spy support is not built yet",)
        return inspect_view(driver, processes, cgroup=cgroup, notes=notes)

    async def security(self, target: str) -> SecurityView:
        """How exposed one instance is (`corral security`), read off the loop: each check
        from its live processes where the kernel shows it (the most exposed member of
        the tree decides), from its sandbox spec otherwise."""
        from corral._sandbox.exposure import Observed, assess, observe, weakest  # when asked

        driver = self._one(target)
        tree = driver.tree if driver.live_pid is not None else None
        sandbox = driver.program.process.sandbox
        namespaces = None if sandbox is None else sandbox.namespaces
        init = namespaces is not None and namespaces.init
        notes: list[str] = []

        def read() -> tuple[Observed | None, int]:
            try:
                daemon = process_credentials("self")
            except CorralError:  # no /proc here: every check comes from the spec
                notes.append("this system has no /proc: every check is read from the config")
                return None, _ASSUMED_UMASK
            umask = _ASSUMED_UMASK if daemon.umask is None else daemon.umask
            if tree is None:
                return None, umask
            pids = [m.pid for m in tree_members([tree])[0]]
            if init and tree.root in pids:  # corral's own init: it only reaps and relays
                pids.remove(tree.root)
                notes.append(
                    f"pid {tree.root} is corral's init in the program's pid namespace: it "
                    "runs as the daemon's user with only CAP_KILL and no_new_privs, to reap "
                    "and relay signals, and is not scored"
                )
            seen = []
            for pid in pids:
                with contextlib.suppress(OSError):  # exited meanwhile
                    seen.append(observe(process_credentials(pid), daemon))
            return weakest(seen), umask

        observed, umask = await asyncio.to_thread(read)
        found = assess(sandbox, observed, daemon_uid=os.geteuid(), daemon_umask=umask)
        pid = driver.live_pid if observed is not None else None
        return security_view(driver, found, pid, notes)

    def apparmor_profile(self, target: str) -> tuple[str, str]:
        """The program `target` names (a program or one of its instances) and an
        AppArmor profile derived from its sandbox spec, attached to the executable its
        instances run (`corral sandbox profile --apparmor`)."""
        from corral._process.spawn import executable
        from corral._sandbox.apparmor import apparmor_profile  # only when asked

        program = self._sup.drivers[self._resolve([target])[0]].program
        spec = program.instance_process(0)
        try:
            path: str | None = os.path.realpath(executable(spec))
        except SpawnError:
            path = None
        return program.name, apparmor_profile(program.name, path, spec.sandbox)

    def _drivers(self, targets: Sequence[str]) -> list[InstanceDriver]:
        names = self._resolve(targets) if targets else list(self._sup.drivers)
        return [self._sup.drivers[n] for n in names]

    def _view(
        self, drivers: Sequence[InstanceDriver], *, usage: Mapping[str, Usage], cgroup: bool
    ) -> StatusView:
        now, samples = self._clock(), self._metrics.latest
        instances = self._rows(drivers, usage=usage, cgroup=cgroup, now=now, samples=samples)
        return StatusView(daemon=self._daemon(now), instances=tuple(instances))

    @staticmethod
    def _rows(
        drivers: Sequence[InstanceDriver],
        *,
        usage: Mapping[str, Usage],
        cgroup: bool,
        now: float,
        samples: Mapping[str, Sample],
    ) -> list[InstanceView]:
        return [
            instance_view(
                d, now=now, usage=usage.get(d.name), sample=samples.get(d.name), cgroup=cgroup
            )
            for d in drivers
        ]

    def _daemon(self, now: float) -> DaemonView:
        counts = Counter(driver.machine.state for driver in self._sup.drivers.values())
        states = {state.value: counts[state] for state in InstanceState}
        sampler, own = self._metrics, self._metrics.daemon
        return DaemonView(
            version=VERSION,
            pid=os.getpid(),
            uptime=round(max(0.0, now - self._started), 3),
            config=self._sup.config.path,
            states=states,
            sampler=SamplerView(
                interval=sampler.settings.interval,
                taken_at=sampler.taken_at,
                sample_seconds=sampler.tick_seconds,
                daemon_cpu_percent=None if own is None else own.cpu_percent,
                daemon_memory_rss=None if own is None else own.rss_bytes,
            ),
            sockets=self._sup.sockets.views(self._sup.programs.values()),
        )

    def metrics(self, targets: Sequence[str] = ()) -> StatusView:
        """The sampler's last tick for the named instances (all when none are named)."""
        return self._view(self._drivers(targets), usage={}, cgroup=False)

    def history(self, target: str) -> list[Point]:
        """The kept samples of one instance, oldest first."""
        return self._metrics.history.points(self._one(target).name)

    def alerts(self) -> AlertsView:
        """The alerts firing now (`corral alerts`), and how their actions have fared."""
        if self._alerts is None:
            return AlertsView(rules=0, firing=(), actions={})
        return self._alerts.view()

    def watch_metrics(self, watcher: Watcher) -> Callable[[], None]:
        """Hand `watcher` every later tick of the sampler; returns how to stop."""
        return self._metrics.watch(watcher, host=True)

    def prometheus(self) -> list[Family]:
        """Every metric family the Prometheus endpoint serves."""
        return families(self.snapshot(), wall=time.time())

    # -- lifecycle ----------------------------------------------------------

    async def start(self, targets: Sequence[str]) -> list[Outcome]:
        """Start; returns when each instance is RUNNING or has failed."""
        return await self._sup.start(self._targets(targets))

    async def stop(self, targets: Sequence[str]) -> list[Outcome]:
        """Stop; returns when each instance's tree is gone."""
        return await self._sup.stop(self._targets(targets))

    async def restart(self, targets: Sequence[str], *, rolling: bool = False) -> list[Outcome]:
        """Stop, then start; `rolling`: program by program, a batch at a time."""
        if rolling:
            return await self._sup.restart_rolling(self._targets(targets))
        return await self._sup.restart(self._targets(targets))

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
        from corral._observe.logs.tail import tail_lines  # for `logs` only, not held at rest

        driver = self._log_target(target, stream)
        return tail_lines(driver.log_paths[stream], lines, backups=driver.program.logs.backups)

    async def follow(self, target: str, *, stream: str = "stdout") -> AsyncIterator[bytes]:
        """New output of an instance as it is written, until the daemon stops it."""
        driver = self._log_target(target, stream)
        follower = driver.follow(stream)
        try:
            while chunk := await follower.take():
                yield chunk
            if follower.cut_off:
                yield FELL_BEHIND
        finally:
            driver.unfollow(stream, follower)

    async def scale(self, program: str, count: int) -> list[Outcome]:
        """Run `count` instances of `program` (1 to MAX_INSTANCES): new ones are started,
        the highest-numbered stopped; returns when each started or stopped one is done.

        An instance or "all" is an InvalidSpec. Kept across reloads that leave the
        program's numprocs as it was, and across a daemon restart (the state file).
        """
        outcomes = await self._sup.scale(program, check_count(count))
        self._metrics.forget_except(set(self._sup.drivers))
        return outcomes

    def scales(self) -> Mapping[str, Scaled]:
        """The programs `scale` resized, for the state file."""
        return dict(self._sup.scales)

    def log_path(self, target: str, stream: str = "stdout") -> str:
        """The file an instance's stream is written to (rotated ones are PATH.1, ...)."""
        return self._log_target(target, stream).log_paths[stream]

    def clear_logs(self, target: str) -> str:
        """Empty both current log files of one instance; returns its name."""
        driver = self._one(target)
        driver.clear_logs()
        return driver.name

    def reopen_logs(self) -> int:
        """Reopen every instance's log files at their paths (after logrotate moved them).

        Returns how many were reopened.
        """
        return self._sup.reopen_logs()

    # -- config and daemon ------------------------------------------------------

    async def reload(self) -> ReloadReport:
        """Re-read the config file; on error keep the running config and raise ConfigError."""
        async with self._reloading:
            if self._on_reload is not None:
                self._on_reload("reloading")
            try:
                config: Config = load_config(self._sup.config.path)
                notes = _daemon_notes(self._sup.config, config)
                plan = await self._sup.reload(config)
                self._metrics.reconfigure(config.metrics)
                self._metrics.forget_except(set(self._sup.drivers))
                if self._alerts is not None:
                    self._alerts.reconfigure(config.alerts)
            finally:
                if self._on_reload is not None:
                    self._on_reload("reloaded")
        return _report(plan, notes)

    def reload_plan(self) -> tuple[Config, ReloadReport]:
        """Re-read the config file and say what a reload would change, changing nothing.

        Raises ConfigError for a bad file. The config comes back for `apply_program`.
        """
        config = load_config(self._sup.config.path)
        fresh, _ = apply_scales(config.program_map(), self._sup.scales)
        plan = diff_programs(self._sup.programs, fresh)
        return config, _report(plan, _daemon_notes(self._sup.config, config))

    def running_config(self) -> Config:
        """The config in force (as read, before `scale`)."""
        return self._sup.config

    async def apply_program(self, name: str, config: Config | None) -> ReloadReport:
        """Reload one program only: `name` as `config` has it (added or changed; removed
        if `config` is None or lacks it); every other program stays as it runs.

        `config` is one `reload_plan` returned; its other programs and tables are not
        taken, but for its `[sockets.NAME]` table.
        """
        running = self._sup.config.program_map()
        wanted = None if config is None else config.program_map().get(name)
        if wanted is None:
            running.pop(name, None)
        else:
            running[name] = wanted
        programs = sorted(running.values(), key=lambda p: (p.priority, p.name))
        running_config = self._sup.config  # its other tables ([metrics], [alerts]) stay
        sockets = (config or running_config).sockets  # those the program may name
        merged = dataclasses.replace(running_config, programs=tuple(programs), sockets=sockets)
        async with self._reloading:
            plan = await self._sup.reload(merged)
            self._metrics.forget_except(set(self._sup.drivers))
        return _report(plan)

    async def restart_everything(self) -> ReloadReport:
        """supervisord's restart: stop every instance, re-read the config (as `reload`),
        then start the instances of every autostart program."""
        await self._sup.stop([ALL])
        report = await self.reload()
        await self._sup.start_autostart()
        return report

    def shutdown(self) -> None:
        """Ask the daemon to stop every program and exit (returns at once)."""
        self._on_shutdown()


def _report(plan: ReloadPlan, notes: tuple[str, ...] = ()) -> ReloadReport:
    return ReloadReport(
        added=plan.added,
        removed=plan.removed,
        changed=plan.changed,
        unchanged=plan.unchanged,
        notes=notes,
    )


def _daemon_notes(old: Config, new: Config) -> tuple[str, ...]:
    if old.daemon == new.daemon:
        return ()
    return ("[daemon] settings changed; they take effect when the daemon restarts",)
