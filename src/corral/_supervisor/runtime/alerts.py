"""AlertRunner: feeds the alert engine from the daemon and carries out what it decides.

Observations come from what the daemon has already: each metrics tick's samples
(`MetricsLoop.on_tick`), the event stream's state and health changes (an automatic
restart, an exit that was not a requested stop), and, for log rules, a watcher
beside each instance's log capture (`alert_logs.py`). A loop timer lets time pass
every `ADVANCE_INTERVAL` so `for` holds, repeats and clears come due. Nothing here
sleeps or blocks: every action that waits (a restart, a command, a webhook) runs
as a task, and the ones that could pile up are bounded and counted.

What a transition does: it is an event first (`alert.firing`, `alert.repeat`,
`alert.resolved`, on the one event stream); then its actions. restart, stop and
signal go through `Operations`, once per firing; a restart is refused once the
rule has restarted the instance `start_limit.burst` times within
`start_limit.interval` (the program's own start limit, which a manual restart
resets: an alert that restarts in a loop is stopped by it and reported, as
`alert.action` with ok false). command runs through the one spawn path (the exec
health probe's) with CORRAL_ALERT_* in its environment; webhook POSTs the same
facts as JSON (`Webhooks`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

from corral._errors import CorralError
from corral._observe.alerts.engine import Engine, Metrics, Transition
from corral._observe.alerts.rules import Action, Rule
from corral._observe.events import Event, EventLog
from corral._observe.metrics.sampler import Sample
from corral._process.reaper import OwningReaper
from corral._process.spec import ProcessSpec
from corral._supervisor.runtime.driver import STREAMS, InstanceDriver
from corral._supervisor.runtime.health import probe_exec
from corral._supervisor.runtime.metrics import MetricsLoop
from corral._supervisor.runtime.supervisor import Outcome
from corral._supervisor.view import AlertsView, AlertView

if TYPE_CHECKING:
    from corral._observe.alerts.webhook import Webhooks
    from corral._supervisor.runtime.alert_logs import LogWatcher
    from corral._supervisor.runtime.supervisor import Supervisor

log = logging.getLogger("corral.alerts")

ADVANCE_INTERVAL = 1.0
"""Seconds between the engine's clock turns (holds, repeats, clears)."""
COMMAND_TIMEOUT = 30.0
"""Seconds an alert's command may run; then its tree is ended."""
MAX_COMMANDS = 16
"""Alert commands running at most; one more is dropped and counted."""
_FAILED_EXITS = frozenset({"BACKOFF", "EXITED", "FATAL"})
_AT_REST = _FAILED_EXITS | {"STOPPED"}
"""States without a process: an instance in one has no sampled metrics."""


class AlertActions(Protocol):
    """What an alert may do to an instance: `Operations` is one."""

    async def restart(self, targets: Sequence[str], *, rolling: bool = False) -> list[Outcome]:
        """Stop, then start."""
        ...

    async def stop(self, targets: Sequence[str]) -> list[Outcome]:
        """Stop."""
        ...

    def signal(self, sig: str, targets: Sequence[str]) -> list[Outcome]:
        """Send a signal to each instance's process group."""
        ...


