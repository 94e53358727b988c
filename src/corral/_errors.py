"""The one error tree of corral, importable from every layer.

::

    CorralError
    ├── InvalidSpec              a spec or argument is wrong (also a ValueError)
    ├── ConfigError              the config file cannot be used: file:line: key: expected
    ├── UnsafeDirectory          a directory the daemon would use is not safe from other users
    ├── UnsupportedFeature       this machine cannot do what was asked
    ├── DaemonUnavailable        no daemon answers on the control socket; says how to start one
    ├── ApiError                 the daemon answered a request with an error status
    ├── UnknownTarget            no program or instance by that name; "did you mean"
    ├── SpawnError               the command could not be started
    │   ├── ExecutableNotFound       no such program on PATH, or no such file
    │   ├── PermissionDenied         found, but not executable by us
    │   └── BadWorkingDirectory      the cwd is missing or not a directory
    ├── StdinClosed              a write to a child's stdin found the pipe broken
    ├── StillRunning             wait(timeout, keep_running=True) ran out; it runs on
    ├── FrameError               a channel's bytes are not a valid sequence of frames
    │   ├── FrameTooLarge            a frame's length is over the limit (refused unread)
    │   └── TruncatedFrame           the stream ended in the middle of a frame
    ├── WorkerDied               a pool worker died running a task (exit code, signal, OOM)
    ├── TaskTimedOut             a pool task passed its timeout (also a TimeoutError)
    ├── SoftTimeout              raised inside a pool task at its soft timeout (a TimeoutError)
    ├── TaskFailed               a task's result or exception could not come back as itself
    ├── DeadlineMissed           a pool task's deadline passed before it started (Edf "drop")
    ├── CoordinationError        a lock, election or coordination store cannot be used
    │   ├── LockTimeout              not acquired within the timeout (also a TimeoutError)
    │   ├── StoreUnavailable         etcd does not answer (down, refusing, too slow)
    │   └── LeaseLost                a lock or leadership held on a lease is no longer held
    └── ProcessFailed            it ran, and the outcome counts as failure
        ├── ExitedNonZero            exit code outside the accepted ones
        ├── KilledBySignal           ended by a signal it did not survive (or the OOM killer)
        ├── ExitStatusUnknown        it exited, but something else collected its status
        └── TimedOut                 the deadline passed; the tree was ended

Messages name the command, what happened (exit code or signal *name*, the last
lines of stderr, the failing step and errno) and, where it helps, what to do.
This module imports nothing from corral, so any layer may raise these.
"""

from __future__ import annotations

import errno as _errno
from collections.abc import Sequence
from typing import Protocol

__all__ = [
    "ApiError",
    "BadWorkingDirectory",
    "ConfigError",
    "CoordinationError",
    "CorralError",
    "DaemonUnavailable",
    "DeadlineMissed",
    "ExecutableNotFound",
    "ExitStatusUnknown",
    "ExitedNonZero",
    "FinishedProcess",
    "FrameError",
    "FrameTooLarge",
    "InvalidSpec",
    "KilledBySignal",
    "LeaseLost",
    "LockTimeout",
    "PermissionDenied",
    "ProcessFailed",
    "SoftTimeout",
    "SpawnError",
    "StdinClosed",
    "StillRunning",
    "StoreUnavailable",
    "TaskFailed",
    "TaskTimedOut",
    "TimedOut",
    "TruncatedFrame",
    "UnknownTarget",
    "UnsafeDirectory",
    "UnsupportedFeature",
    "WorkerDied",
]

_STDERR_TAIL_LINES = 5
SHORT_LIMIT = 200
"""How many characters of a command (or other long value) a message or repr shows."""
_KNOWN_TARGETS_LISTED = 10


class FinishedProcess(Protocol):
    """What an error needs to know about a process that ran (a `Result` fits)."""

    @property
    def argv(self) -> tuple[str, ...]: ...
    @property
    def pid(self) -> int: ...
    @property
    def exit_code(self) -> int | None: ...
    @property
    def signal_name(self) -> str | None: ...
    @property
    def stderr(self) -> bytes: ...
    @property
    def duration(self) -> float: ...
    @property
    def oom_killed(self) -> bool: ...
    @property
    def status_unknown(self) -> bool: ...


def shorten(text: str, limit: int = SHORT_LIMIT) -> str:
    """`text` cut to about `limit` characters for a message or repr, saying what was cut.

    The one shortening helper: an argv of megabytes (E2BIG) or a huge output must
    not make a message or a repr as large. "head… (N more bytes)", N in UTF-8 bytes.
    """
    if len(text) <= limit:
        return text
    rest = len(text[limit:].encode("utf-8", "surrogateescape"))
    return f"{text[:limit]}… ({rest} more bytes)"


