"""The fork path: run ordered steps in the child before exec, report step and errno.

The sandbox needs work done *in* the child between fork and exec (rlimits, user
switch, capabilities, seccomp, namespaces), which posix_spawn cannot do. This
path forks (or clones with namespace flags), performs the stdio wiring and each
`ChildStep` in order, then execs. A failing step writes `name\\0errno\\0message`
to a close-on-exec pipe and exits 127; EOF on that pipe without data means exec
succeeded. So the parent learns *which* step failed and why ("setuid: EPERM"),
never a bare non-zero exit.

Costs: fork copies the parent's page tables (about 2 ms here, more with a large
heap: docs/performance.md), so only sandboxed spawns take this path. The child
runs only os-level calls and ctypes calls into libc: no imports, no locks,
nothing that could deadlock on a lock another thread held at fork time.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from corral._platform.posix.fds import mark_all_close_on_exec
from corral._platform.posix.spawn import SIGNALS_TO_DEFAULT

_EXIT_STEP_FAILED = 127


@dataclass(frozen=True, slots=True)
class ChildStep:
    """One thing done in the child before exec; `name` is what an error reports."""

    name: str
    """For messages: "rlimit nofile", "setuid 1000", "seccomp: load"."""
    run: Callable[[], None]
    """Does the step; raises OSError (with errno) on failure."""


class ChildStepFailed(OSError):
    """A step in the child failed before exec; carries the step's name and errno."""

    def __init__(self, step: str, errno: int, message: str) -> None:
        super().__init__(errno, message)
        self.step = step


Forker = Callable[[], int]
"""Returns 0 in the child and the child's pid in the parent (os.fork, or a clone)."""


class PendingExec:
    """A forked child that has not yet exec'd: `report_fd` reads EOF once it has, or first
    the report of the step that failed. `finish` takes what was read from it.

    The daemon waits for that EOF on its event loop (the child's sandbox steps, such as
    joining a cgroup or making a network namespace, can take a large part of a second);
    `corral._platform.fork_exec` waits for it in place.
    """

    __slots__ = ("pid", "report_fd")

    def __init__(self, pid: int, report_fd: int) -> None:
        self.pid = pid
        self.report_fd = report_fd

    def __repr__(self) -> str:
        return f"<PendingExec pid={self.pid} report_fd={self.report_fd}>"

    def wait(self) -> int:
        """Block until the child has exec'd, then `finish` (the library's way)."""
        try:
            report = read_report(self.report_fd)
        except BaseException:
            os.close(self.report_fd)
            raise
        return self.finish(report)

    def finish(self, report: bytes) -> int:
        """Close the report fd; the pid once the child exec'd, else raise ChildStepFailed.

        A failed child has exited: it is reaped here, unless a reaper of all our children
        (the daemon's) got to it first.
        """
        os.close(self.report_fd)
        if report:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, 0)
            raise _decode(report)
        return self.pid


def begin_fork_exec(
    path: str,
    argv: Sequence[str],
    env: Mapping[bytes, bytes],
    *,
    cwd: str | None,
    fd_map: Sequence[tuple[int, int]],
    pass_fds: Sequence[int],
    pgroup: int | None,
    new_session: bool,
    steps: Sequence[ChildStep],
    forker: Forker = os.fork,
    after_fork: Sequence[Callable[[int], None]] = (),
    close_range: object = None,
    pid_variable: bytes | None = None,
) -> PendingExec:
    """Fork, start `steps` in the child; returns before the child has exec'd.

    `after_fork` hooks run in the parent with the child's pid while the child waits
    at its first step (writing uid maps, moving a veth into its namespace); a hook
    that fails ends the child and raises here. `close_range` is libc's function (or
    None), looked up here so the child loads nothing. `pid_variable` names an
    environment variable the child sets to its own pid just before exec (LISTEN_PID:
    posix_spawn cannot, as the pid is not known until the spawn returns).
    """
    argv_bytes = [os.fsencode(a) for a in argv]
    env_list = [k + b"=" + v for k, v in env.items()]
    # The child dup2()s onto fd_map's targets: its own pipes must sit above them all.
    top = max((target for _, target in fd_map), default=2) + 1
    read, write = _pipe_above(top)
    gate_read, gate_write = _pipe_above(top) if after_fork else (-1, -1)
    # Blocked until the child has reset our handlers: one run in the child would write
    # to our loop's wakeup fd, and the parent would act on a signal it never got.
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
    try:
        pid = forker()
        if pid == 0:  # pragma: no cover - runs in the child, which never returns
            if gate_read >= 0:
                steps = [ChildStep("wait for the parent", _gate(gate_read, gate_write)), *steps]
            _child(
                write, path=path, argv=argv_bytes, env=env_list, cwd=cwd, fd_map=fd_map,
                pass_fds=pass_fds, pgroup=pgroup, new_session=new_session, steps=steps,
                close_range=close_range,
                pid_variable=pid_variable,
            )  # fmt: skip
    except BaseException:  # the fork (or clone) itself failed: nothing to wait for
        for fd in (read, gate_read, gate_write):
            if fd >= 0:
                os.close(fd)
        raise
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        os.close(write)
    try:
        _open_gate(pid, gate_read, gate_write, after_fork)
    except BaseException:
        read_report(read)  # the child saw the gate close and gave up
        os.close(read)
        os.waitpid(pid, 0)
        raise
    return PendingExec(pid, read)


