"""A task as the pool holds it, and how a worker's reply becomes its outcome.

Pure apart from pickle: a `Task` is its id, its pickled call, its future, its
timeout and what the scheduler reads (priority, deadline, tenant, key); `settle`
turns a RESULT/RAISED/UNPICKLABLE reply into the future's result
or exception. An exception raised in the task comes back as itself, with the
worker's traceback text as its `__cause__` (as `concurrent.futures` does).
"""

from __future__ import annotations

import pickle
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from corral._errors import TaskFailed
from corral._pool import protocol


class RemoteTraceback(Exception):
    """The traceback text of an exception raised in a worker, attached as its cause."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return "\n" + self.text.rstrip("\n")


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
    """Complete `task`'s future from the worker's reply."""
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
