"""Report every blocking call made on the thread of a running event loop.

Nothing may block the daemon's loop (STYLE habit 14), and the daemon under test
proves it: `tests/support/guarded_daemon.py` installs a `LoopGuard` before corral
is imported. The guard wraps the calls that wait for something outside the
process and reports each one made while an asyncio loop runs on the calling
thread:

- sleeps: `time.sleep` (any positive time), `signal.pause`/`sigwaitinfo`/`sigtimedwait`;
- readiness waits with a timeout other than 0: `select.select`, `select.poll().poll`,
  `select.epoll().poll`, and every `selectors` selector but the loop's own;
- child waits without WNOHANG: `os.waitpid`, `os.waitid`, `os.wait`, `os.wait3`, `os.wait4`;
- threading waits: `Condition.wait` (so `Event.wait`, `Semaphore`, `Barrier`,
  `Future.result`), `Thread.join`, `queue.Queue.get`/`put` with `block`, and a
  blocking `threading.Lock().acquire` of a lock another thread holds at that moment;
- blocking I/O: socket calls on a socket in blocking or timeout mode, and
  `os.read`/`os.write`/`readv`/`writev` on a pipe, FIFO, socket or terminal in
  blocking mode;
- subprocess waits: `subprocess.run`/`call`/`check_call`/`check_output`,
  `Popen.wait`/`communicate`.

The check looks at what a call is asked to do, never at how long it took, so it
does not depend on timing. The one exception is the lock: an acquire counts only
if the lock is held when it is called (an uncontended acquire cannot wait), so
that check can miss a race but never reports a call that could not block.

Not reported, by design: reads and writes of regular files and directories
(`/proc`, cgroupfs, log files, the state file). The daemon does those on the loop
on purpose; they are bounded and measured (docs/performance.md, bench/). Nor is
anything in `ALLOWED`, each with its reason.

A report names the call and its stack; it goes to stderr and is appended to the
report file. The call then goes ahead, so the daemon behaves as it would without
the guard (no exception for a broad `except` to swallow or to turn into a
different failure) and the test's own checks still run. `KNOWN` lists the blocking
calls today's daemon still makes; they are reported only when asked for. The launcher exits
non-zero when anything was reported, and `tests/support/daemon.py` fails the test.

Why not blockbuster (PyPI), which anyio's suite uses: it raises inside the
caller, it counts every file read, `os.stat` and `os.listdir` as blocking (the
/proc and cgroup reads above), it has no select/poll/waitpid/Condition checks,
and it patches C types through forbiddenfruit.
"""

from __future__ import annotations

import _thread
import asyncio
import os
import queue
import select
import selectors
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from types import FrameType
from typing import Any

_running_loop = asyncio.events._get_running_loop

Describe = Callable[..., str | None]
"""Given a call's arguments: a description of it if it would block, else None."""

Exemption = tuple[str, str, str]
"""(file name ending, function, why): a call with such a frame on its stack is not reported."""

ALLOWED: tuple[Exemption, ...] = (
    (
        "threading.py",
        "start",
        "Thread.start waits on an Event until the new thread runs: bounded by its start-up",
    ),
    (
        "concurrent/futures/thread.py",
        "submit",
        "the executor's locks are held only to queue a work item (run_in_executor, to_thread)",
    ),
    (
        "asyncio/base_events.py",
        "shutdown_default_executor",
        "asyncio.run's teardown joins a thread only after awaiting its result: it has ended",
    ),
    (
        "corral/_control/daemon_main.py",
        "_announce_ready",
        "6 bytes written once into the launcher's empty pipe, whose capacity is 64 KiB",
    ),
)
"""Blocking calls made on the loop by design, each bounded for the reason given."""

KNOWN: tuple[Exemption, ...] = ()
"""Blocking calls today's daemon makes on its loop, to be fixed: remove an entry with its fix.

A guard made with `report_known=[function, ...]` reports those entries too: that is
how a test shows one of them (and fails until it is fixed).
"""