def format_command(argv: Sequence[str], limit: int = SHORT_LIMIT) -> str:
    """Render argv the way a shell user would type it, for messages (shortened)."""
    import shlex

    return shorten(shlex.join(argv), limit)


class CorralError(Exception):
    """Base class of every error corral raises on purpose."""


class InvalidSpec(CorralError, ValueError):
    """A spec, option or argument is invalid; raised when it is built, before any effect."""


class ConfigError(CorralError):
    """The config file cannot be used, so nothing from it was applied.

    The message names the file, the line (and column, for TOML syntax), the key and
    what was expected, like a compiler: `/etc/corral.toml:14: programs.web.restart:
    expected one of always, on-failure, never; got 'sometimes'`. Further problems
    found in the same file are in `more`, in file order, one per message line;
    `headline` is this problem alone.
    """

    def __init__(
        self,
        *,
        file: str,
        line: int | None,
        key: str | None,
        expected: str,
        got: str | None = None,
        hint: str | None = None,
        column: int | None = None,
        more: Sequence[ConfigError] = (),
    ) -> None:
        self.file = file
        self.line = line
        self.column = column
        self.key = key
        self.expected = expected
        self.got = got
        self.hint = hint
        self.more = tuple(more)
        where = file if line is None else f"{file}:{line}"
        if line is not None and column is not None:
            where += f":{column}"
        text = f"{where}: {key}: expected {expected}" if key else f"{where}: expected {expected}"
        text += f"; got {got}" if got is not None else ""
        text += f"; {hint}" if hint else ""
        self.headline = text
        super().__init__("\n".join([text, *(error.headline for error in self.more)]))


class UnsafeDirectory(CorralError):
    """A socket, state or log directory another user owns or can write (it or a parent).

    A root daemon writing there could be made to write elsewhere; the message names
    the directory, its owner and mode, and why it is refused.
    """


class UnsupportedFeature(CorralError):
    """The machine lacks a feature that was asked for; names the feature and what it needs."""

    def __init__(self, feature: str, *, reason: str, needs: str) -> None:
        self.feature = feature
        self.reason = reason
        self.needs = needs
        super().__init__(f"{feature} is not available here: {reason} (needs {needs})")


class DaemonUnavailable(CorralError):
    """No corral daemon answers at `address` (a socket path or host:port).

    `reason` says what went wrong when it is more than "nothing listens"; `hint` says
    what to do, by default how to start the daemon.
    """

    def __init__(
        self,
        address: str,
        *,
        reason: str = "",
        hint: str = "is it running? start it with `corral daemon -c FILE`",
    ) -> None:
        self.address = address
        self.reason = reason
        self.hint = hint
        text = f"no corral daemon answers on {address}"
        super().__init__(f"{text}: {reason} ({hint})" if reason else f"{text} ({hint})")


class ApiError(CorralError):
    """The daemon answered a request with an error status; `message` is its explanation."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(f"{message} (HTTP {status})")


class UnknownTarget(CorralError):
    """A target ("web", "web:0") names no program or instance.

    The message suggests close names ("did you mean") and, when there are only a few
    programs, lists them all, so a typo in a CLI argument is fixed at a glance.
    """

    def __init__(
        self, target: str, *, suggestions: Sequence[str] = (), known: Sequence[str] = ()
    ) -> None:
        self.target = target
        self.suggestions = tuple(suggestions)
        self.known = tuple(known)
        text = f"no program or instance named {target!r}"
        if self.suggestions:
            text += "; did you mean " + " or ".join(map(repr, self.suggestions)) + "?"
        if not self.known:
            text += " (no programs are configured)"
        elif len(self.known) <= _KNOWN_TARGETS_LISTED:
            text += f" (programs: {', '.join(self.known)})"
        super().__init__(text)


class SpawnError(CorralError):
    """The command could not be started; nothing ran.

    `step` names what failed ("exec", "chdir", "open stdout", ...) and `errno` the
    operating system's reason, so callers can tell a typo from a missing permission.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        step: str,
        errno: int | None,
        detail: str,
        hint: str = "",
    ) -> None:
        self.argv = tuple(argv)
        self.step = step
        self.errno = errno
        self.detail = detail
        self.hint = hint
        reason = f" [{_errno.errorcode.get(errno, errno)}]" if errno is not None else ""
        text = f"cannot start `{format_command(self.argv)}`: {step}: {detail}{reason}"
        super().__init__(f"{text}; {hint}" if hint else text)


class ExecutableNotFound(SpawnError):
    """The program is not on PATH (or the given path does not exist)."""


