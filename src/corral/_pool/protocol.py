"""The pool's parent<->worker messages, over `_ipc` frames: what each frame holds.

Parent to worker, fd 3 of the worker: one frame per task, an 8-byte task id
(big-endian), the task's soft timeout as an 8-byte float (0: none) and the pickled
`(fn, args, kwargs)`; EOF means "exit now, cleanly".
Worker to parent, fd 4: an 8-byte task id, a 1-byte kind, and the body:

- READY (id 0): the worker has started and run its initializer; body empty.
- INIT_FAILED (id 0): the initializer raised; body is its traceback text (UTF-8).
- RESULT: body is the pickled return value.
- RAISED: body is the pickled `(exception, traceback text)`.
- UNPICKLABLE: the result or exception could not be pickled; body is the reason
  and the traceback text (UTF-8).

Pickling uses cloudpickle when it is installed (lambdas, functions from
`__main__`), else the standard pickle; the worker loads with pickle, which reads
both. Pure: no I/O.
"""

from __future__ import annotations

import pickle
import signal
import struct
from typing import Any

HEAD = struct.Struct(">QB")
"""Task id and kind, ahead of every worker-to-parent body."""
TASK_HEAD = struct.Struct(">Qd")
"""The task id and soft timeout (seconds, 0: none) ahead of every parent-to-worker body."""

READY = 0
INIT_FAILED = 1
RESULT = 2
RAISED = 3
UNPICKLABLE = 4

TASK_FD = 3
"""The worker's fd for task frames (read end)."""
RESULT_FD = 4
"""The worker's fd for result frames (write end)."""
SOFT_TIMEOUT_SIGNAL = signal.SIGUSR1
"""What the worker's own timer sends its main thread at a task's soft timeout (timed
in the worker, from the call's start: a frame still in the pipe cannot miss it)."""

try:  # pragma: no cover - depends on what is installed
    import cloudpickle as _cloudpickle  # type: ignore[import-not-found, import-untyped, unused-ignore]

    def dumps(value: Any) -> bytes:
        """Pickle `value`: the standard pickle when it can (several times faster), else
        cloudpickle (by value for lambdas, local and `__main__` functions).

        The standard pickle refuses lambdas and local functions, but pickles a
        `__main__` function by reference, which a worker cannot load: any pickle that
        names `__main__` at all is made again by cloudpickle.
        """
        try:
            plain = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:
            plain = None
        if plain is not None and b"__main__" not in plain:
            return plain
        return bytes(_cloudpickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))

    PICKLER = "cloudpickle"
except ImportError:

    def dumps(value: Any) -> bytes:
        """Pickle `value` with the standard pickle (functions by reference)."""
        return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)

    PICKLER = "pickle"


def task_frame(task_id: int, body: bytes, soft_timeout: float | None = None) -> bytes:
    """The payload of a task frame."""
    return TASK_HEAD.pack(task_id, soft_timeout or 0.0) + body


def reply(task_id: int, kind: int, body: bytes = b"") -> bytes:
    """The payload of a worker-to-parent frame."""
    return HEAD.pack(task_id, kind) + body


def parse_reply(payload: bytes) -> tuple[int, int, bytes]:
    """(task id, kind, body) of a worker-to-parent frame."""
    task_id, kind = HEAD.unpack_from(payload)
    return task_id, kind, payload[HEAD.size :]
