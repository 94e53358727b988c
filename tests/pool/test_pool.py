"""corral.pool.Pool with real worker processes: results, failures that stay local, timeouts.

Every test shuts its pool down and waits, so the autouse checks prove that no
worker, grandchild or fd was left behind. Deaths and timeouts are tested with pidfd
exit notification and with the waiter-thread fallback.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import traceback
from collections.abc import Iterator
from concurrent.futures import CancelledError, Executor, Future
from pathlib import Path
from typing import Any

import pytest

from corral import CorralError, InvalidSpec
from corral.pool import Pool, TaskFailed, TaskTimedOut, WorkerDied
from tests.pool import tasks
from tests.support.pids import watch
from tests.support.waiting import DEADLINE, wait_until


@pytest.fixture
def pool() -> Iterator[Pool]:
    with Pool(2) as p:
        yield p


def reported(path: Path) -> str:
    return wait_until(lambda: path.exists() and path.read_text(), what=f"text in {path}") or ""


def reported_pid(path: Path) -> int:
    return int(reported(path))


def test_a_pool_is_an_executor_that_returns_results(pool: Pool) -> None:
    assert isinstance(pool, Executor)
    assert pool.submit(tasks.add, 2, 3).result(DEADLINE) == 5
    assert pool.schedule(tasks.add, (4,), {"b": 5}).result(DEADLINE) == 9


def test_tasks_run_in_other_processes(pool: Pool) -> None:
    assert pool.submit(tasks.pid).result(DEADLINE) != os.getpid()


def test_map_keeps_the_order_of_its_inputs(pool: Pool) -> None:
    assert list(pool.map(tasks.square, range(20), timeout=DEADLINE)) == [x * x for x in range(20)]


def test_an_exception_comes_back_as_itself_with_the_worker_traceback(pool: Pool) -> None:
    with pytest.raises(tasks.Refused, match="no thanks") as caught:
        pool.submit(tasks.refuse, "no thanks").result(DEADLINE)
    cause = "".join(traceback.format_exception(caught.value))
    assert "in refuse\n    raise Refused(why)" in cause


def test_an_unpicklable_result_is_task_failed_naming_it(pool: Pool) -> None:
    with pytest.raises(TaskFailed, match=r"tasks\.lock\): returned a lock that cannot be pickled"):
        pool.submit(tasks.lock).result(DEADLINE)
    assert pool.submit(tasks.add, 1, 1).result(DEADLINE) == 2


def test_an_unpicklable_call_is_invalid_spec_at_the_call(pool: Pool) -> None:
    with pytest.raises(InvalidSpec, match="cannot be pickled for a worker"):
        pool.submit(tasks.identity_of, threading.Lock())  # no pickler takes a lock


@pytest.mark.usefixtures("exit_notifier")
def test_a_worker_that_exits_fails_only_its_task_naming_the_exit_code(pool: Pool) -> None:
    others = [pool.submit(tasks.sleep_then, 0.05, n) for n in range(6)]
    doomed = pool.submit(tasks.exit_with, 3)
    later = [pool.submit(tasks.square, n) for n in range(6)]
    with pytest.raises(
        WorkerDied, match=r"running task \d+ \(tests\.pool\.tasks\.exit_with\) died: exit 3"
    ) as caught:
        doomed.result(DEADLINE)
    assert (caught.value.exit_code, caught.value.signal_name) == (3, None)
    assert isinstance(caught.value, CorralError)
    assert [f.result(DEADLINE) for f in others] == list(range(6))
    assert [f.result(DEADLINE) for f in later] == [n * n for n in range(6)]


@pytest.mark.usefixtures("exit_notifier")
def test_a_worker_killed_by_a_signal_names_the_signal(pool: Pool) -> None:
    with pytest.raises(WorkerDied, match="died: SIGKILL") as caught:
        pool.submit(tasks.kill_self).result(DEADLINE)
    assert caught.value.signal_name == "SIGKILL"
    assert caught.value.oom_killed is False


def test_a_worker_killed_from_outside_fails_its_task(pool: Pool, tmp_path: Path) -> None:
    path = tmp_path / "pid"
    blocked = pool.submit(tasks.block, str(path))
    os.kill(reported_pid(path), signal.SIGTERM)
    with pytest.raises(WorkerDied, match="died: SIGTERM"):
        blocked.result(DEADLINE)


def test_the_pool_keeps_working_after_many_failures(pool: Pool) -> None:
    failures = [pool.submit(tasks.exit_with, n) for n in range(1, 6)]
    for n, future in enumerate(failures, start=1):
        with pytest.raises(WorkerDied, match=f"exit {n}$"):
            future.result(DEADLINE)
    assert list(pool.map(tasks.square, range(5), timeout=DEADLINE)) == [0, 1, 4, 9, 16]


@pytest.mark.usefixtures("exit_notifier")
def test_a_timeout_ends_the_task_and_the_grandchild_it_started(tmp_path: Path) -> None:
    path = tmp_path / "pids"
    with Pool(1, grace=0.5) as pool:
        future = pool.schedule(tasks.start_grandchild_and_sleep, (str(path),), timeout=0.2)
        worker, grandchild = map(int, reported(path).split())
        with watch([worker, grandchild], must_be_alive=False) as deaths:
            with pytest.raises(TaskTimedOut, match=r"timed out after 0\.2 s") as caught:
                future.result(DEADLINE)
            deaths.assert_dead()
        assert isinstance(caught.value, TimeoutError)
        assert pool.submit(tasks.add, 2, 2).result(DEADLINE) == 4  # replaced


def test_a_result_over_the_frame_limit_is_task_failed() -> None:
    with Pool(1, max_frame=4096) as pool:
        with pytest.raises(TaskFailed, match=r"over the frame limit of 4096 bytes"):
            pool.submit(tasks.big_result, 5000).result(DEADLINE)
        assert len(pool.submit(tasks.big_result, 4000).result(DEADLINE)) == 4000


def test_arguments_and_results_larger_than_a_pipe_buffer_round_trip(pool: Pool) -> None:
    data = os.urandom(3 << 20)
    assert pool.submit(tasks.echo, data).result(DEADLINE) == data


def test_a_call_over_the_frame_limit_is_invalid_spec_at_the_call() -> None:
    with Pool(1, max_frame=4096) as pool, pytest.raises(InvalidSpec, match="of 4096 bytes"):
        pool.submit(tasks.identity_of, b"x" * 5000)


def test_a_timed_out_task_that_ignores_sigterm_is_killed_after_the_grace(tmp_path: Path) -> None:
    path = tmp_path / "pid"
    # The worker ignores SIGTERM from its initializer on, before any task is given to
    # it: on a loaded machine the 0.2 s may pass before the task itself gets to run.
    with Pool(1, grace=0.3, initializer=tasks.ignore_term) as pool:
        started = time.monotonic()
        future = pool.schedule(tasks.ignore_term_and_sleep, (str(path),), timeout=0.2)
        with watch([reported_pid(path)], must_be_alive=False) as deaths:
            with pytest.raises(TaskTimedOut):
                future.result(DEADLINE)
            assert time.monotonic() - started >= 0.5  # a lower bound: it waited out the grace
            deaths.assert_dead()


def test_a_task_that_finishes_within_its_timeout_is_not_ended(pool: Pool) -> None:
    assert pool.schedule(tasks.sleep_then, (0.01, 7), timeout=DEADLINE).result(DEADLINE) == 7


def test_shutdown_with_cancel_futures_cancels_the_queued_tasks(tmp_path: Path) -> None:
    path = tmp_path / "pid"
    pool = Pool(1)
    running = pool.submit(tasks.sleep_then, 0.3, 1)
    queued = [pool.submit(tasks.square, n) for n in range(5)]
    wait_until(running.running, what="the first task to run")
    pool.shutdown(wait=True, cancel_futures=True)
    assert running.result(0) == 1
    assert all(f.cancelled() for f in queued)
    with pytest.raises(CancelledError):
        queued[0].result(0)
    assert not path.exists()


def test_shutdown_without_cancel_runs_what_was_queued() -> None:
    pool = Pool(1)
    queued = [pool.submit(tasks.square, n) for n in range(5)]
    pool.shutdown(wait=True)
    assert [f.result(0) for f in queued] == [0, 1, 4, 9, 16]


def test_submit_after_shutdown_is_a_runtime_error() -> None:
    pool = Pool(1)
    pool.shutdown()
    with pytest.raises(RuntimeError, match="cannot schedule new futures after shutdown"):
        pool.submit(tasks.add, 1, 2)


def test_the_initializer_runs_in_each_worker_before_its_tasks() -> None:
    with Pool(1, initializer=tasks.set_marker, initargs=("yes",)) as pool:
        assert pool.submit(tasks.initialized).result(DEADLINE) == "yes"


def test_an_initializer_that_raises_fails_the_tasks_with_its_traceback() -> None:
    with Pool(1, initializer=tasks.refuse, initargs=("bad setup",)) as pool:
        future = pool.submit(tasks.add, 1, 2)
        with pytest.raises(
            TaskFailed, match="the pool's initializer: raised in a new worker"
        ) as caught:
            future.result(DEADLINE)
        assert "tests.pool.tasks.Refused: bad setup" in caught.value.remote_traceback
        wait_until(lambda: pool._stopped, what="the broken pool's loop to end")
        with pytest.raises(TaskFailed, match="initializer"):
            pool.submit(tasks.add, 1, 2).result(DEADLINE)  # after the loop ended: no hang


def test_workers_that_die_before_they_are_ready_break_the_pool_not_loop() -> None:
    with Pool(1, initializer=tasks.exit_with, initargs=(5,)) as pool:
        future = pool.submit(tasks.add, 1, 2)
        with pytest.raises(TaskFailed, match=r"exited before it was ready \(exit 5\), 3 in a row"):
            future.result(DEADLINE)


def test_an_exception_that_cannot_be_pickled_is_task_failed_with_its_traceback(pool: Pool) -> None:
    with pytest.raises(
        TaskFailed, match="raised Unpicklable: holds a lock that cannot be"
    ) as caught:
        pool.submit(tasks.raise_unpicklable).result(DEADLINE)
    assert "in raise_unpicklable" in caught.value.remote_traceback


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_workers": 0}, "max_workers must be an int of 1 or more; got 0"),
        ({"grace": -1}, "grace must be 0 or more seconds"),
        ({"spares": -1}, "spares must be 0 or more"),
        ({"max_frame": 10}, "max_frame must be 1024 to"),
    ],
)
def test_bad_pool_options_are_invalid_spec(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidSpec, match=message):
        Pool(**kwargs)


def test_a_bad_timeout_is_invalid_spec(pool: Pool) -> None:
    with pytest.raises(InvalidSpec, match="timeout must be more than 0 seconds; got 0"):
        pool.schedule(tasks.add, (1, 2), timeout=0)


def test_futures_are_concurrent_futures(pool: Pool) -> None:
    assert isinstance(pool.submit(tasks.add, 1, 2), Future)


def test_submits_from_many_threads_at_once_each_get_their_own_result(pool: Pool) -> None:
    # submits are batched into one loop wake-up: none may be lost, doubled or mixed up
    got: dict[int, list[Future[int]]] = {}

    def submit_from(thread: int) -> None:
        got[thread] = [pool.submit(tasks.add, thread * 1000, n) for n in range(300)]

    threads = [threading.Thread(target=submit_from, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(DEADLINE)
    for t, futures in got.items():
        assert [f.result(DEADLINE) for f in futures] == [t * 1000 + n for n in range(300)]
    assert len(got) == 4


def test_tasks_submitted_just_before_shutdown_still_run() -> None:
    with Pool(2) as pool:
        futures = [pool.submit(tasks.square, n) for n in range(50)]
        pool.shutdown(wait=True)
    assert [f.result(0) for f in futures] == [n * n for n in range(50)]


def test_lambdas_and_local_functions_run_through_cloudpickle(pool: Pool) -> None:
    pytest.importorskip("cloudpickle")
    offset = 7

    def local(x: int) -> int:
        return x + offset

    assert pool.submit(lambda x: x * 3, 5).result(DEADLINE) == 15
    assert pool.submit(local, 1).result(DEADLINE) == 8


def test_a_function_from_a_main_script_runs_in_a_worker(tmp_path: Path) -> None:
    pytest.importorskip("cloudpickle")
    script = tmp_path / "script.py"
    script.write_text(
        "from corral.pool import Pool\n"
        "class Box:\n    def __init__(self, v): self.v = v\n"
        "def triple(box): return box.v * 3\n"
        "if __name__ == '__main__':\n"
        "    with Pool(1, spares=0) as pool:\n"
        "        print(pool.submit(triple, Box(4)).result(30))\n"
    )
    import subprocess
    import sys

    src = str(Path(__file__).resolve().parents[2] / "src")
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        env={**os.environ, "PYTHONPATH": src},
        check=False,
    )
    assert (done.returncode, done.stdout.strip()) == (0, "12"), done.stderr