class AlertRunner:
    """The daemon's alert rules at work."""

    def __init__(
        self,
        rules: Sequence[Rule],
        *,
        supervisor: Supervisor,
        events: EventLog,
        metrics: MetricsLoop,
        reaper: OwningReaper,
    ) -> None:
        self._sup, self._events, self._metrics, self._reaper = supervisor, events, metrics, reaper
        self._engine = Engine(rules)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._actions: AlertActions | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._unsubscribe: list[Callable[[], None]] = []
        self._seen: dict[str, tuple[int, object]] = {}
        """Instance -> (automatic restarts, last exit) when last looked at."""
        self._restarted: dict[str, deque[float]] = {}
        """Instance -> when alerts restarted it (the start limit's window)."""
        self._watching: dict[str, tuple[InstanceDriver, list[tuple[str, LogWatcher]]]] = {}
        self._tasks: set[asyncio.Task[object]] = set()
        self._commands = 0
        self._webhooks: Webhooks | None = None
        self.counts: dict[str, int] = dict.fromkeys(
            ("commands_run", "commands_failed", "commands_dropped", "restarts", "restarts_refused"),
            0,
        )

    # -- life -------------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop, actions: AlertActions) -> None:
        """Begin: watch the event stream, the metrics ticks and the instances' logs."""
        self._loop, self._actions = loop, actions
        self._unsubscribe.append(self._events.subscribe(self._on_event))
        self._metrics.on_tick = self._on_tick
        self._rules_changed()
        self._timer = loop.call_later(ADVANCE_INTERVAL, self._advance)

    def reconfigure(self, rules: Sequence[Rule]) -> None:
        """A reload: new rules start afresh (what fired under the old ones resolves);
        instances that no longer exist are forgotten."""
        now = self._now()
        if tuple(rules) != self._engine.rules:
            out: list[Transition] = []
            for instance in {f.instance for f in self._engine.firing()}:
                out += self._engine.forget(instance, now)
            self._handle(out)
            self._unwatch_all()
            self._engine = Engine(rules)
            self._rules_changed()
            return
        self._forget_removed()

    def _forget_removed(self) -> None:
        """Instances a reload or a scale removed: their alerts resolve, their state goes."""
        gone = self._seen.keys() - self._sup.drivers.keys()
        now = self._now()
        for instance in gone:
            del self._seen[instance]
            self._restarted.pop(instance, None)
            self._watching.pop(instance, None)
            self._handle(self._engine.forget(instance, now))

    async def close(self) -> None:
        """Stop watching; wait for the actions under way (webhooks are cancelled)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        self._metrics.on_tick = None
        self._unwatch_all()
        if self._webhooks is not None:
            await self._webhooks.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- reading ------------------------------------------------------------------

    def view(self) -> AlertsView:
        """What fires now, and the actions' counts."""
        wall = self._wall
        firing = tuple(
            AlertView(
                alert=f.rule.name,
                instance=f.instance,
                program=f.program,
                condition=f.rule.condition.text,
                since=round(wall(f.since), 3),
                fired_at=round(wall(f.fired_at), 3),
                value=f.value,
                count=f.count,
                actions=tuple(a.kind for a in f.rule.actions),
            )
            for f in self._engine.firing()
        )
        counts = dict(self.counts)
        hooks = self._webhooks
        for name in ("delivered", "failed", "retried", "dropped"):
            counts[f"webhooks_{name}"] = 0 if hooks is None else getattr(hooks.stats, name)
        return AlertsView(rules=len(self._engine.rules), firing=firing, actions=counts)

    # -- feeding ------------------------------------------------------------------

    def _rules_changed(self) -> None:
        rules = self._engine.rules
        self._metrics.count_fds = any(r.condition.subject == "fds" for r in rules)
        if self._webhooks is None and any(a.kind == "webhook" for r in rules for a in r.actions):
            from corral._observe.alerts.webhook import Webhooks

            self._webhooks = Webhooks(on_failure=self._webhook_failed)
        now = self._now()
        for driver in self._sup.drivers.values():  # the engine learns where each one is
            name, program = driver.name, driver.program.name
            self._seen[name] = (driver.machine.restarts, driver.machine.last_exit)
            state = driver.machine.state.value
            self._handle(self._engine.state_changed(name, program, None, state, now))
            health = driver.health
            if health is not None:
                self._handle(self._engine.health_changed(name, program, None, health.state, now))
            self._watch(driver)

    def _on_tick(self, latest: Mapping[str, Sample]) -> None:
        drivers = self._sup.drivers
        samples: dict[str, tuple[str, Metrics]] = {}
        for name, sample in latest.items():
            driver = drivers.get(name)
            if driver is None:
                continue
            limit = _memory_limit(driver)
            rss = sample.rss_bytes
            samples[name] = (driver.program.name, {
                "cpu": sample.cpu_percent,
                "memory": rss,
                "memory_percent": None if limit is None else 100.0 * rss / limit,
                "processes": sample.processes,
                "fds": sample.fds,
            })  # fmt: skip
        self._handle(self._engine.tick(self._now(), samples))

    def _on_event(self, event: Event) -> None:
        if event.kind == "state":
            self._state_event(event)
        elif event.kind == "health":
            driver = self._sup.drivers.get(event.subject)
            if driver is not None:
                old, new = event.data.get("old"), event.data.get("new")
                self._handle(self._engine.health_changed(
                    event.subject, driver.program.name, _text(old), _text(new), self._now()
                ))  # fmt: skip

    def _state_event(self, event: Event) -> None:
        name = event.subject
        driver = self._sup.drivers.get(name)
        if driver is None:
            return
        program, now, engine = driver.program.name, self._now(), self._engine
        old, new = _text(event.data.get("old")), str(event.data.get("new"))
        out = engine.state_changed(name, program, old, new, now)
        if new in _AT_REST:
            out += engine.process_ended(name, now)
        machine = driver.machine
        restarts, last_exit = self._seen.get(name, (0, None))
        if machine.restarts > restarts:
            out += engine.restarted(name, program, now)
        ended = machine.last_exit
        if (
            ended is not None
            and ended is not last_exit
            and old != "STOPPING"
            and new in _FAILED_EXITS
        ):
            out += engine.exited(name, program, signal=ended.signal, oom=ended.oom, now=now)
        self._seen[name] = (machine.restarts, ended)
        if new == "STARTING":
            self._watch(driver)
        self._handle(out)

    def _advance(self) -> None:
        try:
            self._forget_removed()
            self._handle(self._engine.advance(self._now()))
        except Exception:  # an alert bug must not stop the clock, nor reach the loop
            log.exception("alerts: advance failed")
        if self._loop is not None:
            self._timer = self._loop.call_later(ADVANCE_INTERVAL, self._advance)

    # -- logs -----------------------------------------------------------------------

    def _watch(self, driver: InstanceDriver) -> None:
        """Put the program's log rules beside this driver's log capture (once per driver)."""
        rules = self._engine.log_rules(driver.program.name)
        held = self._watching.get(driver.name)
        if not rules or (held is not None and held[0] is driver):
            return
        from corral._supervisor.runtime.alert_logs import LogWatcher

        name, program = driver.name, driver.program.name
        watchers: list[tuple[str, LogWatcher]] = []
        for stream in STREAMS:
            patterns = [(rid, r.condition.value) for rid, r in rules
                        if r.condition.subject in ("log", stream)]  # fmt: skip
            if patterns:
                watcher = LogWatcher(patterns, self._matcher(name, program))
                driver.watch(stream, watcher)
                watchers.append((stream, watcher))
        self._watching[name] = (driver, watchers)

    def _matcher(self, name: str, program: str) -> Callable[[int, str], None]:
        def matched(rid: int, line: str) -> None:
            self._handle(self._engine.log_matched(rid, name, program, line, self._now()))

        return matched

    def _unwatch_all(self) -> None:
        for driver, watchers in self._watching.values():
            for stream, watcher in watchers:
                driver.unfollow(stream, watcher)
        self._watching.clear()

    # -- acting ---------------------------------------------------------------------

    def _handle(self, transitions: list[Transition]) -> None:
        for transition in transitions:
            try:
                self._announce(transition)
                for action in transition.rule.actions:
                    self._act(action, transition)
            except Exception:  # one action's bug must not keep the others from acting
                log.exception("alerts: acting on %s failed", transition.rule.name)

    def _announce(self, t: Transition) -> None:
        facts = self._facts(t)
        level = "info" if t.kind == "resolved" else "warning"
        del facts["instance"]
        self._events.emit(f"alert.{t.kind}", t.instance, level=level, **facts)

    def _facts(self, t: Transition) -> dict[str, object]:
        return {
            "alert": t.rule.name,
            "status": t.kind,
            "instance": t.instance,
            "program": t.program,
            "condition": t.rule.condition.text,
            "value": t.value,
            "count": t.count,
            "since": round(self._wall(t.since), 3),
        }

    def _act(self, action: Action, t: Transition) -> None:
        kind = action.kind
        if kind in ("restart", "stop", "signal"):
            if t.kind == "firing":
                self._instance_action(action, t)
        elif kind == "command":
            self._command(action, t)
        elif kind == "webhook" and self._webhooks is not None:
            self._webhooks.send(str(action.argument), self._facts(t))

    def _instance_action(self, action: Action, t: Transition) -> None:
        actions, name = self._actions, t.instance
        if actions is None:
            return
        if action.kind == "signal":
            try:
                outcomes = actions.signal(str(action.argument), [name])
            except CorralError as exc:
                outcomes = [Outcome(name, False, "", str(exc))]
            self._acted(t, "signal", outcomes)
        elif action.kind == "stop":
            self._spawn_task(self._awaited(t, "stop", actions.stop([name])))
        elif self._may_restart(t):
            self.counts["restarts"] += 1
            self._spawn_task(self._awaited(t, "restart", actions.restart([name])))

    def _may_restart(self, t: Transition) -> bool:
        """Within the program's start limit: at most `burst` alert restarts in `interval`."""
        driver = self._sup.drivers.get(t.instance)
        if driver is None:
            return False
        limit, now = driver.program.restart.start_limit, self._now()
        done = self._restarted.setdefault(t.instance, deque())
        while done and done[0] <= now - limit.interval:
            done.popleft()
        if limit.interval > 0 and len(done) >= limit.burst:
            self.counts["restarts_refused"] += 1
            why = (f"not restarted: {len(done)} restarts by alerts within "
                   f"{limit.interval:g} s reach its start_limit (burst {limit.burst})")  # fmt: skip
            self._events.emit("alert.action", t.instance, level="warning", alert=t.rule.name,
                              action="restart", ok=False, message=why)  # fmt: skip
            return False
        done.append(now)
        return True

    async def _awaited(self, t: Transition, what: str, work: Awaitable[list[Outcome]]) -> None:
        try:
            outcomes = await work
        except CorralError as exc:  # the instance went meanwhile, the daemon is stopping
            outcomes = [Outcome(t.instance, False, "", str(exc))]
        self._acted(t, what, outcomes)

    def _acted(self, t: Transition, what: str, outcomes: list[Outcome]) -> None:
        for outcome in outcomes:
            self._events.emit(
                "alert.action", outcome.name, level="info" if outcome.ok else "warning",
                alert=t.rule.name, action=what, ok=outcome.ok, message=outcome.message,
            )  # fmt: skip

    def _command(self, action: Action, t: Transition) -> None:
        if self._commands >= MAX_COMMANDS:
            self.counts["commands_dropped"] += 1
            return
        argv = action.argument if isinstance(action.argument, tuple) else (str(action.argument),)
        env = tuple((f"CORRAL_ALERT_{key.upper()}", "" if value is None else str(value))
                    for key, value in self._facts(t).items())  # fmt: skip
        spec = ProcessSpec(argv=argv, env_add=env, stdin="devnull")
        self._commands += 1
        self.counts["commands_run"] += 1
        self._spawn_task(self._run_command(spec, t))

    async def _run_command(self, spec: ProcessSpec, t: Transition) -> None:
        try:
            ok, said = await probe_exec(spec, COMMAND_TIMEOUT, self._reaper)
        finally:
            self._commands -= 1
        if not ok:
            self.counts["commands_failed"] += 1
            self._events.emit("alert.action", t.instance, level="warning", alert=t.rule.name,
                              action="command", ok=False, message=said[:500])  # fmt: skip

    def _webhook_failed(self, url: str, reason: str) -> None:
        self._events.emit("alert.action", "", level="warning", action="webhook", ok=False,
                          url=url, message=reason)  # fmt: skip

    def _spawn_task(self, work: Coroutine[object, object, None]) -> None:
        assert self._loop is not None
        task: asyncio.Task[object] = self._loop.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[object]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("alerts: an action failed", exc_info=task.exception())

    # -- clocks -----------------------------------------------------------------------

    def _now(self) -> float:
        return self._loop.time() if self._loop is not None else time.monotonic()

    def _wall(self, at: float) -> float:
        return time.time() - (self._now() - at)


def _memory_limit(driver: InstanceDriver) -> int | None:
    """The instance's memory limit in bytes: its cgroup's memory_max, if it has one."""
    sandbox = driver.program.process.sandbox
    cgroup = None if sandbox is None else sandbox.cgroup
    return None if cgroup is None else cgroup.memory_max


def _text(value: object) -> str | None:
    return None if value is None else str(value)
