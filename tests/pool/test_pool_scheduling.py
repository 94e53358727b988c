"""A real Pool's scheduler decides which queued task a free worker takes: priority,
fair share across declared tenants, earliest deadline with a miss policy; `stats()`
and its Prometheus text report queue waits and misses; options the scheduler cannot
honour are refused at the call.

Each test holds the pool's one worker with a task that waits for a file, queues
tasks behind it, then creates the file: the order they ran in is the order they
append their names to a log."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from corral import InvalidSpec
from corral.pool import (
    DeadlineMissed,
    Edf,
    FairShare,
    Fifo,
    Pick,
    Pool,
    Scheduler,
    prometheus_text,
)
from tests.pool import tasks
from tests.support.waiting import DEADLINE, wait_until


@contextmanager
def held(pool: Pool, tmp_path: Path) -> Iterator[Path]:
    """The pool's worker is busy until the block ends; yields the order log."""
    go = tmp_path / "go"
    holding = pool.submit(tasks.hold_until, str(go))
    wait_until(lambda: pool.stats().overall.started == 1, what="the holding task to start")
    yield tmp_path / "order"
    go.touch()
    holding.result(DEADLINE)


def _order(log: Path, futures: list[Future[None]]) -> list[str]:
    for future in futures:
        future.result(DEADLINE)
    return log.read_text().split()


def test_higher_priority_runs_first_and_equals_keep_their_order(tmp_path: Path) -> None:
    with Pool(1, spares=0) as pool:
        with held(pool, tmp_path) as log:
            futures = [
                pool.schedule(tasks.record, (str(log), name), priority=level)
                for name, level in (("low1", 0), ("high1", 5), ("low2", 0), ("high2", 5))
            ]
        assert _order(log, futures) == ["high1", "high2", "low1", "low2"]


def test_tenants_share_the_workers_by_weight(tmp_path: Path) -> None:
    with Pool(1, spares=0, tenants={"a": 3, "b": 1}) as pool:
        with held(pool, tmp_path) as log:
            futures = [
                pool.schedule(tasks.record, (str(log), tenant), tenant=tenant)
                for tenant in ["a"] * 40 + ["b"] * 40
            ]
        order = _order(log, futures)
    assert Counter(order[:40]) == {"a": 30, "b": 10}  # 3 : 1 while both are backlogged
    stats = pool.stats()
    assert stats.by_tenant["a"].started == 40
    assert stats.by_tenant["b"].started == 40


def test_a_task_still_queued_past_its_deadline_is_dropped_and_counted(tmp_path: Path) -> None:
    with Pool(1, spares=0, scheduler=Edf("drop")) as pool:
        with held(pool, tmp_path) as log:
            submitted = time.monotonic()
            late = pool.schedule(tasks.record, (str(log), "late"), deadline=0.05)
            soon = pool.schedule(tasks.record, (str(log), "in-time"), deadline=DEADLINE)
            wait_until(lambda: time.monotonic() > submitted + 0.05, what="the deadline to pass")
        with pytest.raises(DeadlineMissed, match=r"was dropped: its deadline passed [\d.]+ ms"):
            late.result(DEADLINE)
        soon.result(DEADLINE)
        assert log.read_text().split() == ["in-time"]
        stats = pool.stats()
    assert stats.overall.misses == 1
    assert stats.by_priority[0].misses == 1


def test_stats_report_queue_waits_and_render_as_prometheus_text(tmp_path: Path) -> None:
    with Pool(1, spares=0) as pool:
        with held(pool, tmp_path) as log:
            futures = [pool.schedule(tasks.record, (str(log), "x"), priority=p) for p in (1, 2)]
        _order(log, futures)
        stats = pool.stats()
    assert stats.queued == 0
    assert stats.overall.started == 3
    assert set(stats.by_priority) == {0, 1, 2}
    assert stats.by_priority[2].wait_p50 is not None
    assert stats.by_priority[2].wait_p50 > 0
    families = {
        f.name: f for f in text_string_to_metric_families(prometheus_text(stats, pool="jobs"))
    }
    started = {
        s.labels.get("priority"): s.value for s in families["corral_pool_started_tasks"].samples
    }
    assert started == {"0": 1.0, "1": 1.0, "2": 1.0, None: 3.0}
    waits = families["corral_pool_queue_wait_p99_seconds"].samples
    assert {s.labels["pool"] for s in waits} == {"jobs"}


@pytest.mark.parametrize(
    ("make", "call", "message"),
    [
        (lambda: Pool(1), {"deadline": -1.0}, "deadline must be seconds from now, more than 0"),
        (lambda: Pool(1), {"deadline": 5.0}, "a deadline needs Pool"),
        (lambda: Pool(1, tenants={"a": 1}), {"tenant": "z"}, "unknown tenant 'z'"),
        (lambda: Pool(1, scheduler=Fifo()), {"priority": 3}, "priority needs"),
        (lambda: Pool(1), {"priority": 1.5}, "priority must be an int"),
    ],
)
def test_options_the_scheduler_cannot_honour_are_refused_at_the_call(
    make: object, call: dict[str, object], message: str
) -> None:
    with make() as pool:  # type: ignore[operator]
        with pytest.raises(InvalidSpec, match=message):
            pool.schedule(tasks.add, (1, 2), **call)
        assert pool.stats().overall.started == 0  # nothing was queued


def test_tenants_and_a_scheduler_together_are_refused() -> None:
    with pytest.raises(InvalidSpec, match="give tenants or a scheduler, not both"):
        Pool(1, scheduler=FairShare({"a": 1}), tenants={"a": 1})


class Newest(Scheduler):
    """Last in, first out: a scheduler of one's own."""

    def __init__(self) -> None:
        self.stack: list[Any] = []

    def check(self, *, priority: int, deadline: float | None, tenant: str | None) -> None:
        pass

    def push(self, task: Any, now: float) -> None:
        self.stack.append(task)

    def pop(self, now: float) -> Pick | None:
        return Pick(self.stack.pop()) if self.stack else None

    def drain(self) -> list[Any]:
        drained, self.stack = self.stack, []
        return drained

    def __len__(self) -> int:
        return len(self.stack)


def test_a_scheduler_of_ones_own_is_used(tmp_path: Path) -> None:
    with Pool(1, spares=0, scheduler=Newest()) as pool:
        with held(pool, tmp_path) as log:
            futures = [pool.schedule(tasks.record, (str(log), n)) for n in ("a", "b", "c")]
        assert _order(log, futures) == ["c", "b", "a"]
