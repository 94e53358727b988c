"""asyncio only: cancelling the task that awaits a process ends the whole tree."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

import corral
from tests.helpers import argv
from tests.support.pids import PidReports, watch

pytestmark = pytest.mark.usefixtures("exit_notifier")

Job = Callable[[int], Coroutine[Any, Any, object]]


def cancel_once_started(job: Job, *, cancels: int = 1) -> list[int]:
    """Run `job(fd)` as a task, cancel it once the tree reported its pids, prove all died.

    `job` runs double_fork with `--fd fd`; returns the root and grandchild pids.
    """

    async def main(reports: PidReports) -> None:
        task = asyncio.create_task(job(reports.write_fd))
        await asyncio.to_thread(reports.wait_for, 2)
        for _ in range(cancels):
            task.cancel()
            await asyncio.sleep(0)  # let the task start handling the cancellation
        with pytest.raises(asyncio.CancelledError):
            await task

    with PidReports() as reports:
        asyncio.run(main(reports), debug=True)
        assert reports.deaths.gone_at_open == []  # each pid was watched while alive
        reports.deaths.assert_dead()
        return reports.pids


def double_fork(fd: int) -> list[str]:
    return argv("double_fork", "--fd", str(fd))


def test_cancelling_run_async_ends_the_tree() -> None:
    cancel_once_started(lambda fd: corral.run_async(double_fork(fd), pass_fds=[fd]))


def test_cancelling_a_command_with_a_timeout_still_ends_the_tree() -> None:
    def job(fd: int) -> Coroutine[Any, Any, corral.Result]:
        return corral.Command(*double_fork(fd)).pass_fds(fd).timeout(60).run_async()

    cancel_once_started(job)


def test_cancelling_twice_still_ends_the_tree() -> None:
    cancel_once_started(
        lambda fd: corral.run_async(double_fork(fd), pass_fds=[fd], grace=5), cancels=2
    )


def test_cancelling_a_task_inside_async_with_ends_the_tree() -> None:
    async def job(fd: int) -> None:
        async with await corral.start_async(double_fork(fd), pass_fds=[fd]) as proc:
            await proc.wait()

    cancel_once_started(job)


def test_cancelling_a_readline_ends_the_tree() -> None:
    async def job(fd: int) -> None:
        async with await corral.start_async(double_fork(fd), pass_fds=[fd]) as proc:
            assert await proc.readline() is not None  # the grandchild's pid
            assert await proc.readline() == "ready"
            await proc.readline()  # nothing more comes

    cancel_once_started(job)


def test_wait_for_timeout_around_run_async_ends_the_tree() -> None:
    async def main() -> None:
        async with await corral.start_async(argv("double_fork")) as proc:
            grandchild = int(await proc.readline() or "0")
            with watch([proc.pid, grandchild]) as deaths:
                assert await proc.readline() == "ready"
                with pytest.raises(TimeoutError):
                    await asyncio.wait_for(proc.wait(), timeout=0.05)
                deaths.assert_dead()
        assert proc.signal_name == "SIGKILL"

    asyncio.run(main(), debug=True)
