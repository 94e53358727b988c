"""Children whose handle was dropped before it was closed: reaped and released later.

A `Process` or `AsyncProcess` garbage-collected while its child runs (or before its
exit was collected) would leave a zombie and its fds for good. subprocess keeps such
children in a list (`_active`) reaped at the next Popen; duct reaps them on drop in a
thread. corral hands the `Child` to a small daemon thread that waits on the child's
own exit notifier (the pidfd, or the waiter thread's pipe: `reaper.py`), collects the
exit and releases the child (notifier closed, sandbox cleaned). The handle's pipes
are closed at the drop, as a dropped file object closes its fd.

With `kill_on_drop` (tokio's name) the thread first ends the whole tree with the
same rounds of SIGKILL as `kill()`; without it the child runs on, as with subprocess,
and is reaped once it exits. One thread per dropped child, ended with it: dropping a
handle is a mistake or a shortcut, not a hot path.
"""

from __future__ import annotations

import contextlib
import select
import threading

from corral._process.child import Child
from corral._process.tree import kill


def adopt(child: Child, *, end_tree: bool) -> None:
    """Reap and release `child` on a thread of its own; first end its tree if `end_tree`."""
    if child.released:
        return
    thread = threading.Thread(
        target=_finish, args=(child, end_tree), name=f"corral-dropped-{child.pid}", daemon=True
    )
    with contextlib.suppress(RuntimeError):  # no new threads at interpreter shutdown
        thread.start()


def _finish(child: Child, end_tree: bool) -> None:
    if end_tree:
        kill(child.tree)
    poller = select.poll()
    poller.register(child.exit_fd, select.POLLIN)
    while child.collect() is None:
        poller.poll()
    child.release()
