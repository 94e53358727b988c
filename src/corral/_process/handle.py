"""Process: the synchronous handle on a running child, and a context manager for it.

Waiting is one poll() over our pipe ends, the stdin pipe when there is input, and
the exit fd: output is drained while waiting, so a chatty child never blocks on
a full pipe. Leaving the `with` block ends the whole tree: gracefully when the
block finished normally, at once with SIGKILL when it raised.
"""

from __future__ import annotations

import select
import time
from collections.abc import Callable, Iterator, Sequence
from types import TracebackType

from corral._process import tree as _tree
from corral._process.core import DRAIN_BOUND, REAP_BOUND, ProcessCore
from corral._process.result import Result
from corral._process.streams import STDERR, STDOUT

_STREAMS = {"stdout": STDOUT, "stderr": STDERR}


class Process(ProcessCore):
    """A running child process (sync). Use as a context manager; see `corral.start`."""

    __slots__ = ()

    def __enter__(self) -> Process:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is not None:
                self._end(grace=None)
            elif self._child.exit is None:
                self._end(grace=self._options.grace)
            else:
                _tree.kill(self._tree)
        finally:
            self._close()

    # -- waiting ------------------------------------------------------------

    def wait(self, timeout: float | None = None, *, keep_running: bool = False) -> Result:
        """Wait for exit and end of output; return the Result (raising per `check`).

        If `timeout` (or the command's timeout) passes first, the tree is stopped
        (stop signal, grace, SIGKILL) and TimedOut is raised. With `keep_running=True`,
        `timeout` only bounds this wait (subprocess's `wait(timeout)`): StillRunning is
        raised, the process runs on, stdin stays open, and a later wait carries on.
        """
        deadline, limit, only_wait = self._wait_deadline(timeout, keep_running)
        if not keep_running:
            self._close_idle_stdin()
        if not self._pump(deadline, self._finished):
            if only_wait and limit is not None:
                raise self._still_running(limit)
            self._timed_out = limit
            self._end(grace=self._options.grace)
        return self._judged(self._options.check)

    def poll(self) -> bool:
        """Handle whatever is ready without blocking; True once the process has exited."""
        self._pump(time.monotonic(), self._exited)
        return self._child.exit is not None

    def stop(self, grace: float | None = None) -> Result:
        """Stop the tree: stop signal, up to `grace` seconds, then SIGKILL. Never raises."""
        self._end(grace=self._options.grace if grace is None else grace)
        return self.result()

    def kill(self) -> Result:
        """SIGKILL the whole tree now and collect the exit. Never raises."""
        self._end(grace=None)
        return self.result()

    # -- streaming ------------------------------------------------------------

    def readline(self, stream: str = "stdout", timeout: float | None = None) -> str | None:
        """The next line of captured output (no newline), or None at end of output.

        With `timeout`, raises TimeoutError if no line comes in time (the process
        keeps running). Without it, the command's own timeout applies and ends the tree.
        """
        which = _STREAMS[stream]
        if not self._pump_for_line(which, timeout):
            raise TimeoutError(f"no line on {stream} of pid {self.pid} within {timeout:g} s")
        return self._streams.take_line(which)

    def lines(self, stream: str = "stdout") -> Iterator[str]:
        """Iterate over output lines as they arrive, until the stream ends."""
        while (line := self.readline(stream)) is not None:
            yield line

    def write(self, data: bytes | str) -> None:
        """Write to the child's stdin (started with stdin='pipe'), draining output meanwhile.

        Raises StdinClosed when the pipe is broken (the child exited or closed its stdin).
        """
        self._check_stdin(len(data))
        self._streams.feed(data)
        self._pump(self._deadline(None)[0], lambda: not self._streams.pending)
        self._check_stdin()

    def close_stdin(self) -> None:
        """Finish writing and close stdin, so the child reads EOF."""
        self._streams.close_stdin_when_drained = True
        self._pump(self._deadline(None)[0], lambda: self._streams.stdin is None)

    # -- internals ----------------------------------------------------------

    def _pump_for_line(self, which: int, timeout: float | None) -> bool:
        if timeout is not None:
            return self._pump(time.monotonic() + timeout, lambda: self._line_or_end(which))
        deadline, limit = self._deadline(None)
        if self._pump(deadline, lambda: self._line_or_end(which)):
            return True
        self._timed_out = limit
        self._end(grace=self._options.grace)
        self._judged(check=False)  # raises TimedOut
        return True

    def _end(self, *, grace: float | None) -> None:
        """Stop (grace given) or kill (None) the tree, then collect exit and output."""
        end_together((self,), grace)

    def _close_idle_stdin(self) -> None:
        """Close stdin now when there is nothing to write to it."""
        if self._streams.stdin is not None and not self._streams.wants_write():
            self._streams.close_stdin()

    def _pump(self, deadline: float | None, done: Callable[[], bool]) -> bool:
        return pump((self,), deadline, done)

    def _dispatch(self, fd: int) -> None:
        streams = self._streams
        if fd == self._child.exit_fd and self._child.exit is None:
            self._on_exit_ready()
        elif fd == streams.stdin:
            if streams.on_writable():
                streams.close_stdin()
        elif fd in streams.readers and streams.on_readable(fd):
            streams.close_reader(fd)

    def _register(self, poller: select.poll, owners: dict[int, Process]) -> bool:
        """Register this process's live fds; False when it has nothing left to wait for."""
        streams = self._streams
        for fd in streams.readers:
            poller.register(fd, select.POLLIN)
            owners[fd] = self
        if streams.wants_write() and streams.stdin is not None:
            poller.register(streams.stdin, select.POLLOUT)
            owners[streams.stdin] = self
        if self._child.exit is None:
            poller.register(self._child.exit_fd, select.POLLIN)
            owners[self._child.exit_fd] = self
        return bool(owners)


