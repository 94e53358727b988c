"""InstanceDriver: carries out one instance's state machine on the event loop.

The pure `InstanceMachine` (corral._lifecycle) decides; this driver acts: it spawns
through the one spawn path, arms loop timers, signals and kills the tree or group,
sweeps, pumps output into the log files, and feeds every outcome (spawned, exited,
timer fired) back as an input, queued behind the one being applied. It does nothing
the machine's actions do not say. Exit is an event: the exit fd (pidfd) is
registered with the loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import random
import signal
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING

from corral._errors import CorralError
from corral._lifecycle.health import Health
from corral._lifecycle.machine import InstanceMachine
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
    Step,
    Sweep,
    TimerFired,
)
from corral._lifecycle.states import InstanceState
from corral._observe.events import EventLog
from corral._observe.logs.directory import LogDirectory
from corral._observe.logs.writer import LogWriter
from corral._platform import AdoptedExitNotifier, send_to_group
from corral._process import tree as _tree
from corral._process.child import CgroupFigures, Child
from corral._process.reaper import OwningReaper
from corral._process.spawn import Launched, ListenFds, PendingLaunch, begin_launch
from corral._supervisor.model.program import Program, log_file_name, notification_fd
from corral._supervisor.runtime.exact import Staging
from corral._supervisor.runtime.health import Prober
from corral._supervisor.runtime.notify import EnvPairs, FdPairs, Readiness
from corral._supervisor.runtime.output import OutputPump
from corral._supervisor.runtime.sockets import HeldSockets

if TYPE_CHECKING:
    from corral._observe.logs.follower import LogFollower
    from corral._supervisor.runtime.keeper import KeeperHandover

log = logging.getLogger("corral.daemon")

STRAY_SWEEP_DELAY = 1.0
"""Seconds a tree let go in BACKOFF may wait for the kill of what it left (`_sweep`)."""

LIVE = frozenset({InstanceState.STARTING, InstanceState.RUNNING, InstanceState.STOPPING})
"""States in which an instance has a process."""
PROBED = frozenset({InstanceState.STARTING, InstanceState.RUNNING})
"""States in which a health check probes the instance's process."""
STREAMS = ("stdout", "stderr")