_MAX_REPORTS = 100
"""Distinct reports written at most (the first ones are the useful ones)."""


class LoopGuard:
    """Wraps the blocking calls of this process and reports those made on a running loop."""

    def __init__(self, report_path: str | None = None, *, report_known: Iterable[str] = ()) -> None:
        self.report_path = report_path
        """Where reports are appended (besides stderr); None for stderr only."""
        named = set(report_known)
        unknown = named.difference(function for _, function, _ in KNOWN)
        if unknown:
            raise ValueError(f"not in loop_guard.KNOWN: {', '.join(sorted(unknown))}")
        self.exempt = ALLOWED + tuple(entry for entry in KNOWN if entry[1] not in named)
        """The exemptions in force: ALLOWED, and KNOWN but for the functions in `report_known`."""
        self.reports: list[str] = []
        """Every distinct report so far, in order."""
        self._seen: set[tuple[str, tuple[tuple[str, int], ...]]] = set()
        self._undo: list[Callable[[], None]] = []
        self._local = threading.local()

    def __repr__(self) -> str:
        state = "installed" if self._undo else "not installed"
        return f"<LoopGuard {state} reports={len(self.reports)}>"

    # -- installing -----------------------------------------------------------------

    def install(self) -> None:
        """Wrap every call listed in the module docstring (once; undone by `uninstall`)."""
        if self._undo:
            return
        self._guard_sleeps()
        self._guard_readiness()
        self._guard_child_waits()
        self._guard_threading()
        self._guard_io()
        self._guard_subprocess()

    def uninstall(self) -> None:
        """Put every wrapped call back."""
        while self._undo:
            self._undo.pop()()

    def _guard_sleeps(self) -> None:
        self._wrap(
            time, "sleep", "time.sleep", lambda secs: f"time.sleep({secs!r})" if secs > 0 else None
        )
        self._wrap(signal, "pause", "signal.pause", _always("signal.pause()"))
        self._wrap(signal, "sigwaitinfo", "signal.sigwaitinfo", _always("signal.sigwaitinfo()"))
        self._wrap(signal, "sigtimedwait", "signal.sigtimedwait", _timed("signal.sigtimedwait", 1))

    def _guard_readiness(self) -> None:
        self._wrap(select, "select", "select.select", _timed("select.select", 3))
        self._replace(select, "poll", _Poll)
        self._wrap(
            _Poll, "poll", "select.poll().poll", _timed("select.poll().poll", 0, method=True)
        )
        if hasattr(select, "epoll"):
            _Epoll.original = select.epoll
            self._replace(select, "epoll", _Epoll)
            self._wrap(
                _Epoll, "poll", "select.epoll().poll", _timed("select.epoll().poll", 0, method=True)
            )
        for name in ("SelectSelector", "PollSelector", "EpollSelector", "DevpollSelector"):
            cls = getattr(selectors, name, None)
            if cls is not None:
                self._wrap(cls, "select", f"selectors.{name}.select", _selector_select(name))

    def _guard_child_waits(self) -> None:
        self._wrap(os, "wait", "os.wait", _always("os.wait()"))
        self._wrap(os, "waitpid", "os.waitpid", _no_wnohang("os.waitpid", 1))
        self._wrap(os, "waitid", "os.waitid", _no_wnohang("os.waitid", 2))
        self._wrap(os, "wait3", "os.wait3", _no_wnohang("os.wait3", 0))
        self._wrap(os, "wait4", "os.wait4", _no_wnohang("os.wait4", 1))

    def _guard_threading(self) -> None:
        self._wrap(
            threading.Condition,
            "wait",
            "threading.Condition.wait",
            _timed("threading.Condition.wait", 0, method=True),
        )
        self._wrap(
            threading.Thread,
            "join",
            "threading.Thread.join",
            _timed("threading.Thread.join", 0, method=True),
        )
        self._wrap(queue.Queue, "get", "queue.Queue.get", _queue_call("get", 0))
        self._wrap(queue.Queue, "put", "queue.Queue.put", _queue_call("put", 1))
        self._replace(
            threading, "Lock", _Lock
        )  # locks made from here on (corral's, the executor's)
        self._wrap(_Lock, "acquire", "threading.Lock.acquire", _contended_acquire)

    def _guard_io(self) -> None:
        for name in ("read", "readv", "write", "writev"):
            self._wrap(os, name, f"os.{name}", _fd_call(f"os.{name}"))
        for name in (
            "accept", "connect", "recv", "recv_into", "recvfrom", "recvfrom_into",
            "recvmsg", "send", "sendall", "sendto", "sendmsg", "sendfile",
        ):  # fmt: skip
            self._wrap(socket.socket, name, f"socket.socket.{name}", _socket_call(name))

    def _guard_subprocess(self) -> None:
        for name in ("run", "call", "check_call", "check_output"):
            self._wrap(subprocess, name, f"subprocess.{name}", _always(f"subprocess.{name}()"))
        self._wrap(
            subprocess.Popen,
            "wait",
            "subprocess.Popen.wait",
            _timed("subprocess.Popen.wait", 0, method=True),
        )
        self._wrap(
            subprocess.Popen,
            "communicate",
            "subprocess.Popen.communicate",
            _always("subprocess.Popen.communicate()"),
        )

    def _replace(self, owner: object, name: str, value: object) -> None:
        original = getattr(owner, name)
        setattr(owner, name, value)
        self._undo.append(lambda: setattr(owner, name, original))

    def _wrap(self, owner: object, name: str, qualified: str, describe: Describe) -> None:
        original: Callable[..., Any] = getattr(owner, name)
        local = self._local
        found = self._found

        def guarded(*args: Any, **kwargs: Any) -> Any:
            if getattr(local, "busy", False) or _running_loop() is None:
                return original(*args, **kwargs)
            local.busy = True  # calls made inside this one are part of it: not reported again
            try:
                what = describe(*args, **kwargs)
                if what is not None:
                    found(what, sys._getframe(1))
                return original(*args, **kwargs)
            finally:
                local.busy = False

        guarded.__name__ = getattr(original, "__name__", name)
        guarded.__qualname__ = qualified
        guarded.__doc__ = getattr(original, "__doc__", None)
        self._replace(owner, name, guarded)

    # -- reporting ------------------------------------------------------------------

    def _found(self, what: str, frame: FrameType) -> None:
        stack = traceback.extract_stack(frame)
        if any(_exempt(entry.filename, entry.name, self.exempt) for entry in stack):
            return
        key = (
            what.partition("(")[0],
            tuple((entry.filename, entry.lineno or 0) for entry in stack),
        )
        if key in self._seen or len(self._seen) >= _MAX_REPORTS:
            return
        self._seen.add(key)
        text = f"blocking call on the event loop: {what}\n" + "".join(stack.format())
        self.reports.append(text)
        sys.stderr.write(f"corral-test: {text}")
        sys.stderr.flush()
        if self.report_path is not None:
            with open(self.report_path, "a") as report:
                report.write(text + "\n")


