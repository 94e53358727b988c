"""A task as the pool holds it, and how a worker's reply becomes its outcome.

Pure apart from pickle: a `Task` is its id, its pickled call, its future, its
timeout and what the scheduler reads (priority, deadline, tenant, key); `settle`
turns a RESULT/RAISED/UNPICKLABLE reply into the future's result
or exception. An exception raised in the task comes back as itself, with the
worker's traceback text as its `__cause__` (as `concurrent.futures` does).
"""

from __future__ import annotations

import itertools
import pickle
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from concurrent.futures._base import CANCELLED_AND_NOTIFIED, RUNNING
from dataclasses import dataclass, field
from typing import Any, TypeVar

from corral._errors import TaskFailed
from corral._pool import protocol


class RemoteTraceback(Exception):
    """The traceback text of an exception raised in a worker, attached as its cause."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return "\n" + self.text.rstrip("\n")


T = TypeVar("T")


class PoolFuture(Future[T]):
    """A pool task's future: `cancel()` works while it runs too, by ending its
    worker's whole tree (the pool replaces the worker).

    `concurrent.futures.Future.cancel` refuses a running future; this one moves it
    to CANCELLED under the future's own condition, as `cancel` does for a pending
    one (the same private state every CPython since 3.8 keeps), then asks the pool
    to end the worker.
    """

    _end_run: Callable[[], None] | None = None
    """Set by the pool: ends the worker running this task (thread-safe)."""

    def cancel(self) -> bool:
        if super().cancel():
            return True
        with self._condition:
            if self._state != RUNNING:
                return False
            self._state = CANCELLED_AND_NOTIFIED
            for waiter in self._waiters:
                waiter.add_cancelled(self)
            self._condition.notify_all()
        if self._end_run is not None:
            self._end_run()
        self._invoke_callbacks()  # type: ignore[attr-defined]
        return True


def chunks(iterables: tuple[Iterable[Any], ...], size: int) -> Iterator[list[tuple[Any, ...]]]:
    """Argument tuples of `map(fn, *iterables)`, `size` at a time."""
    arguments = zip(*iterables, strict=False)
    while chunk := list(itertools.islice(arguments, size)):
        yield chunk


def run_chunk(fn: Callable[..., T], chunk: list[tuple[Any, ...]]) -> list[T]:
    """In a worker: `fn` over one chunk of `map`'s arguments."""
    return [fn(*arguments) for arguments in chunk]


@dataclass(slots=True, eq=False)
class Task:
    """One submitted call: id, what to run (pickled), where its outcome goes."""

    id: int
    label: str
    """How messages name it: "task 7 (module.function)"."""
    body: bytes
    future: Future[Any]
    timeout: float | None = None
    timer: Any = field(default=None)
    """The loop's timer handle for its timeout, while it runs."""
    soft_timeout: float | None = None
    """Seconds after the call starts (timed in the worker) to raise SoftTimeout in it."""
    priority: int = 0
    deadline: float | None = None
    """Monotonic seconds by which it should have run; None: none."""
    tenant: str | None = None
    key: str = ""
    """What MLFQ learns run times by (the function's name unless given)."""
    enqueued: float = 0.0
    """Monotonic seconds at submit."""
    started: float = 0.0
    """Monotonic seconds when a worker took it."""
    missed: bool = False
    """Its deadline passed before it finished (counted once)."""


def settle(task: Task, kind: int, body: bytes) -> None:
    """Complete `task`'s future from the worker's reply (unless it was cancelled)."""
    if task.future.done():
        return
    if kind == protocol.UNPICKLABLE:
        reason, _, text = body.decode("utf-8", "replace").partition("\n")
        task.future.set_exception(TaskFailed(task.label, reason, text))
        return
    try:
        value = pickle.loads(body)
    except Exception as exc:
        what = "result" if kind == protocol.RESULT else "exception"
        error = TaskFailed(task.label, f"its {what} cannot be unpickled here ({exc!r})")
        task.future.set_exception(error)
        return
    if kind == protocol.RESULT:
        task.future.set_result(value)
    else:
        raised, text = value
        raised.__cause__ = RemoteTraceback(text)
        task.future.set_exception(raised)