class InstanceDriver:
    """One instance (NAME:i) of a program: its machine, its process, its logs.

    A daemon holds one per instance, a thousand or more, so it has slots and makes
    its containers (held inputs, strays, follower sets, sweeps, change callbacks) only
    while in use.
    """

    __slots__ = (
        "_adopted",
        "_changed",
        "_child",
        "_events",
        "_extra_env",
        "_followers",
        "_held",
        "_keeper",
        "_loop",
        "_pending",
        "_prober",
        "_pumps",
        "_queue",
        "_readiness",
        "_reaper",
        "_sockets",
        "_staging",
        "_stray_timer",
        "_strays",
        "_sweeps",
        "_timer",
        "_tree",
        "_writers",
        "index",
        "machine",
        "name",
        "program",
    )

    def __init__(
        self,
        program: Program,
        index: int,
        *,
        reaper: OwningReaper,
        events: EventLog,
        log_dir: LogDirectory,
        notify_dir: str | None = None,
        sockets: HeldSockets | None = None,
        keeper: KeeperHandover | None = None,
        extra_env: EnvPairs = (),
    ) -> None:
        self.program = program
        self._keeper = keeper
        """Where each new process's fds are handed over (None: no keeper)."""
        self._staging: Staging | None = None
        """Exact logs under a keeper: the staging pipes and record, made at the first spawn."""
        self._adopted: Launched | None = None
        """A dead daemon's process to take over at the next Spawn, instead of launching."""
        self._sockets = sockets
        self._extra_env = extra_env
        """Variables every spawn of this instance gets too (the SUPERVISOR_* of [compat])."""
        """Where the program's `[sockets.NAME]` are held (None: a program without any)."""
        self.index = index
        self.name = f"{program.name}:{index}"
        self._loop = asyncio.get_running_loop()
        self.machine = InstanceMachine(
            self.name, program.restart, program.stop_timeout, now=self._loop.time()
        )
        self._reaper = reaper
        self._events = events
        self._child: Child | None = None
        """The current process, or the last one (its limits and cgroup figures stay)."""
        self._tree: _tree.Tree | None = None
        """The current or last process tree, until its stop sweep begins."""
        self._pumps: tuple[OutputPump, ...] = ()
        self._timer: asyncio.TimerHandle | None = None
        self._queue: list[Input] | None = None
        """Inputs waiting while one is applied; None when none is being applied."""
        self._pending: PendingLaunch | None = None
        """A sandboxed spawn whose child has not exec'd yet (its report is awaited)."""
        self._held: list[Input] | None = None
        """Inputs that arrived while a spawn was in flight: applied after its outcome."""
        self._strays: list[_tree.Tree] | None = None
        """Trees let go in BACKOFF whose leftovers are still to be killed."""
        self._stray_timer: asyncio.TimerHandle | None = None
        self._changed: list[Callable[[InstanceDriver], None]] | None = None
        """Called once at the next change of state (see `call_at_next_change`)."""
        self._sweeps: list[asyncio.Task[object]] | None = None
        """Running sweeps and stop signals; made by the first, dropped when the last ends."""
        self._followers: dict[str, set[LogFollower]] = {}
        """`logs -f` readers by stream; a stream's entry exists only while someone follows."""
        self._writers = self._open_logs(log_dir)
        self._readiness = self._make_readiness(notify_dir)
        self._prober = self._make_prober()

    def __repr__(self) -> str:
        return repr(self.machine)

    @property
    def live_pid(self) -> int | None:
        """The pid of the instance's process while it has one (STARTING, RUNNING, STOPPING)."""
        machine = self.machine
        return machine.pid if machine.state in LIVE else None

    @property
    def readiness(self) -> Readiness | None:
        """Its readiness channel (NOTIFY_SOCKET or pipe); None without `notify`."""
        return self._readiness

    def _make_readiness(self, directory: str | None) -> Readiness | None:
        mode = self.program.restart.notify
        if mode is None:
            return None
        return Readiness(
            self.name,
            mode,
            directory=directory or "",
            fd_number=notification_fd(self.program),
            events=self._events,
            feed=self.feed,
            tree=lambda: self._tree if self.machine.state in LIVE else None,
            phase=lambda: self.machine.fields.phase,
        )

    def _make_prober(self) -> Prober | None:
        check = self.program.instance_health(self.index)
        if check is None:
            return None
        return Prober(
            check,
            process=self.program.instance_process(self.index),
            reaper=self._reaper,
            feed=self.feed,
            health=lambda: self.machine.fields.health,
        )

    @property
    def health(self) -> Health | None:
        """The health of its current (or last) process; None without a health check."""
        return self.machine.fields.health

    @property
    def tree(self) -> _tree.Tree | None:
        """The current (or last, until swept) process tree; None before the first spawn."""
        return self._tree

    @property
    def log_paths(self) -> dict[str, str]:
        """The current log file of each stream, by stream name."""
        return {stream: writer.path for stream, writer in zip(STREAMS, self._writers, strict=True)}

    @property
    def log_dropped_bytes(self) -> dict[str, int]:
        """Bytes of output each stream's log could not write (a full disk), by stream name."""
        return {s: w.dropped_bytes for s, w in zip(STREAMS, self._writers, strict=True)}

    def _open_logs(self, log_dir: LogDirectory) -> tuple[LogWriter, ...]:
        """Each stream's writer; if one cannot be opened, those opened are closed again."""
        opened: list[LogWriter] = []
        try:
            for stream in STREAMS:
                name = log_file_name(self.program.name, self.index, stream)
                opened.append(self._open_log(log_dir, stream, name))
        except BaseException:
            for writer in opened:
                writer.close()
            raise
        return tuple(opened)

    def _open_log(self, directory: LogDirectory, stream: str, name: str) -> LogWriter:
        logs = self.program.logs
        path = os.path.join(directory.path, name)
        out = stream == "stdout"
        try:
            return LogWriter(
                path,
                timestamps=logs.timestamps,
                max_bytes=logs.max_bytes,
                backups=logs.backups,
                on_drop=self._stdout_dropped if out else self._stderr_dropped,
                on_resume=self._stdout_resumed if out else self._stderr_resumed,
                directory=directory,
            )
        except OSError as exc:
            raise CorralError(f"{self.name}: cannot open its log {path}: {exc.strerror}") from exc

    # -- inputs -------------------------------------------------------------

    def feed(self, event: Input) -> Step | None:
        """Queue one input; unless an input is being applied now, apply the queue in order.

        An input that arrives while a step is carried out (a Spawn reporting Spawned, a
        subscriber reacting to the state event) waits its turn: every action of a step
        runs before the next input is applied, so no action acts on a state it was not
        decided in. Returns the step of `event` when it was applied by this call, and
        None when it was queued behind the input being applied.
        """
        if self._queue is not None:
            self._queue.append(event)
            return None
        if self._pending is not None:  # a sandboxed spawn in flight: its outcome comes first
            self._hold([event])
            return None
        queue = self._queue = []
        try:
            step = self._apply(event)
            while queue and self._pending is None:
                self._apply(queue.pop(0))
            if queue:
                self._hold(queue)
        finally:
            self._queue = None
        return step

    def _hold(self, inputs: list[Input]) -> None:
        """Keep `inputs` until the spawn in flight has its outcome (`_settle`)."""
        if self._held is None:
            self._held = []
        self._held.extend(inputs)

    def _apply(self, event: Input) -> Step:
        """Apply one input to the machine, announce the change, carry out the actions."""
        health = self.machine.fields.health
        step = self.machine.apply(event, self._loop.time(), random.random())
        healthier = self._prober is not None and self._health_changed(health)
        if step.changed or (step.actions and not step.ignored and not step.quiet):
            self._events.emit(
                "state",
                self.name,
                old=step.old.value,
                new=step.new.value,
                pid=self.machine.pid,
                reason=step.reason,
            )
        if (step.changed or healthier) and self._changed is not None:
            callbacks, self._changed = self._changed, None
            for callback in callbacks:
                callback(self)
        for action in step.actions:
            self._act(action)
        return step

    def _health_changed(self, before: Health | None) -> bool:
        """Announce a change of health state; probe while the process is live and not failing.

        True when the health state changed (callers waiting for a change are told)."""
        fields = self.machine.fields
        health = fields.health
        changed = health is not None and (before is None or before.state != health.state)
        if changed:
            assert health is not None
            last = health.results[-1] if health.results else None
            self._events.emit(
                "health",
                self.name,
                level="warning" if health.state == "unhealthy" else "info",
                old=None if before is None else before.state,
                new=health.state,
                streak=health.streak,
                output=None if last is None else last.output,
            )
        assert self._prober is not None
        probing = fields.state in PROBED and fields.pid is not None and fields.failing is None
        if probing and fields.phase != "stopping":
            self._prober.start()
        else:
            self._prober.stop()
        return changed

    def call_at_next_change(self, callback: Callable[[InstanceDriver], None]) -> None:
        """Call `callback(self)` once, at the next change of state, before its actions run.

        A callback, not an awaitable: a stop of a thousand instances waits for all
        of them at once, and a task and an event per instance raised the daemon's
        peak memory, and so its resident memory after it, by about 2 KiB each.
        """
        if self._changed is None:
            self._changed = []
        self._changed.append(callback)

    async def wait_swept(self) -> None:
        """Wait until leftover members of stopped trees have been killed."""
        while self._sweeps:
            await asyncio.gather(*self._sweeps, return_exceptions=True)

    # -- actions ------------------------------------------------------------

    def _act(self, action: Action) -> None:
        if isinstance(action, Spawn):
            self._spawn()
        elif isinstance(action, ArmTimer):
            self._cancel_timer()
            self._timer = self._loop.call_later(
                action.delay, self.feed, TimerFired(kind=action.kind, token=action.token)
            )
        elif isinstance(action, CancelTimer):
            self._cancel_timer()
        elif isinstance(action, SendStopSignal):
            if self._tree is not None:  # scanned together with every tree stopped now
                self._track(self._tree.send_async(self.program.process.stop_signal))
        elif isinstance(action, KillTree):
            self._sweep()
        elif isinstance(action, KillGroup):
            if self._tree is not None:  # the root is gone; its group may not be
                send_to_group(self._tree.pgid, signal.SIGKILL)
        elif isinstance(action, Sweep):
            self._sweep(let_go=True)

    def adopt(
        self, pid: int, pgid: int, marker: str, fds: dict[str, int], status: int | None
    ) -> Step | None:
        """Take over a process a dead daemon started, held by the keeper, as if spawned now.

        The instance is started; its Spawn action takes this process (same pid, its
        pipes, exits watched through the held pidfd) instead of launching one. `status`
        is its raw wait status if it exited while no daemon ran: the exit is then
        applied at once, and the restart policy with it.
        """
        staging = Staging.take_over(fds, STREAMS)
        if staging is not None:  # what the dead daemon staged and had not written goes first
            writers = dict(zip(STREAMS, self._writers, strict=True))
            for stream, count in staging.recover(writers).items():
                if count:
                    self._events.emit("log.recovered", self.name, stream=stream, bytes=count)
            if self._staging is not None:
                self._staging.close()
            self._staging = staging
        notifier = AdoptedExitNotifier(pid, fds.pop("pidfd"), status)
        self._adopted = Launched(
            argv=self.program.instance_process(self.index).argv,
            pid=pid,
            pgid=pgid,
            marker=marker.encode("latin-1"),
            notifier=notifier,
            stdin=None,
            stdout=fds.pop("stdout", None),
            stderr=fds.pop("stderr", None),
            started=time.monotonic(),
        )
        return self.feed(StartRequested())

    def _spawn(self) -> None:
        if self._adopted is not None:  # a dead daemon's process, taken over (see `adopt`)
            launched, self._adopted = self._adopted, None
            self._spawned(launched, held=True)  # the keeper holds its fds already
            return
        process = self.program.instance_process(self.index)
        readiness = self._readiness
        try:
            env: EnvPairs = ()
            fds: FdPairs = ()
            if readiness is not None:
                env, fds = readiness.prepare(self.program.restart.watchdog)
            spec = dataclasses.replace(
                process,
                stdin="devnull",
                stdout="capture",
                stderr="capture",
                env_add=(*process.env_add, *self._extra_env, *env),
                map_fds=(*process.map_fds, *fds),
            )
            listen = self._listen_fds()
            pending = begin_launch(spec, notifier=self._reaper.notifier, listen=listen)
        except Exception as exc:
            self.feed(self._spawn_failed(exc))
            return
        finally:
            if readiness is not None:
                readiness.spawned()  # the child has its copy of the pipe (or none was made)
        fd = pending.report_fd
        if fd is None:  # posix_spawn: it has exec'd already
            self._spawned(pending.finish(b""))
            return
        # A sandboxed child runs its steps (a cgroup to join, namespaces to make) before
        # it execs; its report is awaited on the loop, and inputs wait behind it.
        self._pending = pending
        os.set_blocking(fd, False)
        self._loop.add_reader(fd, self._on_report, pending, fd, [])

    def _listen_fds(self) -> ListenFds | None:
        """The program's sockets as this spawn hands them over, if it has any."""
        names = self.program.sockets
        if not names or self._sockets is None:
            return None
        return self._sockets.listen_fds(names)

    def _on_report(self, pending: PendingLaunch, fd: int, chunks: list[bytes]) -> None:
        """The sandboxed child's report pipe is readable: a piece of a report, or EOF."""
        try:
            chunk = os.read(fd, 4096)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if chunk:
            chunks.append(chunk)
            return
        self._loop.remove_reader(fd)
        report, self._pending = b"".join(chunks), None
        try:
            launched = pending.finish(report)
        except Exception as exc:
            self._settle(self._spawn_failed(exc))
            return
        self._spawned(launched)
        self._settle(None)

    def _settle(self, outcome: Input | None) -> None:
        """After a spawn in flight: feed its outcome, then the inputs that waited for it."""
        if outcome is not None:
            self.feed(outcome)
        while self._held and self._pending is None:
            self.feed(self._held.pop(0))
        if not self._held:
            self._held = None

    def _spawn_failed(self, exc: Exception) -> SpawnFailed:
        if isinstance(exc, CorralError):  # spawn errors, unsupported features, a vanished user
            return SpawnFailed(reason=str(exc))
        # the per-instance boundary: never take the daemon down
        log.error("%s: spawn failed unexpectedly", self.name, exc_info=exc)
        return SpawnFailed(reason=f"internal error: {type(exc).__name__}: {exc}")

    def _spawned(self, launched: Launched, *, held: bool = False) -> None:
        child = self._child = Child(launched)
        self._tree = child.tree
        pumps = [pump for pump in self._pumps if not pump.closed]
        keeper = self._keeper if self._keeper is not None and self._keeper.connected else None
        staging = self._staging
        if keeper is not None and staging is None:
            staging = self._staging = Staging(len(STREAMS))
        streams = zip(STREAMS, self._writers, (launched.stdout, launched.stderr), strict=True)
        for index, (stream, writer, fd) in enumerate(streams):
            if fd is not None:
                exact = None if staging is None else (staging, index)
                pump = OutputPump(self._loop, fd, writer, self._followers, stream, exact=exact)
                pumps.append(pump)
        self._pumps = tuple(pumps)
        self._loop.add_reader(child.exit_fd, self._on_exit_ready, child)
        if keeper is not None and not held:  # before the outcome is applied: held at once
            extra = {} if staging is None else staging.handed(STREAMS)
            keeper.spawned(self.name, launched, child.exit_fd, extra)
        self.feed(Spawned(pid=launched.pid))

    def _on_exit_ready(self, child: Child) -> None:
        if child.exit is not None:
            return
        ended = child.collect()
        if ended is None:
            return
        self._loop.remove_reader(child.exit_fd)
        if self._keeper is not None:
            self._keeper.collected(self.name)
        self._track(child.release_async())  # the cgroup empties on a thread, off the loop
        self.feed(ProcessExited(code=ended.code, signal=ended.signal, oom=ended.oom))

    def _sweep(self, *, let_go: bool = False) -> None:
        """Kill every remaining member of the current tree, double-forked ones included.

        With `let_go` (a Sweep) the tree is forgotten once the kill is under way. In
        BACKOFF the kill waits up to STRAY_SWEEP_DELAY, with every tree the instance let
        go meanwhile, for one /proc scan together: a crash loop restarts in about a
        millisecond, and a scan per restart on the loop doubled that.
        """
        tree = self._tree
        if let_go:
            self._tree = None
        if let_go and self.machine.state is InstanceState.BACKOFF:
            if tree is not None:
                if self._strays is None:
                    self._strays = []
                self._strays.append(tree)
            if self._strays and self._stray_timer is None:
                self._stray_timer = self._loop.call_later(STRAY_SWEEP_DELAY, self._sweep_strays)
            return
        self._sweep_strays()  # at rest, a stop or shutdown: whatever waited goes now too
        if tree is not None:
            self._track(_tree.kill_async(tree))

    def _sweep_strays(self) -> None:
        """Kill what the trees let go in BACKOFF left, in one batched scan."""
        if self._stray_timer is not None:
            self._stray_timer.cancel()
            self._stray_timer = None
        trees, self._strays = self._strays or [], None
        for tree in trees:  # started in one loop turn: `_process.tree` scans for all at once
            self._track(_tree.kill_async(tree))

    def _track(self, work: Coroutine[object, object, object]) -> None:
        """Run `work` as a task that `wait_swept` (and so a stop) waits for."""
        task = self._loop.create_task(work)
        if self._sweeps is None:
            self._sweeps = []
        self._sweeps.append(task)
        task.add_done_callback(self._untrack)

    def _untrack(self, task: asyncio.Task[object]) -> None:
        if self._sweeps is not None and task in self._sweeps:
            self._sweeps.remove(task)
            if not self._sweeps:
                self._sweeps = None

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # Bound methods rather than a closure per writer: a closure and its cells cost
    # about 0.3 KiB per instance, a bound method 64 bytes.
    def _stdout_dropped(self, nbytes: int, reason: str) -> None:
        self._dropped("stdout", nbytes, reason)

    def _stderr_dropped(self, nbytes: int, reason: str) -> None:
        self._dropped("stderr", nbytes, reason)

    def _dropped(self, stream: str, nbytes: int, reason: str) -> None:
        """Output is being lost (one event per episode, see LogWriter): a warning."""
        self._events.emit(
            "log.dropped", self.name, level="warning", stream=stream, bytes=nbytes, reason=reason
        )

    def _stdout_resumed(self, nbytes: int) -> None:
        self._events.emit("log.resumed", self.name, stream="stdout", dropped=nbytes)

    def _stderr_resumed(self, nbytes: int) -> None:
        self._events.emit("log.resumed", self.name, stream="stderr", dropped=nbytes)

    # -- sandbox --------------------------------------------------------------

    def limits(self) -> dict[str, object] | None:
        """The sandbox limits of the current (or last) process, for status."""
        return None if self._child is None else self._child.limits

    def cgroup_usage(self) -> CgroupFigures | None:
        """Usage read from the current (or last) process's cgroup, if it has one."""
        return None if self._child is None else self._child.cgroup_usage()

    # -- followers ------------------------------------------------------------

    def follow(self, stream: str) -> LogFollower:
        """A follower that receives every new chunk of `stream` until `unfollow` (or cut off)."""
        from corral._observe.logs.follower import LogFollower  # made for `logs -f` only

        if stream not in STREAMS:
            raise KeyError(stream)
        follower = LogFollower()
        self._followers.setdefault(stream, set()).add(follower)
        return follower

    def watch(self, stream: str, watcher: LogFollower) -> None:
        """Hand every new chunk of `stream` to `watcher` too, as to a follower (the alert
        rules' log patterns); `unfollow` ends it."""
        if stream not in STREAMS:
            raise KeyError(stream)
        self._followers.setdefault(stream, set()).add(watcher)

    def unfollow(self, stream: str, follower: LogFollower) -> None:
        """Stop sending chunks to `follower`."""
        followers = self._followers.get(stream)
        if followers is not None:
            followers.discard(follower)
            if not followers:
                del self._followers[stream]

    def clear_logs(self) -> None:
        """Empty each stream's current log file (rotated files stay)."""
        for writer in self._writers:
            writer.clear()

    def reopen_logs(self) -> int:
        """Reopen each stream's log file at its path (SIGUSR1/2); returns how many."""
        for writer in self._writers:
            writer.reopen()
        return len(self._writers)

    # -- teardown -------------------------------------------------------------

    def discard(self) -> None:
        """Close the log files of a driver that never spawned (a reload that failed)."""
        if self._readiness is not None:
            self._readiness.close()
        for writer in self._writers:
            writer.close()

    async def close(self) -> None:
        """After the instance stopped: finish pumps and sweeps, close the log files."""
        self._cancel_timer()
        if self._prober is not None:
            self._prober.stop()
        self._sweep_strays()
        if (pending := self._pending) is not None:  # not reached by a stop, which waits
            self._pending = None
            if pending.report_fd is not None:
                self._loop.remove_reader(pending.report_fd)
            pending.abandon()
        if self._readiness is not None:
            self._readiness.close()
        await self.wait_swept()
        for pump in self._pumps:
            pump.close()
        self._pumps = ()
        if self._staging is not None:
            self._staging.close()
            self._staging = None
        for writer in self._writers:
            writer.close()
        for followers in self._followers.values():
            for follower in followers:
                follower.end()
        self._followers.clear()
