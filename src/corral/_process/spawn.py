"""launch(spec): THE one spawn path; every process corral starts comes through here.

It resolves the executable (with a clear error for a typo or a missing x bit),
checks the working directory, opens what the child's stdio needs in the parent
(so a bad file is named), builds the environment with the tree marker, and calls
the platform's fork-free spawn. It returns a `Launched` record holding the pid,
our ends of the pipes and an exit notifier; the sync and async handles wrap it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import itertools
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from corral._errors import (
    BadWorkingDirectory,
    ExecutableNotFound,
    InvalidSpec,
    PermissionDenied,
    SpawnError,
)
from corral._platform import (
    ChildStepFailed,
    ExitNotifier,
    Feature,
    PendingExec,
    Strays,
    begin_fork_exec,
    devnull_fd,
    environ_bytes,
    fd_above_stdio,
    fd_at_or_above,
    find_strays,
    prepare_fd_listing,
    read_report,
    spawn,
)
from corral._platform.features import has
from corral._process import faults as _faults
from corral._process.reaper import PerChildReaper
from corral._process.spec import FIRST_LISTEN_FD, File, ProcessSpec, Stdio

if TYPE_CHECKING:
    from corral._sandbox.plan import Plan

TREE_VARIABLE = "CORRAL_TREE"
"""Environment variable that marks every member of a spawned process tree."""

_TREE_KEY = TREE_VARIABLE.encode()
_DEFPATH = os.defpath.encode()
_token = os.urandom(4).hex()
devnull_fd()  # opened once, at import, and shared by every spawn
prepare_fd_listing()  # the /proc/self/fd directory a spawn lists its strays through
_counter = itertools.count(1)
_PER_CHILD = PerChildReaper()
"""The default reaper: a pidfd (or waiter thread) per child, safe in any process."""


_LISTEN_PID = b"LISTEN_PID"


@dataclass(frozen=True, slots=True)
class ListenFds:
    """Listening sockets for a child, as systemd's socket activation hands them over.

    The child gets `fds[i]` as fd 3 + i, `LISTEN_FDS` (how many), `LISTEN_FDNAMES`
    (the names, joined by ':') and `LISTEN_PID`, its own pid, which only the child
    knows before exec: a spawn with sockets takes the fork path to set it
    (docs/decisions/0012-listen-pid.md).
    """

    fds: tuple[int, ...]
    """Our fds of the sockets, in the order the child gets them."""
    names: tuple[str, ...]
    """One name per fd (no ':' in a name)."""

    def __post_init__(self) -> None:
        if len(self.names) != len(self.fds):
            raise InvalidSpec(f"ListenFds needs one name per fd: {self.fds} {self.names}")

    def pairs(self) -> tuple[tuple[int, int], ...]:
        """(our fd, its number in the child) for `ProcessSpec.map_fds`: 3, 4, ... in order."""
        return tuple((fd, FIRST_LISTEN_FD + index) for index, fd in enumerate(self.fds))


@dataclass(slots=True, kw_only=True)
class Launched:
    """A just-started process: its pid and group, our pipe ends, its exit notifier."""

    argv: tuple[str, ...]
    pid: int
    pgid: int
    marker: bytes
    notifier: ExitNotifier
    stdin: int | None
    stdout: int | None
    stderr: int | None
    started: float
    sandbox: Plan | None = None
    """The sandbox plan (its cgroup, its cleanup), for sandboxed processes."""


def launch(
    spec: ProcessSpec,
    *,
    pgroup: int = 0,
    stdin: int | None = None,
    notifier: Callable[[int], ExitNotifier] = _PER_CHILD.notifier,
    listen: ListenFds | None = None,
) -> Launched:
    """Start `spec`; `pgroup` 0 makes a new process group, N joins group N (pipelines).

    `stdin`, when given, is an fd of ours to use as the child's stdin instead of
    `spec.stdin` (a pipeline passes the previous stage's stdout this way).
    `notifier` makes the exit notifier; the daemon passes one that shares its
    central reaper instead of the default (pidfd, else a waiter thread).
    Returns once the child has exec'd: `begin_launch`, then waiting in place.
    """
    return begin_launch(spec, pgroup=pgroup, stdin=stdin, notifier=notifier, listen=listen).wait()


def begin_launch(
    spec: ProcessSpec,
    *,
    pgroup: int = 0,
    stdin: int | None = None,
    notifier: Callable[[int], ExitNotifier] = _PER_CHILD.notifier,
    listen: ListenFds | None = None,
) -> PendingLaunch:
    """`launch` up to the spawn: a sandboxed child may not have exec'd yet.

    The posix_spawn path returns after the exec (`report_fd` None). The fork path
    (a sandbox, or `listen` sockets to hand over) returns once the child is forked
    and its steps are running; read `report_fd` to EOF (an event loop can wait for
    it) and pass what was read to `finish`. The exit notifier is made at once, so an
    exit is never missed.
    """
    handed = listen is not None and bool(listen.fds)
    if listen is not None and handed:  # the sockets are mapped fds like any other
        spec = dataclasses.replace(spec, map_fds=(*spec.map_fds, *listen.pairs()))
    env = _environment(spec)
    if listen is not None and handed:
        _announce(listen, env)
    path = _resolve(spec, os.fsdecode(env.get(b"PATH", _DEFPATH)))
    if spec.cwd is not None and not has(Feature.SPAWN_CHDIR):
        _check_cwd(spec)  # the shell fallback cannot report a failed chdir itself
    marker = f"{os.getpid()}.{next(_counter)}.{_token}".encode()
    env[_TREE_KEY] = marker
    fds = _StdioFds(spec)
    sandbox: Plan | None = None
    forked: PendingExec | None = None
    forking = spec.sandbox is not None or handed  # the fork path: close_range, not a listing
    strays = None if forking else find_strays(spec.pass_fds)  # before our pipes
    try:
        fds.open(spec, stdin)
        if strays is not None:
            fd_map = fds.child_map(spec.pass_fds)
            pid = _spawn(spec, path, env, fd_map, pgroup=pgroup, strays=strays)
        elif spec.sandbox is None:
            forked = _begin_forked(spec, path, env, fds.child_map(()), pgroup)
            pid = forked.pid
        else:
            forked, sandbox = _begin_sandboxed(
                spec, path=path, env=env, fd_map=fds.child_map(()), pgroup=pgroup,
                marker=marker, pid_variable=_LISTEN_PID if handed else None,
            )  # fmt: skip
            pid = forked.pid
    except BaseException:
        fds.close_all()
        raise
    started = time.monotonic()
    fds.close_child_ends()
    launched = Launched(
        argv=spec.argv,
        pid=pid,
        pgid=pid if spec.new_session or pgroup == 0 else pgroup,
        marker=_TREE_KEY + b"=" + marker,
        notifier=notifier(pid),
        stdin=fds.ours[0],
        stdout=fds.ours[1],
        stderr=fds.ours[2],
        started=started,
        sandbox=sandbox,
    )
    return PendingLaunch(spec, path, launched, fds, forked)


class PendingLaunch:
    """A child `begin_launch` started: `finish` it with its report, or `abandon` it."""

    __slots__ = ("_fds", "_forked", "_launched", "_path", "_spec")

    def __init__(
        self,
        spec: ProcessSpec,
        path: str,
        launched: Launched,
        fds: _StdioFds,
        forked: PendingExec | None,
    ) -> None:
        self._spec = spec
        self._path = path
        self._launched = launched
        self._fds = fds
        self._forked = forked

    def __repr__(self) -> str:
        return f"<PendingLaunch pid={self._launched.pid} report_fd={self.report_fd}>"

    @property
    def pid(self) -> int:
        return self._launched.pid

    @property
    def report_fd(self) -> int | None:
        """The fd that reads EOF once the child exec'd; None when it has already."""
        return None if self._forked is None else self._forked.report_fd

    def wait(self) -> Launched:
        """`finish`, once the child has exec'd (blocking until it has)."""
        forked = self._forked
        if forked is None:
            return self._launched
        try:
            report = read_report(forked.report_fd)
        except BaseException:
            self.abandon()
            raise
        return self.finish(report)

    def finish(self, report: bytes) -> Launched:
        """The launched child, or the SpawnError its report names (everything undone)."""
        forked, self._forked = self._forked, None
        if forked is None:
            return self._launched
        try:
            forked.finish(report)
        except ChildStepFailed as exc:
            self._undo()
            if exc.step in ("exec", "chdir"):
                raise _spawn_error(self._spec, self._path, exc) from exc
            raise _step_error(self._spec, exc) from exc
        except BaseException:
            self._undo()
            raise
        return self._launched

    def abandon(self) -> None:
        """Give up on a child whose report will not be read: kill it, undo everything."""
        forked, self._forked = self._forked, None
        if forked is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(forked.pid, signal.SIGKILL)
        forked.finish(b"")  # only closes the report fd
        with contextlib.suppress(ChildProcessError):  # a reaper of all children got it
            os.waitpid(forked.pid, 0)
        self._undo()

    def _undo(self) -> None:
        launched = self._launched
        launched.notifier.close()
        for fd in (launched.stdin, launched.stdout, launched.stderr):
            if fd is not None:
                os.close(fd)
        if launched.sandbox is not None:
            launched.sandbox.undo()


def _environment(spec: ProcessSpec) -> dict[bytes, bytes]:
    if spec.env is None:
        env = environ_bytes()
    else:
        env = {os.fsencode(k): os.fsencode(v) for k, v in spec.env}
    for key, value in spec.env_add:
        env[os.fsencode(key)] = os.fsencode(value)
    return env


def executable(spec: ProcessSpec) -> str:
    """The file a spawn of `spec` would execute now, searched on the PATH the child gets
    (ExecutableNotFound, PermissionDenied as the spawn would raise them)."""
    return _resolve(spec, os.fsdecode(_environment(spec).get(b"PATH", _DEFPATH)))


def _resolve(spec: ProcessSpec, search_path: str) -> str:
    name = spec.argv[0]
    if "/" in name:
        return name  # posix_spawn reports ENOENT/EACCES/ENOEXEC; _spawn_error names them
    return _search(spec, name, search_path)  # each spawn: a program may come or go


def _search(spec: ProcessSpec, name: str, search_path: str) -> str:
    not_executable: str | None = None
    for directory in search_path.split(os.pathsep):
        candidate = os.path.join(directory or ".", name)
        if os.path.isfile(candidate):
            if os.access(candidate, os.X_OK):
                return candidate
            not_executable = not_executable or candidate
    if not_executable is not None:
        raise _not_executable(spec, not_executable)
    raise ExecutableNotFound(
        spec.argv,
        step="exec",
        errno=errno.ENOENT,
        detail=f"{name!r} was not found on PATH ({search_path})",
        hint="check the spelling, install it, or give its full path",
    )


def _not_executable(spec: ProcessSpec, path: str) -> PermissionDenied:
    hint = "check its mode (chmod +x) and that it is not a directory"
    identity = None if spec.sandbox is None else spec.sandbox.identity
    if identity is not None and identity.user is not None:
        hint += f", and that user {identity.user!r} may enter every directory above it"
    return PermissionDenied(
        spec.argv,
        step="exec",
        errno=errno.EACCES,
        detail=f"{path!r} is not an executable file",
        hint=hint,
    )


def _check_cwd(spec: ProcessSpec) -> None:
    problem = _cwd_problem(spec)
    if problem is not None:
        raise problem


def _cwd_problem(spec: ProcessSpec) -> BadWorkingDirectory | None:
    cwd = spec.cwd or "."
    if not os.path.exists(cwd):
        code, detail = errno.ENOENT, f"working directory {cwd!r} does not exist"
    elif not os.path.isdir(cwd):
        code, detail = errno.ENOTDIR, f"working directory {cwd!r} is not a directory"
    elif not os.access(cwd, os.X_OK):
        code, detail = errno.EACCES, f"working directory {cwd!r} cannot be entered"
    else:
        return None
    return BadWorkingDirectory(spec.argv, step="chdir", errno=code, detail=detail)


def _spawn(
    spec: ProcessSpec,
    path: str,
    env: dict[bytes, bytes],
    fd_map: list[tuple[int, int]],
    *,
    pgroup: int,
    strays: Strays,
) -> int:
    try:
        if _faults.ARMED:
            _faults.fire("spawn", spec.argv)
        return spawn(
            path,
            spec.argv,
            env,
            cwd=spec.cwd,
            fd_map=fd_map,
            pgroup=None if spec.new_session else pgroup,
            new_session=spec.new_session,
            strays=strays,
        )
    except OSError as exc:
        raise _spawn_error(spec, path, exc) from exc


def _announce(listen: ListenFds, env: dict[bytes, bytes]) -> None:
    """LISTEN_FDS and LISTEN_FDNAMES for the child; an inherited LISTEN_PID goes (the child
    sets its own just before exec)."""
    env[b"LISTEN_FDS"] = str(len(listen.fds)).encode()
    env[b"LISTEN_FDNAMES"] = ":".join(listen.names).encode()
    env.pop(_LISTEN_PID, None)


def _begin_forked(
    spec: ProcessSpec,
    path: str,
    env: dict[bytes, bytes],
    fd_map: list[tuple[int, int]],
    pgroup: int,
) -> PendingExec:
    """The fork path without a sandbox: only to set LISTEN_PID in the child."""
    try:
        if _faults.ARMED:
            _faults.fire("spawn", spec.argv)
        return begin_fork_exec(
            path, spec.argv, env, cwd=spec.cwd, fd_map=fd_map, pass_fds=spec.pass_fds,
            pgroup=None if spec.new_session else pgroup, new_session=spec.new_session,
            steps=(), pid_variable=_LISTEN_PID,
        )  # fmt: skip
    except OSError as exc:
        raise _spawn_error(spec, path, exc) from exc


def _begin_sandboxed(
    spec: ProcessSpec,
    *,
    path: str,
    env: dict[bytes, bytes],
    fd_map: list[tuple[int, int]],
    pgroup: int,
    marker: bytes,
    pid_variable: bytes | None = None,
) -> tuple[PendingExec, Plan]:
    from corral._sandbox.plan import plan

    assert spec.sandbox is not None
    if _faults.ARMED:
        try:
            _faults.fire("spawn", spec.argv)
        except OSError as exc:
            raise _spawn_error(spec, path, exc) from exc
    try:
        made = plan(spec.sandbox, label=marker.decode())
    except ChildStepFailed as exc:  # a parent-side step (a cgroup limit write) failed
        raise _step_error(spec, exc) from exc
    try:
        forked = begin_fork_exec(
            path,
            spec.argv,
            env,
            cwd=spec.cwd,
            fd_map=fd_map,
            pass_fds=spec.pass_fds,
            pgroup=None if spec.new_session else pgroup,
            new_session=spec.new_session,
            steps=made.ordered_steps(),
            forker=made.forker,
            after_fork=made.after_fork,
            pid_variable=pid_variable,
        )
    except ChildStepFailed as exc:  # an after-fork hook in the parent failed
        made.undo()
        raise _step_error(spec, exc) from exc
    except BaseException:
        made.undo()
        raise
    return forked, made


def _step_error(spec: ProcessSpec, exc: ChildStepFailed) -> SpawnError:
    """A failed sandbox step, named: "cgroup: pids.max: permission denied [EACCES]"."""
    return SpawnError(
        spec.argv, step=exc.step, errno=exc.errno or None, detail=exc.strerror or str(exc)
    )


def _spawn_error(spec: ProcessSpec, path: str, exc: OSError) -> SpawnError:
    """Name the failing step: the error comes back from the child as a bare errno."""
    code = exc.errno
    cwd_problem = _cwd_problem(spec) if spec.cwd is not None else None
    if cwd_problem is not None:
        return cwd_problem
    full = path if spec.cwd is None else os.path.join(spec.cwd, path)
    if code == errno.ENOENT and not os.path.lexists(full):
        return ExecutableNotFound(
            spec.argv, step="exec", errno=code, detail=f"no such file {path!r}"
        )
    if code == errno.ENOENT:
        return ExecutableNotFound(
            spec.argv,
            step="exec",
            errno=code,
            detail=f"the interpreter of {path!r} does not exist",
            hint="check the #! line",
        )
    if code == errno.EACCES:
        return _not_executable(spec, path)
    if code == errno.ENOEXEC:
        return SpawnError(
            spec.argv,
            step="exec",
            errno=code,
            detail=f"{path!r} is not in an executable format",
            hint="a script needs a #! line",
        )
    step = getattr(exc, "step", "spawn")  # the fork path names the step that failed
    return SpawnError(spec.argv, step=step, errno=code, detail=exc.strerror or str(exc))


class _StdioFds:
    """The fds behind the child's stdin/stdout/stderr, and our ends of any pipes."""

    __slots__ = ("child", "mapped", "ours", "owned")

    def __init__(self, spec: ProcessSpec) -> None:
        self.child: list[int | None] = [None, None, None]  # None: inherit ours
        self.ours: list[int | None] = [None, None, None]
        self.owned: list[int] = []  # child-side fds we opened and must close after spawn
        self.mapped: list[tuple[int, int]] = []  # (source, child fd) after the stdio pairs

    def open(self, spec: ProcessSpec, stdin_fd: int | None) -> None:
        if stdin_fd is not None:
            self.child[0] = stdin_fd
        else:
            self._open(spec, 0, spec.stdin)
        self._open(spec, 1, spec.stdout)
        if spec.stderr == "merge":
            self.child[2] = self.child[1] if self.child[1] is not None else 1
        else:
            self._open(spec, 2, spec.stderr)
        self._map(spec.map_fds)

    def _map(self, pairs: tuple[tuple[int, int], ...]) -> None:
        """The mapped fds, each source moved above every target: the dup2s cannot clobber one."""
        if not pairs:
            return
        floor = max(target for _, target in pairs) + 1
        for fd, target in pairs:
            source = fd
            if source < floor:
                source = fd_at_or_above(os.dup(fd), floor)
                self.owned.append(source)
            self.mapped.append((source, target))

    def _open(self, spec: ProcessSpec, index: int, how: Stdio) -> None:
        if how == "inherit":
            return
        if isinstance(how, int):
            self.child[index] = how
        elif how == "capture":
            read, write = self._pipe(spec, index)
            theirs, mine = (read, write) if index == 0 else (write, read)
            self.ours[index] = mine
            self._own(index, theirs)
            if index == 0:
                os.set_blocking(mine, False)
        elif how == "devnull":
            self.child[index] = devnull_fd()  # shared; never closed
        elif isinstance(how, File):
            self._own(index, self._open_file(spec, index, how))

    @staticmethod
    def _pipe(spec: ProcessSpec, index: int) -> tuple[int, int]:
        try:
            if _faults.ARMED:
                _faults.fire("pipe", spec.argv)
            return os.pipe()
        except OSError as exc:  # EMFILE, ENFILE: a SpawnError like any other failed step
            stream = ("stdin", "stdout", "stderr")[index]
            raise SpawnError(
                spec.argv,
                step=f"pipe for {stream}",
                errno=exc.errno,
                detail=f"cannot make a pipe: {exc.strerror}",
            ) from exc

    def _own(self, index: int, fd: int) -> None:
        fd = fd_above_stdio(fd)  # a dup2 source must not be one of the targets 0-2
        self.child[index] = fd
        self.owned.append(fd)

    @staticmethod
    def _open_file(spec: ProcessSpec, index: int, file: File) -> int:
        if index == 0:
            flags = os.O_RDONLY
        else:
            flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if file.append else os.O_TRUNC)
        try:
            return os.open(file.path, flags | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            stream = ("stdin", "stdout", "stderr")[index]
            raise SpawnError(
                spec.argv,
                step=f"open {stream}",
                errno=exc.errno,
                detail=f"cannot open {file.path!r}: {exc.strerror}",
            ) from exc

    def child_map(self, pass_fds: tuple[int, ...]) -> list[tuple[int, int]]:
        pairs = [(fd, target) for target, fd in enumerate(self.child) if fd is not None]
        return pairs + [(fd, fd) for fd in pass_fds] + self.mapped

    def close_child_ends(self) -> None:
        for fd in self.owned:
            os.close(fd)
        self.owned.clear()

    def close_all(self) -> None:
        self.close_child_ends()
        for fd in self.ours:
            if fd is not None:
                os.close(fd)
        self.ours = [None, None, None]
