"""AsyncProcess: the asyncio twin of Process, with the same methods awaited.

The exit fd is registered with the running loop, each output pipe is read by a
`PipeReader` into the shared `Streams`, stdin is written on add_writer; each event
wakes the one coroutine waiting on this process. Cancelling the waiting task ends the whole tree.
"""

from __future__ import annotations

import asyncio
import select
import time
import weakref
from collections.abc import AsyncIterator, Callable, Sequence
from types import TracebackType

from corral._process import tree as _tree
from corral._process.core import DRAIN_BOUND, REAP_BOUND, ProcessCore
from corral._process.options import RunOptions
from corral._process.reading import PipeReader
from corral._process.result import Result
from corral._process.spawn import Launched
from corral._process.spec import ProcessSpec
from corral._process.streams import STDERR, STDOUT

_STREAMS = {"stdout": STDOUT, "stderr": STDERR}


class AsyncProcess(ProcessCore):
    """A running child process (asyncio). Use with `async with`; see `corral.start_async`."""

    __slots__ = ("_loop", "_pipes", "_waiter", "_writing")

    def __init__(self, launched: Launched, spec: ProcessSpec, options: RunOptions) -> None:
        super().__init__(launched, spec, options)
        self._loop = asyncio.get_running_loop()
        self._waiter: asyncio.Future[None] | None = None
        self._writing = False
        # The loop holds these callbacks, so they hold the handle weakly: one the caller
        # dropped is collected, and its __del__ hands the child on (dropped.py).
        wake = _weakly(self._wake)
        self._pipes = tuple(
            PipeReader(self._loop, fd, self._streams.sink(fd, wake))
            for fd in list(self._streams.readers)
        )
        self._loop.add_reader(launched.notifier.fd, _weakly(self._on_exit))
        self._sync_writer()

    async def __aenter__(self) -> AsyncProcess:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is not None:
                await self._abort()
            elif self._child.exit is None:
                await self._end(grace=self._options.grace)
            else:
                await _tree.kill_async(self._tree)
        finally:
            await self._aclose()

    # -- waiting ------------------------------------------------------------

    async def wait(self, timeout: float | None = None, *, keep_running: bool = False) -> Result:
        """Wait for exit and end of output; return the Result (raising per `check`).

        `keep_running=True` makes `timeout` bound only this wait: see Process.wait.
        """
        deadline, limit, only_wait = self._wait_deadline(timeout, keep_running)
        if not keep_running:
            self._close_idle_stdin()
        try:
            finished = await self._wait_until(deadline, self._finished)
        except BaseException:
            await self._abort()
            raise
        if not finished and only_wait and limit is not None:
            raise self._still_running(limit)
        if not finished:
            self._timed_out = limit
            await self._end(grace=self._options.grace)
        return self._judged(self._options.check)

    async def stop(self, grace: float | None = None) -> Result:
        """Stop the tree: stop signal, up to `grace` seconds, then SIGKILL. Never raises."""
        await self._end(grace=self._options.grace if grace is None else grace)
        return self.result()

    async def kill(self) -> Result:
        """SIGKILL the whole tree now and collect the exit. Never raises."""
        await self._end(grace=None)
        return self.result()

    # -- streaming ------------------------------------------------------------

    async def readline(self, stream: str = "stdout", timeout: float | None = None) -> str | None:
        """The next line of output (no newline), or None at end; see Process.readline."""
        which = _STREAMS[stream]
        if timeout is not None:
            ready = await self._wait_until(
                time.monotonic() + timeout, lambda: self._line_or_end(which)
            )
            if not ready:
                raise TimeoutError(f"no line on {stream} of pid {self.pid} within {timeout:g} s")
        else:
            deadline, limit = self._deadline(None)
            if not await self._wait_until(deadline, lambda: self._line_or_end(which)):
                self._timed_out = limit
                await self._end(grace=self._options.grace)
                self._judged(check=False)  # raises TimedOut
        return self._streams.take_line(which)

    async def lines(self, stream: str = "stdout") -> AsyncIterator[str]:
        """Iterate over output lines as they arrive, until the stream ends."""
        while (line := await self.readline(stream)) is not None:
            yield line

    async def write(self, data: bytes | str) -> None:
        """Write to the child's stdin (started with stdin='pipe'); see Process.write."""
        self._check_stdin(len(data))
        self._streams.feed(data)
        self._sync_writer()
        await self._wait_until(self._deadline(None)[0], lambda: not self._streams.pending)
        self._check_stdin()

    async def close_stdin(self) -> None:
        """Finish writing and close stdin, so the child reads EOF."""
        self._streams.close_stdin_when_drained = True
        self._sync_writer()
        await self._wait_until(self._deadline(None)[0], lambda: self._streams.stdin is None)

    # -- events -------------------------------------------------------------

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _on_exit(self) -> None:
        if self._on_exit_ready():
            self._loop.remove_reader(self._child.exit_fd)
        self._wake()

    def _on_write(self) -> None:
        if self._streams.on_writable():
            self._close_stdin_now()
        self._sync_writer()
        self._wake()

    def _sync_writer(self) -> None:
        """Watch stdin for writability exactly while there is something to write."""
        stdin = self._streams.stdin
        want = stdin is not None and self._streams.wants_write()
        if want and not self._writing and stdin is not None:
            self._loop.add_writer(stdin, _weakly(self._on_write))
        elif not want and self._writing and stdin is not None:
            self._loop.remove_writer(stdin)
        self._writing = want

    def _close_idle_stdin(self) -> None:
        """Close stdin now when there is nothing to write to it."""
        if self._streams.stdin is not None and not self._streams.wants_write():
            self._close_stdin_now()

    def _close_stdin_now(self) -> None:
        stdin = self._streams.stdin
        if stdin is not None and self._writing:
            self._loop.remove_writer(stdin)
        self._writing = False
        self._streams.close_stdin()

    async def _wait_until(self, deadline: float | None, done: Callable[[], bool]) -> bool:
        while not done():
            if self._child.exit is not None and not self._streams.readers and not self._writing:
                return done()
            timeout = None if deadline is None else deadline - time.monotonic()
            if timeout is not None and timeout <= 0:
                return False
            self._waiter = self._loop.create_future()
            timer = None if timeout is None else self._loop.call_later(timeout, self._wake)
            try:
                await self._waiter
            finally:
                self._waiter = None
                if timer is not None:
                    timer.cancel()
        return True

    # -- ending ---------------------------------------------------------------

    async def _end(self, *, grace: float | None) -> None:
        if self._child.exit is None and grace is not None:
            self._tree.send(self._spec.stop_signal)
            await self._wait_until(time.monotonic() + grace, self._exited)
        await _tree.kill_async(self._tree)
        await self._wait_until(time.monotonic() + REAP_BOUND, self._exited)
        await self._wait_until(time.monotonic() + DRAIN_BOUND, self._streams.all_closed)
        self._unregister()
        self._streams.close()

    async def _abort(self) -> None:
        """End the tree at once after an error or cancellation; survive a second cancel."""
        try:
            await self._end(grace=None)
        except asyncio.CancelledError:
            _tree.kill(self._tree)
            self._reap_blocking()
            raise

    def _reap_blocking(self) -> None:
        """Collect the killed root's exit without the loop (bounded), so it is no zombie."""
        if self._child.exit is None:
            poller = select.poll()
            poller.register(self._child.exit_fd, select.POLLIN)
            if poller.poll(REAP_BOUND * 1000):
                self._on_exit()

    def _unregister(self) -> None:
        for pipe in self._pipes:
            pipe.close()
        if self._child.exit is None:
            self._loop.remove_reader(self._child.exit_fd)
        self._close_stdin_now()

    async def _aclose(self) -> None:
        """`_close` without blocking the loop: a cgroup is emptied on a thread.

        A second cancellation while it runs falls back to the blocking `_close`, so
        nothing is left behind either way.
        """
        self._unregister()
        try:
            if self._child.cgroup is not None and not self._child.released:
                await _tree.kill_async(self._tree)
            await self._child.release_async()
        except asyncio.CancelledError:
            self._close()
            raise
        self._streams.close()

    def _close(self) -> None:
        self._unregister()
        super()._close()

    def _forget(self) -> None:
        self._unregister()  # a closed loop ignores the removals


def _weakly(method: Callable[[], None]) -> Callable[[], None]:
    """`method`, holding its object weakly: a no-op once the object is gone."""
    ref = weakref.WeakMethod(method)

    def call() -> None:
        bound = ref()
        if bound is not None:
            bound()

    return call


async def run_together(procs: Sequence[AsyncProcess], timeout: float | None, grace: float) -> None:
    """The async twin of `handle.run_together`: same rules; cancelling kills every tree."""
    try:
        deadline = None if timeout is None else procs[0]._child.launched.started + timeout
        for proc in procs:
            proc._close_idle_stdin()
        waits = [proc._wait_until(deadline, proc._finished) for proc in procs]
        if not all(await asyncio.gather(*waits)):
            for proc in procs:
                proc._timed_out = timeout
            await asyncio.gather(*(proc._end(grace=grace) for proc in procs))
    except BaseException:
        await asyncio.gather(*(proc._abort() for proc in procs), return_exceptions=True)
        raise
    finally:
        for proc in procs:
            await proc._aclose()
