"""What runs inside a pool worker: read a task frame, run it, write a result frame.

Started as `python -I -c BOOT PATHS INIT MAX_FRAME` through corral's spawn path (a fresh
interpreter: no state copied from the parent, no fork of a threaded process),
with the task pipe at fd 3 and the result pipe at fd 4 (`protocol`). It runs the
initializer, says READY, then serves tasks one at a time until EOF on fd 3.
Only the standard library, `corral._errors` and `corral._ipc` are imported here, so
it starts fast. A task with a soft timeout gets a timer thread for it: at the
timeout it sends SIGUSR1 to the main thread, whose handler raises `SoftTimeout` in
the task if the call is still running (a late signal, after the call, is ignored).
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
import traceback
from typing import TYPE_CHECKING, Any

from corral._errors import SoftTimeout
from corral._ipc.framing import MAX_FRAME
from corral._ipc.pipe import FrameReader, send_frame
from corral._pool import protocol as p

if TYPE_CHECKING:
    import threading

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
    signal.signal(p.SOFT_TIMEOUT_SIGNAL, _soft_timeout)
    while (frame := reader.recv()) is not None:
        task_id, soft = p.TASK_HEAD.unpack_from(frame)
        reply = _run(task_id, frame[p.TASK_HEAD.size :], soft)
        send_frame(p.RESULT_FD, _within_limit(task_id, reply, limit), limit)


class _Calling:
    """Whether a task's function is being called: only then may the soft timeout
    interrupt (not while a reply is pickled or written)."""

    now = False


def _soft_timer(seconds: float) -> threading.Timer:
    """A started timer that signals the main thread after `seconds`."""
    import threading  # only for tasks with a soft timeout: workers start without it

    main = threading.main_thread().ident or 0
    timer = threading.Timer(seconds, signal.pthread_kill, (main, p.SOFT_TIMEOUT_SIGNAL))
    timer.daemon = True
    timer.start()
    return timer


def _soft_timeout(signum: int, frame: object) -> None:
    if _Calling.now:
        raise SoftTimeout("the task ran past its soft timeout")


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


def _run(task_id: int, body: bytes, soft: float) -> bytes:
    """One task's reply: its result, the exception it raised, or why neither pickles."""
    try:
        fn, args, kwargs = pickle.loads(body)
        timer = _soft_timer(soft) if soft > 0 else None
        _Calling.now = True
        try:
            value: Any = fn(*args, **kwargs)
        finally:
            _Calling.now = False
            if timer is not None:
                timer.cancel()
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