class PermissionDenied(SpawnError):
    """The program (or a directory on its path) exists but we may not execute it."""


class BadWorkingDirectory(SpawnError):
    """The working directory does not exist, is not a directory, or cannot be entered."""


class StdinClosed(CorralError):
    """Writing to a child's stdin failed: the pipe is broken (EPIPE), the child exited or
    closed its stdin. `unwritten` bytes were not delivered; nothing is dropped silently."""

    def __init__(self, argv: Sequence[str], pid: int, unwritten: int) -> None:
        self.argv = tuple(argv)
        self.pid = pid
        self.unwritten = unwritten
        super().__init__(
            f"cannot write to the stdin of `{format_command(self.argv)}` (pid {pid}): the "
            f"pipe is broken (the process exited or closed its stdin); {unwritten} bytes "
            "were not written"
        )


class FrameError(CorralError):
    """A channel's byte stream is not a valid sequence of length-prefixed frames.

    The channel is unusable after it (its position in the stream is lost): close it.
    """


class FrameTooLarge(FrameError):
    """A frame's announced (or offered) length is over the channel's limit.

    Raised on the header alone, before any buffer of that size is allocated, so a
    corrupt or hostile peer cannot make us allocate gigabytes.
    """

    def __init__(self, length: int, limit: int) -> None:
        self.length = length
        self.limit = limit
        super().__init__(
            f"frame of {length} bytes is over the limit of {limit} bytes: refused unread "
            "(a corrupt stream, or raise max_frame)"
        )


class TruncatedFrame(FrameError):
    """The stream ended (EOF) in the middle of a frame: the peer died or closed mid-write."""

    def __init__(self, have: int, need: int) -> None:
        self.have = have
        self.need = need
        super().__init__(
            f"the stream ended in the middle of a frame: {have} of {need} bytes "
            "(header included) had arrived; the peer closed or died mid-write"
        )


class WorkerDied(CorralError):
    """The pool worker running this task died before answering; only this task fails.

    `how` is the worker's end as corral decodes every exit ("exit 3", "SIGKILL",
    "OOM-killed (SIGKILL)"); `exit_code`, `signal_name` and `oom_killed` hold it
    as fields. The pool replaces the worker; other tasks are not affected.
    """

    def __init__(
        self,
        task: str,
        pid: int,
        *,
        how: str,
        exit_code: int | None,
        signal_name: str | None,
        oom_killed: bool,
    ) -> None:
        self.task = task
        self.pid = pid
        self.how = how
        self.exit_code = exit_code
        self.signal_name = signal_name
        self.oom_killed = oom_killed
        super().__init__(f"the pool worker (pid {pid}) running {task} died: {how}")


class TaskTimedOut(CorralError, TimeoutError):
    """A pool task ran past its timeout; its worker's whole tree was ended.

    The worker's tree got the stop signal, then SIGKILL after the pool's grace; the
    pool replaces the worker.
    """

    def __init__(self, task: str, pid: int, timeout: float) -> None:
        self.task = task
        self.pid = pid
        self.timeout = timeout
        super().__init__(
            f"{task} timed out after {timeout:g} s; its worker's process tree (pid {pid}) was ended"
        )


class SoftTimeout(CorralError, TimeoutError):
    """Raised inside a running pool task when it passes its `soft_timeout`: the task
    may catch it to clean up and return; one that lets it out fails with it, and one
    still running at its `timeout` has its worker's tree ended (`TaskTimedOut`).

    Like KeyboardInterrupt it can arrive at any line, also inside library code that
    catches Exception broadly (an import, say) and so swallows it: keep the hard
    `timeout` for what must end."""


class DeadlineMissed(CorralError):
    """A pool task was still queued when its deadline passed, and the pool's `Edf`
    scheduler drops late tasks (`miss="drop"`): it never ran."""

    def __init__(self, task: str, late: float) -> None:
        self.task = task
        self.late = late
        super().__init__(
            f"{task} was dropped: its deadline passed {late * 1000:.1f} ms before a worker was free"
        )


class TaskFailed(CorralError):
    """A task's outcome could not come back as itself: its result or the exception it
    raised could not be pickled. `remote_traceback` is the worker-side traceback text."""

    def __init__(self, task: str, what: str, remote_traceback: str = "") -> None:
        self.task = task
        self.what = what
        self.remote_traceback = remote_traceback
        text = f"{task}: {what}"
        if remote_traceback:
            text += "\n" + remote_traceback.rstrip("\n")
        super().__init__(text)


