"""MetricsLoop: samples every running instance on a loop timer and keeps the history.

A tick reads /proc for the live instances' trees (see `TreeSampler` for why that is
cheap between full passes) plus the daemon itself, keeps the latest samples for
status and the API, and records them in the history ring. Ticks are loop timers,
not a task that sleeps, and each tick's own duration is kept so its cost can be
watched (`corral_metrics_sample_seconds`). With `OFF_LOOP_TREES` live trees or
more, the /proc pass runs in a worker thread (a pass over a thousand trees held the
loop 60 ms); the next tick is scheduled when it is done, so passes never overlap.
With interval 0 nothing is scheduled.

Watchers (`watch`: the event stream's readers that asked for samples, the alert
rules) are handed each tick's samples, and those that ask the host's CPU %, memory
and load average; the host is read only while one of those watches.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from corral._observe.metrics.history import History
from corral._observe.metrics.sampler import Sample, TreeSampler
from corral._observe.sampling import OFF_LOOP_TREES
from corral._platform import HostTotals, TreeIdentity, boot_clock, read_host, read_stats
from corral._supervisor.config.settings import MetricsSettings

log = logging.getLogger("corral.metrics")

Trees = Callable[[], Mapping[str, TreeIdentity]]
"""Instance name -> process tree of every live instance."""


@dataclass(frozen=True, slots=True)
class HostFigures:
    """The host at one tick."""

    cpu_percent: float | None
    """Busy share of all CPUs since the previous reading (100 = every CPU busy)."""
    memory_used: int
    """Bytes of memory not available to new programs (MemTotal - MemAvailable)."""
    memory_total: int
    """Physical memory in bytes."""
    load: tuple[float, float, float]
    """The 1, 5 and 15 minute load averages."""


@dataclass(frozen=True, slots=True)
class Tick:
    """What one tick measured, as watchers get it."""

    time: float
    """Wall-clock time of the tick."""
    interval: float
    """Seconds until the next tick."""
    samples: Mapping[str, Sample]
    """The live instances' samples, by name."""
    daemon: Sample | None
    """The daemon's own CPU % and RSS."""
    host: HostFigures | None
    """The host's figures; None where they cannot be read."""


Watcher = Callable[[Tick], None]


