"""State shared by the sync and async process handles; everything but the waiting.

`ProcessCore` owns the launched process, its streams and its tree, records the
exit, and builds the Result and the verdict. `Process` (handle.py) and
`AsyncProcess` (async_handle.py) add only how they wait for events.
"""

from __future__ import annotations

import time

from corral._errors import ProcessFailed
from corral._platform import WaitStatus, decode_status, send_to_pid, signal_name
from corral._platform import parse_signal as _parse_signal
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
    """A started process: pid, streams, tree, exit status; no waiting here."""

    __slots__ = (
        "_cgroup_usage",
        "_ended",
        "_launched",
        "_options",
        "_spec",
        "_status",
        "_streams",
        "_timed_out",
        "_tree",
    )

    def __init__(self, launched: Launched, spec: ProcessSpec, options: RunOptions) -> None:
        self._launched = launched
        self._spec = spec
        self._options = options
        self._streams = Streams(launched.stdin, launched.stdout, launched.stderr)
        sandbox = launched.sandbox
        cgroup = None if sandbox is None else sandbox.cgroup
        self._tree = Tree(launched.pid, launched.pgid, launched.marker, cgroup)
        self._cgroup_usage: dict[str, int | float | None] | None = None
        self._status: WaitStatus | None = None
        self._ended = 0.0
        self._timed_out: float | None = None  # the timeout that passed, if one did
        if options.input is not None:
            self._streams.feed(options.input, then_close=True)

    @property
    def pid(self) -> int:
        """The process id."""
        return self._launched.pid

    @property
    def argv(self) -> tuple[str, ...]:
        """The command as given."""
        return self._launched.argv

    @property
    def running(self) -> bool:
        """Whether corral has not yet seen it exit."""
        return self._status is None

    @property
    def exit_code(self) -> int | None:
        """Exit code once exited (None while running or when a signal ended it)."""
        return None if self._status is None else self._status.code

    @property
    def signal_name(self) -> str | None:
        """Name of the signal that ended it, once it has ended that way."""
        if self._status is None or self._status.signal is None:
            return None
        return signal_name(self._status.signal)

    def send_signal(self, sig: str | int, *, whole_tree: bool = False) -> None:
        """Send a signal (by name or number) to the process, or to every tree member."""
        number = _parse_signal(sig)
        if whole_tree:
            self._tree.send(number)
        elif self._status is None:
            send_to_pid(self.pid, number)

    def _deadline(self, timeout: float | None) -> tuple[float | None, float | None]:
        """(deadline, the timeout it came from): the given one, else the command's."""
        if timeout is not None:
            return time.monotonic() + timeout, timeout
        if self._options.timeout is not None:
            return self._launched.started + self._options.timeout, self._options.timeout
        return None, None

    def _on_exit_ready(self) -> bool:
        """The exit fd polled readable: reap. True once the status is recorded."""
        raw = self._launched.notifier.collect()
        if raw is None:
            return False
        self._ended = time.monotonic()
        self._status = decode_status(raw)
        return True

    def _finished(self) -> bool:
        return self._status is not None and self._streams.all_closed()

    def _exited(self) -> bool:
        return self._status is not None

    def _line_or_end(self, stream: int) -> bool:
        return self._streams.has_line(stream) or not self._streams.is_open(stream)

    def cgroup_usage(self) -> dict[str, int | float | None] | None:
        """What its cgroup used: memory_current, memory_peak, cpu_seconds, pids, oom_kills.

        None without a cgroup (a sandbox with cgroup limits). Once the handle is
        closed, the figures as they were when its cgroup was removed.
        """
        cgroup = self._tree.cgroup
        if self._cgroup_usage is not None or cgroup is None:
            return self._cgroup_usage
        return cgroup.usage()

    def _close(self) -> None:
        self._streams.close()
        self._launched.notifier.close()
        sandbox = self._launched.sandbox
        if sandbox is not None and sandbox.cleanup:
            if sandbox.cgroup is not None:
                kill(self._tree)  # what outlived the process (a detached daemon) dies with it
                self._cgroup_usage = sandbox.cgroup.usage()
            sandbox.undo()

    def result(self) -> Result:
        """The Result so far (final once the process has exited and output has ended)."""
        status = self._status
        return Result(
            argv=self._launched.argv,
            pid=self._launched.pid,
            exit_code=None if status is None else status.code,
            signal_name=self.signal_name,
            duration=(self._ended or time.monotonic()) - self._launched.started,
            stdout=self._streams.output(STDOUT),
            stderr=self._streams.output(STDERR),
            timed_out=self._timed_out is not None,
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
        state = "running" if self._status is None else self.result().how
        return f"<{type(self).__name__} {self.result().command!r} pid={self.pid} {state}>"