def pump(procs: Sequence[Process], deadline: float | None, done: Callable[[], bool]) -> bool:
    """Dispatch I/O and exit events of `procs` until `done()` or the deadline; returns done().

    One poll() covers every process, so the stages of a pipeline are drained together.
    """
    while not done():
        poller = select.poll()
        owners: dict[int, Process] = {}
        for proc in procs:
            proc._register(poller, owners)
        if not owners:
            return done()
        wait_ms = None if deadline is None else max((deadline - time.monotonic()) * 1000, 0)
        for fd, _ in poller.poll(wait_ms):
            owners[fd]._dispatch(fd)
        if wait_ms == 0:  # past the deadline: one pass over what was ready, no more
            return done()
    return True


def run_together(procs: Sequence[Process], timeout: float | None, grace: float) -> None:
    """Run processes started together (a pipeline's stages) to their end, as one, and close them.

    One poll() drains them all. When `timeout` (counted from the first one's start)
    passes, each is marked timed out and every tree is stopped (stop signal, `grace`,
    SIGKILL); on an error or an interrupt every tree is killed at once.
    """
    try:
        deadline = None if timeout is None else procs[0]._child.launched.started + timeout
        for proc in procs:
            proc._close_idle_stdin()
        if not pump(procs, deadline, lambda: all(p._finished() for p in procs)):
            for proc in procs:
                proc._timed_out = timeout
            end_together(procs, grace)
    except BaseException:
        if any(proc.running for proc in procs):
            end_together(procs, None)
        raise
    finally:
        for proc in procs:
            proc._close()


def end_together(procs: Sequence[Process], grace: float | None) -> None:
    """Stop (grace given) or kill (None) every tree, then collect every exit and output."""
    if grace is not None:
        for proc in procs:
            if proc.running:
                proc._tree.send(proc._spec.stop_signal)
        pump(procs, time.monotonic() + grace, lambda: not any(p.running for p in procs))
    for proc in procs:
        _tree.kill(proc._tree)
    pump(procs, time.monotonic() + REAP_BOUND, lambda: not any(p.running for p in procs))
    pump(procs, time.monotonic() + DRAIN_BOUND, lambda: all(p._streams.all_closed() for p in procs))
    for proc in procs:
        proc._streams.close()


def discard(proc: Process) -> None:
    """Kill and close a process that will not be waited for (a stage whose pipeline failed)."""
    try:
        end_together((proc,), None)
    finally:
        proc._close()
