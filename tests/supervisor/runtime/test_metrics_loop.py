"""MetricsLoop on a real event loop: ticks, survives a failing tick, reconfigures on reload."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping

import pytest

import corral
from corral._platform import TreeIdentity
from corral._process.tree import Tree
from corral._supervisor.config.settings import MetricsSettings
from corral._supervisor.runtime.metrics import MetricsLoop
from tests.support.waiting import DEADLINE


async def until(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not predicate():
        assert time.monotonic() < deadline, f"waited {DEADLINE} s for {what}"
        await asyncio.sleep(0.01)  # yield to the loop's timers between checks


def test_ticks_sample_the_trees_and_keep_history() -> None:
    async def scenario() -> None:
        with corral.start(["sleep", "300"], stdout="devnull", stderr="devnull") as proc:
            tree = Tree(proc.pid, proc.pid, b"CORRAL_TREE=group-only")  # it leads its group
            metrics = MetricsLoop(MetricsSettings(interval=0.1, history=3), lambda: {"s:0": tree})
            metrics.start(asyncio.get_running_loop())
            try:
                await until(lambda: metrics.ticks >= 5, "five ticks")
            finally:
                metrics.close()
            assert metrics.latest["s:0"].processes == 1
            assert len(metrics.history.points("s:0")) == 3  # the ring holds the last three
            assert metrics.daemon is not None
            assert metrics.daemon.rss_bytes > 0
            assert metrics.tick_seconds > 0

    asyncio.run(scenario())


def test_a_failing_tick_is_logged_and_the_next_one_runs(caplog: pytest.LogCaptureFixture) -> None:
    calls = 0

    def roots() -> Mapping[str, TreeIdentity]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("boom")
        return {}

    async def scenario() -> None:
        metrics = MetricsLoop(MetricsSettings(interval=0.1, history=3), roots)
        metrics.start(asyncio.get_running_loop())
        try:
            await until(lambda: metrics.ticks >= 2, "two good ticks after the failed one")
        finally:
            metrics.close()

    asyncio.run(scenario())
    assert "metrics: sampling failed" in caplog.text
    assert calls >= 3


def test_interval_zero_never_ticks_and_a_reload_can_turn_it_on() -> None:
    async def scenario() -> None:
        metrics = MetricsLoop(MetricsSettings(interval=0, history=3), dict)
        metrics.start(asyncio.get_running_loop())
        await asyncio.sleep(0)  # one loop iteration: an enabled loop has ticked by now
        assert not metrics.enabled
        assert metrics.ticks == 0
        assert metrics.taken_at is None
        metrics.reconfigure(MetricsSettings(interval=0.1, history=5))
        try:
            await until(lambda: metrics.ticks >= 2, "ticks after the reload")
        finally:
            metrics.close()
        assert metrics.history.capacity == 5

    asyncio.run(scenario())
