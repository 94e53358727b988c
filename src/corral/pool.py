"""Pool façade: a process pool where a worker's death or a timeout fails only its task.

`Pool` is a `concurrent.futures.Executor` (`submit`, `map`, `shutdown`) with
`schedule(fn, args, kwargs, timeout=...)` for per-task options. Its workers are
fresh interpreters started through corral's one spawn path.
"""

from __future__ import annotations

from corral._errors import TaskFailed, TaskTimedOut, WorkerDied
from corral._pool.pool import Pool

__all__ = ["Pool", "TaskFailed", "TaskTimedOut", "WorkerDied"]
