"""One pool worker as the parent sees it: a Child of the spawn path and its channel.

Making a `Worker` launches `python -I -c BOOT` through `corral._process.spawn.launch`
with a pipe pair mapped to fds 3 and 4 (and the pool's `Sandbox`, if any: the fork
path maps the same fds), registers the result pipe
(`AsyncFrameReader`) and the exit fd (a pidfd: no polling) with the running loop,
and reports both to its owner through callbacks; task frames are written by the
loop without ever blocking it (`LoopFrameWriter`). Ending it (`end`) signals its
whole tree with the stop signal, waits the grace for the worker to exit, then kills
what is left with corral's tree kill. No policy here: the pool decides what an event means.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from corral._ipc.framing import MAX_FRAME
from corral._ipc.loop_reader import AsyncFrameReader
from corral._ipc.loop_writer import LoopFrameWriter
from corral._platform import send_to_pid
from corral._pool import protocol
from corral._pool.worker_main import BOOT
from corral._process.child import Child
from corral._process.exit import Exit
from corral._process.spawn import launch
from corral._process.spec import ProcessSpec
from corral._process.tree import kill_async

if TYPE_CHECKING:
    from corral._sandbox.spec import Sandbox


def worker_argv(initializer: bytes, max_frame: int) -> tuple[str, ...]:
    """The worker's command: this interpreter, isolated, with our import path first."""
    path = [os.path.abspath(entry) if entry else os.getcwd() for entry in sys.path]
    return (sys.executable, "-I", "-c", BOOT, json.dumps(path), initializer.hex(), str(max_frame))


class Worker:
    """A running worker: its Child, its task pipe (ours to write), its result reader."""

    __slots__ = (
        "_exited",
        "_reader",
        "_results_fd",
        "_writer",
        "child",
        "done",
        "ending",
        "idle_timer",
        "ready",
        "retired",
        "task",
        "tasks_fd",
    )

    def __init__(
        self,
        initializer: bytes,
        on_reply: Callable[[Worker, bytes], None],
        on_exit: Callable[[Worker, Exit], None],
        max_frame: int = MAX_FRAME,
        sandbox: Sandbox | None = None,
    ) -> None:
        task_r, task_w = os.pipe2(os.O_CLOEXEC)
        result_r, result_w = os.pipe2(os.O_CLOEXEC)
        try:
            spec = ProcessSpec(
                argv=worker_argv(initializer, max_frame),
                stdin="devnull",
                stdout="inherit",
                stderr="inherit",
                map_fds=((task_r, protocol.TASK_FD), (result_w, protocol.RESULT_FD)),
                sandbox=sandbox,
            )
            self.child = Child(launch(spec))
        except BaseException:
            for fd in (task_r, task_w, result_r, result_w):
                os.close(fd)
            raise
        os.close(task_r)
        os.close(result_w)
        self.tasks_fd: int | None = task_w
        """Our end of the task pipe; None once closed (the worker then exits)."""
        self.ready = False
        """The worker said READY: it runs its initializer no more and waits for tasks."""
        self.task: Any = None
        """The task it runs now (the pool's record), or None when idle."""
        self.ending = False
        """Its end has begun (a timeout, a cancel, a death, a retirement): it takes no
        more tasks."""
        self.retired = False
        """It was asked to exit between tasks (recycling, idle shrink): not a failure."""
        self.done = 0
        """Tasks it has completed."""
        self.idle_timer: asyncio.TimerHandle | None = None
        """While it is idle and may be shrunk away: the loop timer that retires it."""
        self._writer = LoopFrameWriter(task_w, max_frame)
        self._results_fd: int | None = result_r
        self._exited = asyncio.get_running_loop().create_future()
        self._reader = AsyncFrameReader(
            result_r,
            lambda frame: on_reply(self, frame),
            lambda _error: self._close_results(),
            max_frame,
        )
        asyncio.get_running_loop().add_reader(self.child.exit_fd, self._on_exit_fd, on_exit)

    @property
    def pid(self) -> int:
        """The worker's pid."""
        return self.child.pid

    def send(self, payload: bytes) -> None:
        """Send one task frame without blocking the loop; a gone worker's exit fd says how."""
        if self.tasks_fd is not None:
            self._writer.send(payload)

    def close_tasks(self) -> None:
        """Close our end of the task pipe: an idle worker sees EOF and exits 0."""
        if self.idle_timer is not None:
            self.idle_timer.cancel()
            self.idle_timer = None
        if self.tasks_fd is not None:
            self._writer.close()
            os.close(self.tasks_fd)
            self.tasks_fd = None

    def retire(self) -> None:
        """Between tasks: take no more and exit 0 on EOF (idempotent)."""
        if not self.ending:
            self.ending = self.retired = True
            self.close_tasks()

    def _on_exit_fd(self, on_exit: Callable[[Worker, Exit], None]) -> None:
        ended = self.child.collect()
        if ended is None:
            return
        asyncio.get_running_loop().remove_reader(self.child.exit_fd)
        self._reader.drain()  # a reply written just before the exit counts
        self.close_tasks()
        if not self._exited.done():
            self._exited.set_result(None)
        on_exit(self, ended)

    def begin_end(self) -> None:
        """Mark it ending and send the worker itself the stop signal, now (idempotent).

        The tree scan in `end` takes milliseconds; the worker's descendants keep the tree
        marker, so that scan still finds them after the worker has died.
        """
        if not self.ending:
            self.ending = True
            self.close_tasks()
            if self.child.exit is None:
                send_to_pid(self.pid, signal.SIGTERM)

    async def end(self, grace: float) -> None:
        """End its whole tree: stop signal, the grace for the worker to exit, then SIGKILL.

        Returns once the tree is gone (bounded by the tree kill's own limit).
        """
        self.begin_end()
        if self.child.exit is None:
            await self.child.tree.send_async(signal.SIGTERM)
            await asyncio.wait([self._exited], timeout=grace)
        await self.reap_tree()

    async def reap_tree(self) -> None:
        """Kill whatever is left of its tree (children of a dead worker), then release it."""
        await kill_async(self.child.tree)
        self._reader.drain()  # every writer is dead now: what is left is all there is
        self._close_results()
        await self.child.release_async()

    def _close_results(self) -> None:
        self._reader.close()
        if self._results_fd is not None:
            os.close(self._results_fd)
            self._results_fd = None

    def __repr__(self) -> str:
        state = (
            "retiring"
            if self.retired
            else "ending"
            if self.ending
            else "busy"
            if self.task
            else "idle"
            if self.ready
            else "starting"
        )
        return f"<Worker pid={self.pid} {state}>"