def _exempt(filename: str, function: str, exemptions: Iterable[Exemption]) -> bool:
    path = filename.replace(os.sep, "/")
    return any(path.endswith(ending) and function == name for ending, name, _ in exemptions)


# -- what counts as blocking, per call --------------------------------------------------


def _always(what: str) -> Describe:
    return lambda *args, **kwargs: what


def _timed(name: str, index: int, *, method: bool = False, keyword: str = "timeout") -> Describe:
    """Blocking unless its timeout (positional `index`, after self for a method) is 0."""
    position = index + 1 if method else index

    def describe(*args: Any, **kwargs: Any) -> str | None:
        timeout = kwargs.get(keyword, args[position] if len(args) > position else None)
        return None if timeout == 0 else f"{name}(timeout={timeout!r})"

    return describe


def _no_wnohang(name: str, index: int) -> Describe:
    def describe(*args: Any, **kwargs: Any) -> str | None:
        options = kwargs.get("options", args[index] if len(args) > index else 0)
        return None if options & os.WNOHANG else f"{name}{args!r} without WNOHANG"

    return describe


def _selector_select(name: str) -> Describe:
    def describe(selector: selectors.BaseSelector, timeout: float | None = None) -> str | None:
        loop = _running_loop()
        if (timeout is not None and timeout <= 0) or getattr(loop, "_selector", None) is selector:
            return None  # the loop's own wait for its next event is what a loop does
        return f"selectors.{name}.select(timeout={timeout!r})"

    return describe