def _child(
    report: int,
    *,
    path: str,
    argv: list[bytes],
    env: list[bytes],
    cwd: str | None,
    fd_map: Sequence[tuple[int, int]],
    pass_fds: Sequence[int],
    pgroup: int | None,
    new_session: bool,
    steps: Sequence[ChildStep],
    close_range: object,
    pid_variable: bytes | None,
) -> None:
    step = "setup"
    try:
        step = "process group"
        if new_session:
            os.setsid()
        elif pgroup is not None:
            os.setpgid(0, pgroup)
        step = "signals"  # every one blocked since before the fork
        for sig in signal.valid_signals():
            if sig in SIGNALS_TO_DEFAULT or callable(signal.getsignal(sig)):
                signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, ())
        step = "stdio"
        for src, dst in fd_map:
            os.dup2(src, dst)
        mark_all_close_on_exec(close_range)  # the strays close at exec (posix/fds.py)
        for fd in (*pass_fds, *(dst for _, dst in fd_map if dst > 2)):  # what it is given
            os.set_inheritable(fd, True)
        if cwd is not None:
            step = "chdir"
            os.chdir(cwd)
        for each in steps:
            step = each.name
            each.run()
        step = "exec"
        environment = dict(_split(entry) for entry in env)
        if pid_variable is not None:  # after the steps: a clone into a pid namespace is 1
            environment[pid_variable] = str(os.getpid()).encode()
        os.execve(path, argv, environment)
    except OSError as exc:
        _report(report, step, exc.errno or 0, exc.strerror or str(exc))
    except BaseException as exc:  # a bug in a step: still report it, never run on
        _report(report, step, 0, f"{type(exc).__name__}: {exc}")
    os._exit(_EXIT_STEP_FAILED)


def _pipe_above(low: int) -> tuple[int, int]:
    """A close-on-exec pipe whose two fds are `low` or above."""
    ends = list(os.pipe())
    for index, fd in enumerate(ends):
        if fd < low:
            ends[index] = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, low)
            os.close(fd)
    return ends[0], ends[1]


def _gate(read: int, write: int) -> Callable[[], None]:
    def wait() -> None:
        os.close(write)
        if os.read(read, 1) != b"g":
            raise OSError(0, "the parent could not prepare the child")
        os.close(read)

    return wait


def _open_gate(pid: int, read: int, write: int, hooks: Sequence[Callable[[int], None]]) -> None:
    if read < 0:
        return
    os.close(read)
    try:
        for hook in hooks:
            hook(pid)
        os.write(write, b"g")
    finally:
        os.close(write)  # without "g", the child reports a failed step and exits


def _split(entry: bytes) -> tuple[bytes, bytes]:
    key, _, value = entry.partition(b"=")
    return key, value


def _report(fd: int, step: str, errno: int, message: str) -> None:
    data = b"\0".join([step.encode(), str(errno).encode(), message.encode()])
    try:
        os.write(fd, data)
    finally:
        os._exit(_EXIT_STEP_FAILED)


def read_report(fd: int) -> bytes:
    """Everything a child writes to its report pipe, up to EOF (blocking)."""
    chunks = []
    while chunk := os.read(fd, 4096):
        chunks.append(chunk)
    return b"".join(chunks)


def _decode(report: bytes) -> ChildStepFailed:
    step, errno, message = report.decode("utf-8", "replace").split("\0", 2)
    return ChildStepFailed(step, int(errno), message)
