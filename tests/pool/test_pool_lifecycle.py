"""A Pool's workers over time: recycled after max_tasks or past max_memory, grown as
tasks wait and shrunk when idle (min_workers, idle_timeout), a running task cancelled
by its future, map in chunks, and the asyncio face. Real workers throughout; every
pool is shut down and waited for, so the autouse checks see nothing left behind."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from corral import InvalidSpec
from corral.pool import Pool, SoftTimeout, TaskTimedOut
from tests.pool import tasks
from tests.support.waiting import DEADLINE, wait_until


def _gone(pid: int) -> bool:
    return not os.path.exists(f"/proc/{pid}")


def test_a_worker_is_replaced_after_max_tasks() -> None:
    with Pool(1, spares=0, max_tasks=2) as pool:
        pids = [pool.submit(tasks.pid).result(DEADLINE) for _ in range(6)]
    assert pids[0] == pids[1] != pids[2] == pids[3] != pids[4] == pids[5]
    assert len(set(pids)) == 3


def test_a_worker_whose_memory_grew_past_max_memory_is_replaced() -> None:
    with Pool(1, spares=0, max_memory=150 * 2**20) as pool:
        small = pool.submit(tasks.grow, 2**20).result(DEADLINE)
        assert pool.submit(tasks.pid).result(DEADLINE) == small  # still under the limit
        big = pool.submit(tasks.grow, 200 * 2**20).result(DEADLINE)
        after = pool.submit(tasks.pid).result(DEADLINE)
    assert big == small
    assert after != big
    assert _gone(big)


def test_workers_grow_while_tasks_wait_and_shrink_when_idle(tmp_path: Path) -> None:
    with Pool(3, spares=0, min_workers=1, idle_timeout=0.2) as pool:
        assert wait_until(lambda: pool.stats().workers == 1, what="one worker at the start")
        go = tmp_path / "go"
        held = [pool.submit(tasks.hold_until, str(go)) for _ in range(3)]
        wait_until(lambda: pool.stats().overall.started == 3, what="three workers busy")
        assert pool.stats().workers == 3
        go.touch()
        for future in held:
            future.result(DEADLINE)
        wait_until(lambda: pool.stats().workers == 1, what="the idle workers to exit")
        assert pool.submit(tasks.add, 1, 2).result(DEADLINE) == 3


def test_cancelling_a_running_task_ends_its_worker_and_the_pool_goes_on(tmp_path: Path) -> None:
    report = tmp_path / "pid"
    with Pool(1, spares=0) as pool:
        future = pool.submit(tasks.block, str(report))
        worker = int(wait_until(lambda: report.exists() and report.read_text(), what="the pid"))
        assert future.running()
        assert future.cancel()
        assert future.cancelled()
        wait_until(lambda: _gone(worker), what="the cancelled task's worker to be ended")
        assert pool.submit(tasks.add, 2, 2).result(DEADLINE) == 4
    assert not future.cancel() or future.cancelled()  # cancelling again changes nothing


def test_map_sends_chunks_and_keeps_the_order() -> None:
    with Pool(2) as pool:
        assert list(pool.map(tasks.square, range(50), chunksize=7)) == [x * x for x in range(50)]
        assert list(pool.map(tasks.add, [1, 2], [10, 20], chunksize=5)) == [11, 22]
        with pytest.raises(InvalidSpec, match="chunksize must be an int of 1 or more"):
            pool.map(tasks.square, [1], chunksize=0)


def test_the_asyncio_face_awaits_results_and_cancels_by_cancelling_the_await(
    tmp_path: Path,
) -> None:
    report = tmp_path / "pid"

    async def scenario() -> tuple[int, int]:
        async with Pool(1, spares=0) as pool:
            total = await pool.submit_async(tasks.add, 20, 22)
            waiting = asyncio.ensure_future(pool.submit_async(tasks.block, str(report)))
            while not report.exists():  # bounded by the test's own timeout
                await asyncio.sleep(0.01)
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            return total, int(report.read_text())

    total, worker = asyncio.run(scenario())
    assert total == 42
    assert _gone(worker)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"min_workers": 3}, "min_workers must be 0 to max_workers"),
        ({"idle_timeout": 0}, "idle_timeout must be more than 0"),
        ({"max_tasks": 0}, "max_tasks must be an int of 1 or more"),
        ({"max_memory": 0}, "max_memory must be bytes, 1 or more"),
    ],
)
def test_bad_recycling_settings_are_refused(options: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidSpec, match=message):
        Pool(2, **options)  # type: ignore[arg-type]


def test_a_soft_timeout_raises_inside_the_task_which_may_clean_up() -> None:
    with Pool(1) as pool:
        caught = pool.schedule(tasks.clean_up_on_soft_timeout, (30,), soft_timeout=0.1)
        assert caught.result(DEADLINE) == "cleaned up"
        let_out = pool.schedule(tasks.sleep_then, (30, 1), soft_timeout=0.1)
        with pytest.raises(SoftTimeout, match="ran past its soft timeout") as raised:
            let_out.result(DEADLINE)
        assert isinstance(raised.value, TimeoutError)
        ignored = pool.schedule(tasks.sleep_through, (30,), soft_timeout=0.1, timeout=0.5)
        with pytest.raises(TaskTimedOut):
            ignored.result(DEADLINE)
        assert pool.submit(tasks.add, 1, 1).result(DEADLINE) == 2
        with pytest.raises(InvalidSpec, match="soft_timeout must be more than 0 seconds and less"):
            pool.schedule(tasks.add, (1, 1), soft_timeout=2, timeout=1)