def _queue_call(name: str, index: int) -> Describe:
    def describe(q: queue.Queue[Any], *args: Any, **kwargs: Any) -> str | None:
        block = kwargs.get("block", args[index] if len(args) > index else True)
        timeout = kwargs.get("timeout", args[index + 1] if len(args) > index + 1 else None)
        return (
            None
            if not block or timeout == 0
            else f"queue.Queue.{name}(block=True, timeout={timeout!r})"
        )

    return describe


def _contended_acquire(lock: _Lock, blocking: bool = True, timeout: float = -1) -> str | None:
    if not blocking or timeout == 0 or not lock.locked():
        return None
    return f"threading.Lock.acquire(timeout={timeout!r}) of a lock another thread holds"


def _fd_call(name: str) -> Describe:
    def describe(fd: int, *args: Any, **kwargs: Any) -> str | None:
        kind = _blocking_kind(fd)
        return None if kind is None else f"{name}({fd}) on a {kind} in blocking mode"

    return describe


def _blocking_kind(fd: int) -> str | None:
    """What `fd` is if a read or write on it can wait for another process, else None."""
    try:
        if not os.get_blocking(fd):
            return None
        mode = os.fstat(fd).st_mode
    except OSError:
        return None  # the call itself will fail (EBADF): nothing waits
    if stat.S_ISFIFO(mode):
        return "pipe"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) and os.isatty(fd):
        return "terminal"
    return None  # a regular file, a directory, /dev/null: bounded, not a wait


def _socket_call(name: str) -> Describe:
    def describe(sock: socket.socket, *args: Any, **kwargs: Any) -> str | None:
        timeout = sock.gettimeout()
        return (
            None if timeout == 0.0 else f"socket.socket.{name} on a socket with timeout={timeout!r}"
        )

    return describe


# -- wrappers for the C objects whose methods cannot be patched -------------------------


class _Lock:
    """A `threading.Lock` whose `acquire` is a Python method the guard can wrap."""

    __slots__ = ("_inner",)

    def __init__(self) -> None:
        self._inner = _ALLOCATE_LOCK()

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        return self._inner.acquire(blocking, timeout)

    def release(self) -> None:
        self._inner.release()

    def locked(self) -> bool:
        return self._inner.locked()

    def _at_fork_reinit(self) -> None:
        self._inner._at_fork_reinit()  # type: ignore[attr-defined]

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"<guarded {self._inner!r}>"


class _Poll:
    """A `select.poll()` object whose `poll` is a Python method the guard can wrap."""

    def __init__(self) -> None:
        self._inner = _ORIGINAL_POLL()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def poll(self, timeout: float | None = None) -> list[tuple[int, int]]:
        return self._inner.poll(timeout)


_ORIGINAL_POLL = select.poll
_ALLOCATE_LOCK = _thread.allocate_lock


class _Epoll:
    """A `select.epoll()` object whose `poll` is a Python method the guard can wrap."""

    original: Any = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._inner = self.original(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def poll(self, timeout: float | None = None, maxevents: int = -1) -> list[tuple[int, int]]:
        return self._inner.poll(timeout, maxevents)  # type: ignore[no-any-return]

    def __enter__(self) -> _Epoll:
        return self

    def __exit__(self, *exc: object) -> None:
        self._inner.close()


def reported_calls(lines: Iterable[str]) -> list[str]:
    """The call named in each report of a report file's lines."""
    prefix = "blocking call on the event loop: "
    return [line[len(prefix) :].rstrip("\n") for line in lines if line.startswith(prefix)]
