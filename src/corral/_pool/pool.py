"""Pool: a `concurrent.futures.Executor` whose workers are corral children.

The caller's side: validate, pickle the call at `submit` (so an unpicklable
function is an error at the call), and hand the task to the engine's loop thread.
Each worker is a fresh `python -I` interpreter started through corral's one spawn
path; see `engine` for what a death, a timeout and shutdown do.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Executor, Future
from typing import Any, ParamSpec, TypeVar

from corral._errors import InvalidSpec, shorten
from corral._ipc.framing import MAX_FRAME
from corral._platform import Feature, feature_status
from corral._pool import protocol
from corral._pool.engine import Engine
from corral._pool.scheduling import FairShare, Priority, Scheduler
from corral._pool.stats import PoolStats
from corral._pool.tasks import PoolFuture, Task, chunks, run_chunk
from corral._sandbox.spec import Sandbox

P = ParamSpec("P")
T = TypeVar("T")


class Pool(Executor):
    """A process pool where a worker's death or a timeout fails only its own task.

    `max_workers` tasks run at once, each in its own worker process; `spares` more
    workers are kept started so a dead or timed-out worker's replacement is ready at
    once. `initializer(*initargs)` runs in each worker before its first task. A
    timed-out task's worker tree gets SIGTERM, then SIGKILL after `grace` seconds.
    `max_frame` bounds a pickled call or reply, in bytes (an `InvalidSpec` at the
    call, a `TaskFailed` for a reply). `scheduler` picks which queued task runs next
    (`corral.pool.Fifo`, `Priority` — the default, FIFO among equal priorities —,
    `Mlfq`, `FairShare`, `Edf`); `tenants={"a": 3, "b": 1}` is `FairShare(tenants)`.
    A worker is replaced after `max_tasks` tasks, or after a task that leaves its RSS
    over `max_memory` bytes. With `min_workers` under `max_workers`, workers are
    started as tasks wait and an idle one above `min_workers` exits after
    `idle_timeout` seconds. A running task's `future.cancel()` ends its worker's tree.
    `sandbox` (a `corral.sandbox.Sandbox`: user, rlimits, cgroup limits, seccomp,
    namespaces) applies to every worker as to any program; a worker that cannot be
    started under it fails the pool's tasks with the spawn error naming the step.
    """

    def __init__(
        self,
        max_workers: int = 2,
        *,
        initializer: Callable[..., object] | None = None,
        initargs: tuple[Any, ...] = (),
        grace: float = 1.0,
        spares: int = 1,
        max_frame: int = MAX_FRAME,
        scheduler: Scheduler | None = None,
        tenants: Mapping[str, float] | None = None,
        min_workers: int | None = None,
        idle_timeout: float | None = None,
        max_tasks: int | None = None,
        max_memory: int | None = None,
        sandbox: Sandbox | None = None,
    ) -> None:
        if sandbox is not None and not isinstance(sandbox, Sandbox):
            raise InvalidSpec(
                f"sandbox must be a corral.sandbox.Sandbox, got {shorten(repr(sandbox))}"
            )
        if scheduler is not None and tenants is not None:
            raise InvalidSpec("give tenants or a scheduler, not both: FairShare(tenants) is one")
        _check_recycling(max_workers, min_workers, idle_timeout, max_tasks, max_memory)
        if not isinstance(max_workers, int) or max_workers < 1:
            raise InvalidSpec(f"max_workers must be an int of 1 or more; got {max_workers!r}")
        if spares < 0:
            raise InvalidSpec(f"spares must be 0 or more; got {spares!r}")
        if not 1024 <= max_frame <= MAX_FRAME:
            raise InvalidSpec(f"max_frame must be 1024 to {MAX_FRAME} bytes; got {max_frame!r}")
        if grace < 0:
            raise InvalidSpec(f"grace must be 0 or more seconds; got {grace!r}")
        init = b"" if initializer is None else _pickled("the initializer", (initializer, initargs))
        if scheduler is None:
            scheduler = FairShare(tenants) if tenants is not None else Priority()
        self._scheduler = scheduler
        self._engine = Engine(
            max_workers=max_workers,
            spares=spares,
            grace=grace,
            initializer=init,
            max_frame=max_frame,
            scheduler=scheduler,
            min_workers=min_workers,
            idle_timeout=idle_timeout,
            max_tasks=max_tasks,
            max_memory=max_memory,
            sandbox=sandbox,
        )
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._shut = False
        self._stopped = False  # the loop has ended: nothing may be posted to it any more
        self._inbox: list[Task] = []  # submitted, not yet taken by the loop (under _lock)
        self._posted = False  # a `_take_inbox` is on its way to the loop
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name="corral-pool", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        try:
            self._loop.run_until_complete(self._engine.run())
        finally:
            with self._lock:
                self._stopped = True
                left, self._inbox = self._inbox, []
            for task in left:  # submitted as the loop ended: never left waiting
                if task.future.set_running_or_notify_cancel():
                    stopped = self._engine.broken or RuntimeError("the pool has stopped")
                    task.future.set_exception(stopped)
            self._loop.close()

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        """Run `fn(*args, **kwargs)` in a worker; its future."""
        return self.schedule(fn, args, kwargs)

    def schedule(
        self,
        fn: Callable[..., T],
        args: tuple[Any, ...] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,
        soft_timeout: float | None = None,
        priority: int = 0,
        deadline: float | None = None,
        tenant: str | None = None,
        key: str | None = None,
    ) -> Future[T]:
        """Run `fn(*args, **kwargs)` in a worker, with per-task options; its future.

        `timeout` (seconds from the start of the run) ends the worker's whole tree and
        fails the future with `TaskTimedOut`; `soft_timeout` (less than `timeout`) first
        raises `SoftTimeout` inside the task, which may catch it and clean up.
        `priority` (higher first), `deadline` (seconds from now), `tenant` and `key`
        (what MLFQ groups run times by; the function's name by default) are read by the
        pool's scheduler; one it cannot honour is an `InvalidSpec`, never silently
        ignored.
        """
        now = time.monotonic()
        if timeout is not None and not timeout > 0:
            raise InvalidSpec(f"timeout must be more than 0 seconds; got {timeout!r}")
        if soft_timeout is not None and not (
            soft_timeout > 0 and (timeout is None or soft_timeout < timeout)
        ):
            raise InvalidSpec(
                f"soft_timeout must be more than 0 seconds and less than timeout; got "
                f"{soft_timeout!r} (timeout {timeout!r})"
            )
        if isinstance(priority, bool) or not isinstance(priority, int):
            raise InvalidSpec(f"priority must be an int; got {priority!r}")
        if deadline is not None and not (deadline > 0 and math.isfinite(deadline)):
            raise InvalidSpec(f"deadline must be seconds from now, more than 0: got {deadline!r}")
        self._scheduler.check(priority=priority, deadline=deadline, tenant=tenant)
        body = _pickled(f"the call of {_name(fn)}", (fn, tuple(args), dict(kwargs or {})))
        limit = self._engine.max_frame
        if len(body) > limit - protocol.TASK_HEAD.size:
            raise InvalidSpec(
                f"the call of {_name(fn)} pickles to {len(body)} bytes, over the frame limit "
                f"of {limit} bytes: pass large data through a file instead"
            )
        future: PoolFuture[T] = PoolFuture()
        with self._lock:
            if self._shut:
                raise RuntimeError("cannot schedule new futures after shutdown")
            if self._stopped:  # the engine broke (workers cannot start) and has ended
                future.set_running_or_notify_cancel()
                future.set_exception(self._engine.broken or RuntimeError("the pool has stopped"))
                return future
            task_id = next(self._ids)
            task = Task(task_id, f"task {task_id} ({_name(fn)})", body, future, timeout)
            task.priority, task.tenant, task.key, task.enqueued = (
                priority,
                tenant,
                _name(fn) if key is None else key,
                now,
            )
            task.deadline = None if deadline is None else now + deadline
            task.soft_timeout = soft_timeout
            future._end_run = functools.partial(self._end_run, task)
            self._inbox.append(task)
            if not self._posted:  # one loop wake-up per batch of submits, not per submit
                self._posted = True
                self._loop.call_soon_threadsafe(self._take_inbox)
        return future

    def _take_inbox(self) -> None:
        """In the loop: queue every task submitted since the last wake-up, in order."""
        with self._lock:
            tasks, self._inbox = self._inbox, []
            self._posted = False
        for task in tasks:
            self._engine.enqueue(task)

    def _end_run(self, task: Task) -> None:
        with self._lock:
            if not self._stopped:
                self._loop.call_soon_threadsafe(self._engine.cancel_running, task)

    def map(
        self,
        fn: Callable[..., T],
        *iterables: Iterable[Any],
        timeout: float | None = None,
        chunksize: int = 1,
    ) -> Iterator[T]:
        """`Executor.map`; `chunksize` items go to a worker as one task (fewer round trips)."""
        if not isinstance(chunksize, int) or chunksize < 1:
            raise InvalidSpec(f"chunksize must be an int of 1 or more; got {chunksize!r}")
        if chunksize == 1:
            return super().map(fn, *iterables, timeout=timeout)
        batches = super().map(
            functools.partial(run_chunk, fn), chunks(iterables, chunksize), timeout=timeout
        )
        return itertools.chain.from_iterable(batches)

    async def submit_async(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """`submit`, awaited: the task's result (cancelling the await cancels the task,
        ending its worker's tree if it runs)."""
        return await asyncio.wrap_future(self.submit(fn, *args, **kwargs))

    async def __aenter__(self) -> Pool:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await asyncio.to_thread(self.shutdown, True)

    def stats(self) -> PoolStats:
        """Queue waits (p50, p99) and deadline misses, overall, per priority and per
        tenant; `corral.pool.prometheus_text` renders them for a scrape."""
        return self._engine.stats.snapshot(len(self._scheduler), self._engine.alive)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """No new tasks; queued ones run (or are cancelled); workers exit once idle.

        `wait` blocks until every worker has exited.
        """
        with self._lock:
            if not self._shut and not self._stopped:
                self._loop.call_soon_threadsafe(self._engine.shutdown, cancel_futures)
            self._shut = True
        if wait and threading.current_thread() is not self._thread:
            self._thread.join()

    def __repr__(self) -> str:
        state = "shut down" if self._shut else "running"
        return f"<Pool max_workers={self._engine.max_workers} {state}>"


def _check_recycling(
    max_workers: int,
    min_workers: int | None,
    idle_timeout: float | None,
    max_tasks: int | None,
    max_memory: int | None,
) -> None:
    """InvalidSpec for a bad recycling or autoscaling setting."""
    if min_workers is not None and not (
        isinstance(min_workers, int) and 0 <= min_workers <= max(max_workers, 0)
    ):
        raise InvalidSpec(f"min_workers must be 0 to max_workers; got {min_workers!r}")
    if idle_timeout is not None and not idle_timeout > 0:
        raise InvalidSpec(f"idle_timeout must be more than 0 seconds; got {idle_timeout!r}")
    if max_tasks is not None and not (isinstance(max_tasks, int) and max_tasks >= 1):
        raise InvalidSpec(f"max_tasks must be an int of 1 or more; got {max_tasks!r}")
    if max_memory is not None:
        if not (isinstance(max_memory, int) and max_memory >= 1):
            raise InvalidSpec(f"max_memory must be bytes, 1 or more; got {max_memory!r}")
        feature_status(Feature.PROC_SCAN).require()  # RSS is read from /proc


def _name(fn: Callable[..., object]) -> str:
    module = getattr(fn, "__module__", None) or "?"
    return f"{module}.{getattr(fn, '__qualname__', repr(fn))}"


def _pickled(what: str, value: object) -> bytes:
    """`value` pickled for a worker, or InvalidSpec naming what cannot be."""
    try:
        return protocol.dumps(value)
    except Exception as exc:
        hint = "" if protocol.PICKLER == "cloudpickle" else "; install cloudpickle for lambdas"
        raise InvalidSpec(f"{what} cannot be pickled for a worker ({exc}){hint}") from exc
