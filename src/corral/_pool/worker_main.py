"""What runs inside a pool worker: read a task frame, run it, write a result frame.

Started as `python -I -c BOOT PATHS INIT MAX_FRAME` through corral's spawn path (a fresh
interpreter: no state copied from the parent, no fork of a threaded process),
with the task pipe at fd 3 and the result pipe at fd 4 (`protocol`). It runs the
initializer, says READY, then serves tasks one at a time until EOF on fd 3.
Only the standard library and `corral._ipc` are imported here, so it starts fast.
"""

from __future__ import annotations

import os
import pickle
import sys
import traceback
from typing import Any

from corral._ipc.framing import MAX_FRAME
from corral._ipc.pipe import FrameReader, send_frame
from corral._pool import protocol as p

BOOT = (
    "import sys, json; sys.path[:0] = json.loads(sys.argv[1]); "
    "from corral._pool.worker_main import main; main()"
)
"""The `-c` program: put the parent's import path first, then serve."""


def main() -> None:
    """Serve tasks from fd 3 until EOF; exit 0 then."""
    os.set_inheritable(p.TASK_FD, False)  # a task's own children must not hold our pipes
    os.set_inheritable(p.RESULT_FD, False)
    init = sys.argv[2] if len(sys.argv) > 2 else ""
    limit = int(sys.argv[3]) if len(sys.argv) > 3 else MAX_FRAME
    if not _initialize(init):
        sys.exit(1)
    reader = FrameReader(p.TASK_FD, limit)
    while (frame := reader.recv()) is not None:
        (task_id,) = p.TASK_ID.unpack_from(frame)
        reply = _run(task_id, frame[p.TASK_ID.size :])
        send_frame(p.RESULT_FD, _within_limit(task_id, reply, limit), limit)


def _initialize(init: str) -> bool:
    """Run the pickled (initializer, initargs) given in hex, if any; report READY or why not."""
    try:
        if init:
            initializer, initargs = pickle.loads(bytes.fromhex(init))
            initializer(*initargs)
    except BaseException:
        send_frame(p.RESULT_FD, p.reply(0, p.INIT_FAILED, traceback.format_exc().encode()))
        return False
    send_frame(p.RESULT_FD, p.reply(0, p.READY))
    return True


def _run(task_id: int, body: bytes) -> bytes:
    """One task's reply: its result, the exception it raised, or why neither pickles."""
    try:
        fn, args, kwargs = pickle.loads(body)
        value: Any = fn(*args, **kwargs)
    except BaseException as exc:
        text = traceback.format_exc()
        try:
            return p.reply(task_id, p.RAISED, p.dumps((exc, text)))
        except Exception as why:
            return _unpicklable(task_id, f"raised {type(exc).__qualname__}: {exc}", why, text)
    try:
        return p.reply(task_id, p.RESULT, p.dumps(value))
    except Exception as why:
        return _unpicklable(task_id, f"returned a {type(value).__qualname__}", why, "")


def _within_limit(task_id: int, reply: bytes, limit: int) -> bytes:
    """`reply`, or an UNPICKLABLE reply saying it is over the frame limit."""
    if len(reply) <= limit:
        return reply
    reason = f"its reply of {len(reply)} bytes is over the frame limit of {limit} bytes"
    return p.reply(task_id, p.UNPICKLABLE, reason.encode() + b"\n")


def _unpicklable(task_id: int, what: str, why: Exception, text: str) -> bytes:
    reason = f"{what} that cannot be pickled ({type(why).__name__}: {why})"
    return p.reply(task_id, p.UNPICKLABLE, (reason + "\n" + text).encode())