class MetricsLoop:
    """The daemon's sampler: latest samples, history, and its own cost."""

    def __init__(self, settings: MetricsSettings, trees: Trees) -> None:
        self.settings = settings
        self._trees = trees
        self._sampler = TreeSampler()
        self.history = History(settings.history)
        self.latest: dict[str, Sample] = {}
        """The last tick's samples of the instances that were live then."""
        self.taken_at: float | None = None
        """Wall-clock time of the last tick; None before the first."""
        self.daemon: Sample | None = None
        """The daemon's own CPU % and RSS at the last tick."""
        self.tick_seconds = 0.0
        """How long the last tick took."""
        self.ticks = 0
        self._own_previous: tuple[float, float] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._passing: asyncio.Future[dict[str, Sample]] | None = None
        """A pass running in a worker thread; it schedules the next tick when done."""
        self._watchers: dict[int, tuple[Watcher, bool]] = {}
        """token -> (watcher, whether it wants the host's figures)."""
        self._host_previous: HostTotals | None = None
        self._tokens = itertools.count()

    @property
    def count_fds(self) -> bool:
        """Whether samples count open fds (on while an alert rule watches `fds`)."""
        return self._sampler.fds

    @count_fds.setter
    def count_fds(self, on: bool) -> None:
        self._sampler.fds = on

    def watch(self, watcher: Watcher, *, host: bool = False) -> Callable[[], None]:
        """Call `watcher(tick)` after every later tick; returns a function that stops it.

        The event stream's readers and the alert rules are told this way. With `host`
        the tick carries the host's figures (read only while such a watcher is there;
        otherwise `tick.host` is None). A watcher that raises is logged and dropped,
        never stops sampling."""
        token = next(self._tokens)
        self._watchers[token] = (watcher, host)
        if host and self._host_previous is None:
            self._host_previous = read_host()  # so the first tick has a host CPU %

        def unwatch() -> None:
            self._watchers.pop(token, None)

        return unwatch

    @property
    def enabled(self) -> bool:
        """False when the config's interval is 0."""
        return self.settings.interval > 0

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Take the first sample now and schedule the next ones."""
        self._loop = loop
        if self.enabled:
            self._tick()

    def close(self) -> None:
        """Cancel the timer; the latest samples stay readable."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._loop = None

    def reconfigure(self, settings: MetricsSettings) -> None:
        """Apply a reloaded [metrics] table: a new interval at once, a new size of history."""
        if settings == self.settings:
            return
        if settings.history != self.settings.history:
            self.history = History(settings.history)
        self.settings = settings
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._loop is not None and self.enabled and self._passing is None:
            self._tick()

    def forget_except(self, names: set[str]) -> None:
        """Drop the history of instances that no longer exist."""
        self.history.keep_only(names)

    def _tick(self) -> None:
        began = time.perf_counter()
        try:
            trees = self._trees()
            if self._loop is not None and len(trees) >= OFF_LOOP_TREES:
                self._passing = self._loop.run_in_executor(None, self._sampler.sample, trees)
                self._passing.add_done_callback(lambda done: self._passed(done, began))
                return
            self._record(self._sampler.sample(trees), began)
        except Exception:  # a sampling bug must not stop sampling, nor reach the loop
            log.exception("metrics: sampling failed")
        self._schedule()

    def _passed(self, done: asyncio.Future[dict[str, Sample]], began: float) -> None:
        self._passing = None
        if done.cancelled():
            return
        try:
            self._record(done.result(), began)
        except Exception:
            log.exception("metrics: sampling failed")
        self._schedule()

    def _schedule(self) -> None:
        if self._loop is not None and self.enabled:
            self._timer = self._loop.call_later(self.settings.interval, self._tick)

    def _record(self, latest: dict[str, Sample], began: float) -> None:
        self.latest = latest
        self.daemon = self._sample_self()
        self.taken_at = time.time()
        self.history.record(self.taken_at, self.latest)
        self.ticks += 1
        self.tick_seconds = time.perf_counter() - began
        if self._watchers:
            self._announce()

    def _announce(self) -> None:
        assert self.taken_at is not None
        wants_host = any(host for _, host in self._watchers.values())
        host = self._host() if wants_host else None
        tick = Tick(self.taken_at, self.settings.interval, self.latest, self.daemon, host)
        for token, (watcher, _) in list(self._watchers.items()):
            try:
                watcher(tick)
            except Exception:
                log.exception("metrics: a watcher failed; it is dropped")
                self._watchers.pop(token, None)

    def _host(self) -> HostFigures | None:
        now, previous = read_host(), self._host_previous
        self._host_previous = now
        if now is None:
            return None
        percent = None
        if previous is not None and now.total_ticks > previous.total_ticks:
            busy = now.busy_ticks - previous.busy_ticks
            percent = round(100.0 * busy / (now.total_ticks - previous.total_ticks), 1)
        used = now.memory_total - now.memory_available
        return HostFigures(percent, used, now.memory_total, now.load)

    def _sample_self(self) -> Sample:
        now, cpu = boot_clock(), time.process_time()
        previous, self._own_previous = self._own_previous, (now, cpu)
        percent = None
        if previous is not None and now > previous[0]:
            percent = round(100.0 * (cpu - previous[1]) / (now - previous[0]), 1)
        me = read_stats([os.getpid()]).get(os.getpid())
        return Sample(
            cpu_percent=percent,
            cpu_seconds=cpu,
            rss_bytes=0 if me is None else me.rss_bytes,
            processes=1,
        )