class CircuitOpen(CorralError):
    """A circuit breaker refused to run a command: too many failures in a row just now.

    Nothing was started. `retry_in` is how many seconds until the breaker lets one
    probe through (0 while another caller's probe runs).
    """

    def __init__(self, name: str, failures: int, retry_in: float) -> None:
        self.name = name
        self.failures = failures
        self.retry_in = retry_in
        when = f"next probe in {retry_in:.1f} s" if retry_in > 0 else "a probe is running"
        super().__init__(
            f"circuit breaker {shorten(name)!r} is open after {failures} failures in a row: "
            f"not run; {when}"
        )


class StillRunning(CorralError, TimeoutError):
    """`wait(timeout, keep_running=True)` ran out of time; the process was left running.

    Unlike TimedOut, nothing was stopped: wait again, read, write, or stop() it.
    """

    def __init__(self, argv: Sequence[str], pid: int, timeout: float) -> None:
        self.argv = tuple(argv)
        self.pid = pid
        self.timeout = timeout
        super().__init__(
            f"`{format_command(self.argv)}` (pid {pid}) is still running after {timeout:g} s; "
            "it was left running: wait again, or stop() it"
        )


class ProcessFailed(CorralError):
    """The process ran and its outcome counts as a failure; `result` holds what it did."""

    def __init__(self, result: FinishedProcess, what: str) -> None:
        self.result = result
        message = f"`{format_command(result.argv)}` {what}"
        tail = stderr_tail(result.stderr)
        if tail:
            message += "; last lines of stderr:\n" + tail
        super().__init__(message)


class ExitedNonZero(ProcessFailed):
    """The process exited with a code outside the accepted ones (pipefail for pipelines)."""

    def __init__(self, result: FinishedProcess) -> None:
        self.exit_code = result.exit_code
        super().__init__(result, f"exited with code {result.exit_code} (pid {result.pid})")


class KilledBySignal(ProcessFailed):
    """The process was ended by a signal (SIGKILL from the OOM killer, a SIGSEGV, ...)."""

    def __init__(self, result: FinishedProcess) -> None:
        self.signal_name = result.signal_name
        self.oom_killed = result.oom_killed
        killer = (
            f"the OOM killer ({result.signal_name})" if result.oom_killed else result.signal_name
        )
        super().__init__(result, f"was killed by {killer} (pid {result.pid})")


class ExitStatusUnknown(ProcessFailed):
    """It exited, but its status was collected by something else (a stray `waitpid`, a
    SIGCHLD handler of the host application) and the kernel could not tell it again."""

    def __init__(self, result: FinishedProcess) -> None:
        super().__init__(
            result,
            f"exited with an unknown status (pid {result.pid}): something else in this "
            "process reaped it (os.waitpid, a SIGCHLD handler); corral counts that as a failure",
        )


class TimedOut(ProcessFailed):
    """The deadline passed; the whole process tree was stopped, then killed after the grace."""

    def __init__(self, result: FinishedProcess, timeout: float) -> None:
        self.timeout = timeout
        super().__init__(
            result,
            f"timed out after {timeout:g} s and its process tree was ended "
            f"(pid {result.pid}); raise the timeout if the command needs longer",
        )


class CoordinationError(CorralError):
    """A lock, an election or the coordination store cannot be used as asked.

    Raised as itself for a lock file that cannot be opened (a read-only directory, a
    symlink where the lock file should be, not a regular file): the message names the
    path and the reason.
    """


class LockTimeout(CoordinationError, TimeoutError):
    """The lock (or leadership) was not acquired within the timeout; it names the holder."""

    def __init__(self, name: str, timeout: float, holder: str | None) -> None:
        self.name = name
        self.timeout = timeout
        self.holder = holder
        held = f"held by {holder}" if holder else "held by another process"
        super().__init__(f"lock {name!r} not acquired within {timeout:g} s: {held}")


class StoreUnavailable(CoordinationError):
    """The coordination store (etcd) did not answer: down, refusing, or too slow."""

    def __init__(self, endpoints: Sequence[str], reason: str) -> None:
        self.endpoints = tuple(endpoints)
        self.reason = reason
        super().__init__(f"etcd at {', '.join(self.endpoints)} is unavailable: {reason}")


class LeaseLost(CoordinationError):
    """A lock or leadership held on a lease is no longer held (expired, revoked, store gone).

    Whatever the holder was doing under it must stop: another holder may have it now.
    """

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason
        super().__init__(f"{name!r} is no longer held: {reason}")


def stderr_tail(stderr: bytes, lines: int = _STDERR_TAIL_LINES) -> str:
    """The last few lines of stderr, decoded for a message, each indented."""
    if not stderr:
        return ""
    text = stderr.decode("utf-8", "replace").rstrip("\n")
    return "\n".join("  | " + line for line in text.splitlines()[-lines:])
