"""State shared by the sync and async process handles; everything but the waiting.

`ProcessCore` holds the one post-spawn core (`Child`: pid, tree, exit, sandbox) and
the streams, and builds the Result and the verdict. `Process` (handle.py) and
`AsyncProcess` (async_handle.py) add only how they wait for events.
"""

from __future__ import annotations

import contextlib
import time

from corral._errors import ProcessFailed, StdinClosed, StillRunning, format_command
from corral._platform import parse_signal as _parse_signal
from corral._platform import send_to_pid
from corral._process.child import CgroupFigures, Child
from corral._process.dropped import adopt
from corral._process.options import RunOptions
from corral._process.outcome import stage_failed, verdict
from corral._process.result import Result
from corral._process.spawn import Launched
from corral._process.spec import ProcessSpec
from corral._process.streams import STDERR, STDOUT, Streams
from corral._process.tree import Tree, kill

REAP_BOUND = 30.0
"""After SIGKILL to the tree, how long to wait for the root's exit before giving up."""
DRAIN_BOUND = 5.0
"""After the tree is dead, how long to wait for EOF on pipes a stray may still hold."""


class ProcessCore:
    """A started process: its Child, its streams, its verdict; no waiting here."""

    __slots__ = ("__weakref__", "_child", "_options", "_spec", "_streams", "_timed_out")

    def __init__(self, launched: Launched, spec: ProcessSpec, options: RunOptions) -> None:
        self._child = Child(launched)
        self._spec = spec
        self._options = options
        self._streams = Streams(launched.stdin, launched.stdout, launched.stderr)
        self._timed_out: float | None = None  # the timeout that passed, if one did
        if options.input is not None:
            self._streams.feed(options.input, then_close=True)

    @property
    def pid(self) -> int:
        """The process id."""
        return self._child.pid

    @property
    def argv(self) -> tuple[str, ...]:
        """The command as given."""
        return self._child.launched.argv

    @property
    def running(self) -> bool:
        """Whether corral has not yet seen it exit."""
        return self._child.exit is None

    @property
    def exit_code(self) -> int | None:
        """Exit code once exited (None while running, when a signal ended it, or unknown)."""
        ended = self._child.exit
        return None if ended is None else ended.code

    @property
    def signal_name(self) -> str | None:
        """Name of the signal that ended it, once it has ended that way."""
        ended = self._child.exit
        return None if ended is None else ended.signal

    @property
    def _tree(self) -> Tree:
        return self._child.tree

    def send_signal(self, sig: str | int, *, whole_tree: bool = False) -> None:
        """Send a signal (by name or number) to the process, or to every tree member."""
        number = _parse_signal(sig)
        if whole_tree:
            self._tree.send(number)
        elif self._child.exit is None:
            send_to_pid(self.pid, number)

    def _check_stdin(self, more: int = 0) -> None:
        """Raise StdinClosed once a write found stdin's pipe broken (`more`: bytes not queued)."""
        lost = self._streams.broken
        if lost is not None:
            raise StdinClosed(self.argv, self.pid, lost + more)

    def _deadline(self, timeout: float | None) -> tuple[float | None, float | None]:
        """(deadline, the timeout it came from): the given one, else the command's."""
        if timeout is not None:
            return time.monotonic() + timeout, timeout
        if self._options.timeout is not None:
            return self._child.launched.started + self._options.timeout, self._options.timeout
        return None, None

    def _wait_deadline(
        self, timeout: float | None, keep_running: bool
    ) -> tuple[float | None, float | None, bool]:
        """(deadline, the timeout it came from, whether it only ends the wait).

        With `keep_running` the given timeout ends only the wait (StillRunning), but the
        command's own timeout, when it comes first, still ends the tree (TimedOut).
        """
        if not keep_running or timeout is None:
            return (*self._deadline(timeout), False)
        ours = time.monotonic() + timeout
        command, limit = self._deadline(None)
        if command is not None and command <= ours:
            return command, limit, False
        return ours, timeout, True

    def _still_running(self, timeout: float) -> StillRunning:
        return StillRunning(self.argv, self.pid, timeout)

    def _on_exit_ready(self) -> bool:
        """The exit fd polled readable: reap. True once the exit is recorded."""
        return self._child.collect() is not None

    def _finished(self) -> bool:
        return self._child.exit is not None and self._streams.all_closed()

    def _exited(self) -> bool:
        return self._child.exit is not None

    def _line_or_end(self, stream: int) -> bool:
        return self._streams.has_line(stream) or not self._streams.is_open(stream)

    def cgroup_usage(self) -> CgroupFigures | None:
        """What its cgroup used: memory_current, memory_peak, cpu_seconds, pids, oom_kills.

        None without a cgroup (a sandbox with cgroup limits). Once the handle is
        closed, the figures as they were when its cgroup was removed.
        """
        return self._child.cgroup_usage()

    def _close(self) -> None:
        """Close the streams and release the Child; a cgroup's leftovers die first."""
        self._streams.close()
        if self._child.cgroup is not None and not self._child.released:
            kill(self._tree)  # what outlived the process (a detached daemon) dies with it
        self._child.release()

    def __del__(self) -> None:
        """Dropped before it was closed: close our pipe ends now, reap and release later.

        The child runs on unless the command has `kill_on_drop` (then its whole tree is
        ended); either way it is reaped on a thread once it exits (dropped.py).
        """
        child = getattr(self, "_child", None)
        if child is None or child.released:
            return
        with contextlib.suppress(Exception):  # a finaliser must not raise (or at shutdown)
            self._forget()
            self._streams.close()
            adopt(child, end_tree=self._options.kill_on_drop)

    def _forget(self) -> None:
        """Drop what waits on our fds (the async twin's loop readers) before they close."""

    def result(self) -> Result:
        """The Result so far (final once the process has exited and output has ended)."""
        ended = self._child.exit
        started = self._child.launched.started
        return Result(
            argv=self.argv,
            pid=self.pid,
            exit_code=None if ended is None else ended.code,
            signal_name=None if ended is None else ended.signal,
            duration=(time.monotonic() if ended is None else ended.at) - started,
            stdout=self._streams.output(STDOUT),
            stderr=self._streams.output(STDERR),
            timed_out=self._timed_out is not None,
            oom_killed=ended is not None and ended.oom,
            status_unknown=ended is not None and not ended.known,
        )

    def _judged(self, check: bool) -> Result:
        result = self.result()
        error: ProcessFailed | None = verdict(
            result,
            failed=stage_failed(result, self._options.ok_codes),
            timed_out=self._timed_out is not None,
            timeout=self._timed_out,
            check=check,
        )
        if error is not None:
            raise error
        return result

    def __repr__(self) -> str:
        ended = self._child.exit
        state = "running" if ended is None else self.result().how
        command = format_command(self.argv)
        return f"<{type(self).__name__} {command!r} pid={self.pid} {state}>"
