"""MetricsLoop's watchers (the event stream's `metrics=1` readers, the alert rules): each
tick, until unwatched; the host's figures only for watchers that ask for them."""

from __future__ import annotations

import asyncio

import pytest

from corral._supervisor.config.settings import MetricsSettings
from corral._supervisor.runtime.metrics import MetricsLoop, Tick
from tests.supervisor.runtime.test_metrics_loop import until


def test_a_watcher_gets_each_tick_with_the_host_until_it_stops_watching() -> None:
    async def scenario() -> None:
        metrics = MetricsLoop(MetricsSettings(interval=0.1, history=3), dict)
        seen: list[Tick] = []
        unwatch = metrics.watch(seen.append, host=True)
        metrics.start(asyncio.get_running_loop())
        try:
            await until(lambda: len(seen) >= 2, "two ticks watched")
            unwatch()
            unwatch()  # twice is harmless
            count, ticks = len(seen), metrics.ticks
            await until(lambda: metrics.ticks >= ticks + 2, "two more ticks")
        finally:
            metrics.close()
        assert len(seen) == count  # none after unwatching
        host = seen[-1].host
        assert host is not None
        assert host.cpu_percent is not None  # primed when the watch began
        assert 0 < host.memory_used < host.memory_total
        assert len(host.load) == 3
        assert seen[-1].interval == 0.1
        assert seen[-1].daemon is not None

    asyncio.run(scenario())


def test_the_host_is_not_read_while_no_watcher_asks_for_it() -> None:
    async def scenario() -> list[Tick]:
        metrics = MetricsLoop(MetricsSettings(interval=0.1, history=3), dict)
        plain: list[Tick] = []
        metrics.watch(plain.append)
        metrics.start(asyncio.get_running_loop())
        try:
            await until(lambda: len(plain) >= 2, "two ticks watched")
        finally:
            metrics.close()
        return plain

    assert [tick.host for tick in asyncio.run(scenario())][:2] == [None, None]


def test_a_watcher_that_raises_is_dropped_and_sampling_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls = 0

    def broken(tick: Tick) -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("boom")

    async def scenario() -> None:
        metrics = MetricsLoop(MetricsSettings(interval=0.1, history=3), dict)
        metrics.watch(broken)
        metrics.start(asyncio.get_running_loop())
        try:
            await until(lambda: metrics.ticks >= 3, "three ticks")
        finally:
            metrics.close()

    asyncio.run(scenario())
    assert calls == 1
    assert "a watcher failed; it is dropped" in caplog.text
