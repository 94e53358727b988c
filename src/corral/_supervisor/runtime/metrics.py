"""MetricsLoop: samples every running instance on a loop timer and keeps the history.

A tick reads /proc for the live instances' trees (see `TreeSampler` for why that is
cheap between full passes) plus the daemon itself, keeps the latest samples for
status and the API, and records them in the history ring. Ticks are loop timers,
not a task that sleeps, and each tick's own duration is kept so its cost can be
watched (`corral_metrics_sample_seconds`). With `OFF_LOOP_TREES` live trees or
more, the /proc pass runs in a worker thread (a pass over a thousand trees held the
loop 60 ms); the next tick is scheduled when it is done, so passes never overlap.
With interval 0 nothing is scheduled.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Mapping

from corral._observe.metrics.history import History
from corral._observe.metrics.sampler import Sample, TreeSampler
from corral._observe.sampling import OFF_LOOP_TREES
from corral._platform import TreeIdentity, boot_clock, read_stats
from corral._supervisor.config.settings import MetricsSettings

log = logging.getLogger("corral.metrics")

Trees = Callable[[], Mapping[str, TreeIdentity]]
"""Instance name -> process tree of every live instance."""


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
        self.on_tick: Callable[[Mapping[str, Sample]], None] | None = None
        """Told each tick's samples (the alert rules'); None: nobody is."""

    @property
    def count_fds(self) -> bool:
        """Whether samples count open fds (on while an alert rule watches `fds`)."""
        return self._sampler.fds

    @count_fds.setter
    def count_fds(self, on: bool) -> None:
        self._sampler.fds = on

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
        if self.on_tick is not None:
            self.on_tick(latest)

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
