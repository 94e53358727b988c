"""The pool's event loop side: queue, dispatch, timeouts, deaths and replacements.

One thread runs one asyncio loop for the whole pool (no thread per worker): result
pipes and pidfds are loop readers, timeouts are loop timers (`call_at`, not
polling). Rules:

- A task goes to a READY idle worker while fewer than `max_workers` are busy, in the
  order the scheduler (`scheduling.py`) picks; the pool keeps `spares` more workers
  started, so a replacement is warm at once.
- A worker that exits while running a task fails only that task (`WorkerDied`,
  named from corral's `Exit`); what it left of its tree is killed; a new worker is
  started. Other tasks go on.
- A timeout ends the worker's whole tree (stop signal, grace, SIGKILL) and fails the
  task with `TaskTimedOut` once the worker has exited.
- Cancelling a running task's future ends its worker's whole tree, as a timeout does.
- Recycling: a worker that has completed `max_tasks` tasks, or whose RSS after a
  task is over `max_memory`, is retired (EOF on its task pipe: it exits 0) and
  replaced. Between `min_workers` and `max_workers`, workers are started while
  tasks wait, and an idle one above `min_workers` is retired after `idle_timeout`.
- Shutdown: queued tasks run (or are cancelled), then every worker gets EOF on its
  task pipe and exits; the loop stops once none is left.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any, cast

from corral._errors import CorralError, DeadlineMissed, TaskFailed, TaskTimedOut, WorkerDied
from corral._platform import read_stats
from corral._pool import protocol
from corral._pool.scheduling import Pick, Scheduler
from corral._pool.stats import Recorder
from corral._pool.tasks import Task, settle
from corral._pool.workers import Worker
from corral._process.exit import Exit

if TYPE_CHECKING:
    from corral._sandbox.spec import Sandbox

START_ATTEMPTS = 3
"""New workers in a row that may die before READY before the pool gives up (no respawn loop)."""


class Engine:
    """All pool state, touched only from its loop's thread."""

    def __init__(
        self,
        *,
        max_workers: int,
        spares: int,
        grace: float,
        initializer: bytes,
        max_frame: int,
        scheduler: Scheduler,
        min_workers: int | None = None,
        idle_timeout: float | None = None,
        max_tasks: int | None = None,
        max_memory: int | None = None,
        sandbox: Sandbox | None = None,
    ) -> None:
        self.sandbox = sandbox
        self.max_workers = max_workers
        self.min_workers = max_workers if min_workers is None else min_workers
        self.idle_timeout = idle_timeout
        self.max_tasks = max_tasks
        self.max_memory = max_memory
        self.spares = spares
        self.grace = grace
        self.initializer = initializer
        self.max_frame = max_frame
        self.queue = scheduler
        self.stats = Recorder()
        self.alive = 0
        """Workers started and not ending, as of the last event (read by `Pool.stats`)."""
        self.workers: set[Worker] = set()
        self.closing = False
        self.broken: CorralError | None = None
        self.failed_starts = 0
        """Workers in a row that exited before READY; at START_ATTEMPTS the pool breaks."""
        self._background: set[asyncio.Task[None]] = set()
        self._done: asyncio.Future[None] | None = None

    async def run(self) -> None:
        """Start the workers and serve until shutdown has ended every worker."""
        self._done = asyncio.get_running_loop().create_future()
        self._top_up()
        await self._done
        if self._background:
            await asyncio.wait(self._background)

    # -- from the caller's thread (via call_soon_threadsafe) ----------------------

    def enqueue(self, task: Task) -> None:
        """Queue a task (already pickled) and dispatch."""
        if self.broken is not None:
            task.future.set_running_or_notify_cancel()
            task.future.set_exception(self.broken)
            return
        self.queue.push(task, time.monotonic())
        self._dispatch()

    def shutdown(self, cancel_futures: bool) -> None:
        """No more tasks; cancel the queued ones if asked; wind down once idle."""
        self.closing = True
        if cancel_futures:
            for task in self._drained():
                task.future.cancel()
        self._wind_down()

    # -- dispatch -------------------------------------------------------------------

    def cancel_running(self, task: Task) -> None:
        """End the tree of the worker running `task` (its future is already cancelled)."""
        for worker in self.workers:
            if worker.task is task and not worker.ending:
                worker.begin_end()
                self._spawn_background(worker.end(self.grace))
                self._top_up()
                return

    def _top_up(self) -> None:
        """Start workers until enough are alive and not ending: as many as run or wait
        to run, between `min_workers` and `max_workers`, plus `spares`."""
        if self.closing or self.broken is not None:
            return
        alive = [worker for worker in self.workers if not worker.ending]
        busy = sum(worker.task is not None for worker in alive)
        wanted = min(self.max_workers, max(self.min_workers, busy + len(self.queue)))
        for _ in range(wanted + self.spares - len(alive)):
            try:
                worker = Worker(
                    self.initializer, self._on_reply, self._on_exit, self.max_frame, self.sandbox
                )
            except CorralError as exc:
                self._break(exc)
                return
            self.workers.add(worker)

    def _dispatch(self) -> None:
        busy = sum(worker.task is not None for worker in self.workers)
        idle = [w for w in self.workers if w.ready and w.task is None and not w.ending]
        while self.queue and idle and busy < self.max_workers:
            now = time.monotonic()
            picked = self.queue.pop(now)
            if picked is None:
                break
            task = self._picked(picked, now)
            if task is None or not task.future.set_running_or_notify_cancel():
                continue  # dropped, or cancelled while queued
            task.started = now
            self.stats.record_start(task.priority, task.tenant, now - task.enqueued)
            worker = idle.pop()
            if worker.idle_timer is not None:
                worker.idle_timer.cancel()
                worker.idle_timer = None
            worker.task = task
            busy += 1
            if task.timeout is not None:
                task.timer = asyncio.get_running_loop().call_later(
                    task.timeout, self._timed_out, worker, task
                )
            frame = protocol.task_frame(task.id, task.body, task.soft_timeout)
            worker.send(frame)  # a failure shows as its exit
        if self.queue and busy < self.max_workers:
            self._top_up()  # work waits and there is room: grow (autoscaling)
        self._arm_idle_timers(idle)
        self._wind_down()
        self.alive = sum(not worker.ending for worker in self.workers)

    def _arm_idle_timers(self, idle: list[Worker]) -> None:
        """Give each idle worker above `min_workers + spares` a timer that retires it."""
        if self.idle_timeout is None or self.closing:
            return
        alive = sum(not worker.ending for worker in self.workers)
        if alive <= self.min_workers + self.spares:
            return
        loop = asyncio.get_running_loop()
        for worker in idle:
            if worker.idle_timer is None:
                worker.idle_timer = loop.call_later(self.idle_timeout, self._shrink, worker)

    def _shrink(self, worker: Worker) -> None:
        worker.idle_timer = None
        alive = sum(not w.ending for w in self.workers)
        if worker.task is None and not worker.ending and alive > self.min_workers + self.spares:
            worker.retire()
            self.alive = alive - 1

    def _recycle(self, worker: Worker) -> None:
        """Retire a worker that has run `max_tasks` tasks or grown past `max_memory`."""
        worker.done += 1
        if self.max_tasks is not None and worker.done >= self.max_tasks:
            worker.retire()
        elif self.max_memory is not None:
            stat = read_stats([worker.pid]).get(worker.pid)
            if stat is not None and stat.rss_bytes > self.max_memory:
                worker.retire()
        if worker.retired:
            self._top_up()

    def _picked(self, picked: Pick, now: float) -> Task | None:
        """The task to run from a scheduler's pick (None: dropped), misses counted."""
        for demoted in picked.demoted:
            self._missed(cast(Task, demoted))
        task = cast(Task, picked.task)
        if picked.missed:
            self._missed(task)
        if picked.drop:
            if task.future.set_running_or_notify_cancel():
                past = now - (task.deadline or now)
                task.future.set_exception(DeadlineMissed(task.label, past))
            return None
        return task

    def _missed(self, task: Task) -> None:
        if not task.missed:
            task.missed = True
            self.stats.record_miss(task.priority, task.tenant)

    # -- events from workers -----------------------------------------------------------

    def _on_reply(self, worker: Worker, frame: bytes) -> None:
        task_id, kind, body = protocol.parse_reply(frame)
        if kind == protocol.READY:
            worker.ready = True
            self.failed_starts = 0
        elif kind == protocol.INIT_FAILED:
            text = body.decode("utf-8", "replace")
            self._break(TaskFailed("the pool's initializer", "raised in a new worker", text))
        else:
            task = worker.task
            if task is None or task.id != task_id or worker.ending:
                return  # a reply that lost the race with its timeout
            worker.task = None
            _cancel_timers(task)
            now = time.monotonic()
            self.queue.finished(task, now - task.started)
            if task.deadline is not None and now > task.deadline:
                self._missed(task)  # it started in time but finished late
            settle(task, kind, body)
            self._recycle(worker)
        self._dispatch()

    def _on_exit(self, worker: Worker, ended: Exit) -> None:
        self.workers.discard(worker)
        task, worker.task = worker.task, None
        if task is not None:
            _cancel_timers(task)
        if task is not None and not task.future.done():
            task.future.set_exception(self._death_error(worker, task, ended))
        if not worker.ending or worker.retired:
            self._spawn_background(worker.reap_tree())
        if not worker.ready and not self.closing:
            self._failed_start(ended)
        self._top_up()
        self._dispatch()

    def _failed_start(self, ended: Exit) -> None:
        self.failed_starts += 1
        if self.failed_starts >= START_ATTEMPTS:
            what = f"exited before it was ready ({ended.describe()}), {START_ATTEMPTS} in a row"
            self._break(TaskFailed("a new pool worker", what))

    def _death_error(self, worker: Worker, task: Task, ended: Exit) -> CorralError:
        if worker.ending and task.timeout is not None:
            return TaskTimedOut(task.label, worker.pid, task.timeout)
        return WorkerDied(
            task.label,
            worker.pid,
            how=ended.describe(),
            exit_code=ended.code,
            signal_name=ended.signal,
            oom_killed=ended.oom,
        )

    def _timed_out(self, worker: Worker, task: Task) -> None:
        if worker.task is task and not worker.ending:
            worker.begin_end()  # before anything else: the timeout's accuracy is this signal
            self._spawn_background(worker.end(self.grace))
            self._top_up()  # its replacement starts now, while the tree ends

    # -- the end ---------------------------------------------------------------------------

    def _break(self, error: CorralError) -> None:
        """Workers cannot be started: fail what waits and every later task with `error`."""
        self.broken = error
        for task in self._drained():
            if task.future.set_running_or_notify_cancel():
                task.future.set_exception(error)
        self.closing = True
        self._wind_down()

    def _drained(self) -> list[Task]:
        return cast(list[Task], self.queue.drain())

    def _wind_down(self) -> None:
        if not self.closing or self.queue:
            return
        for worker in self.workers:
            if worker.task is None:
                worker.close_tasks()
        if not self.workers and self._done is not None and not self._done.done():
            self._done.set_result(None)

    def _spawn_background(self, work: Any) -> None:
        job = asyncio.ensure_future(work)
        self._background.add(job)
        job.add_done_callback(self._background.discard)


def _cancel_timers(task: Task) -> None:
    if task.timer is not None:
        task.timer.cancel()
