"""ProcessSpec: everything needed to start one process, as a frozen, validated value.

The library, the daemon and the pool all describe a process with this object and
start it through `spawn.launch`, so a field added here works everywhere at once.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TypeAlias

from corral._errors import InvalidSpec, format_command, shorten
from corral._platform import parse_signal

if TYPE_CHECKING:
    from corral._sandbox.spec import Sandbox

StdioMode: TypeAlias = Literal["inherit", "capture", "pipe", "devnull", "merge"]


@dataclass(frozen=True, slots=True)
class File:
    """Connect a stream to a file: read from it (stdin) or write to it (stdout, stderr)."""

    path: str
    """The file's path; relative paths are relative to the caller's cwd, not the child's."""
    append: bool = False
    """Append to the file instead of truncating it (output streams only)."""


Stdio: TypeAlias = StdioMode | File | int | os.PathLike[str]
"""How a standard stream is connected.

"inherit" shares ours; "capture" (alias "pipe") gives corral a pipe to read
(stdout, stderr) or write (stdin); "devnull" connects /dev/null; "merge" (stderr
only) sends stderr wherever stdout goes; a `File` or path opens that file; an int
is a file descriptor of ours that the child gets a copy of.
"""

EnvPairs: TypeAlias = tuple[tuple[str, str], ...]

FIRST_LISTEN_FD = 3
"""Where sockets handed to a child start (SD_LISTEN_FDS_START, sd_listen_fds(3))."""


def listen_fds_end(count: int) -> int:
    """The first fd after `count` handed-over sockets (3 + count): where further fds go."""
    return FIRST_LISTEN_FD + count


_MODES = frozenset({"inherit", "capture", "pipe", "devnull", "merge"})
_PLAIN = frozenset({"inherit", "capture", "devnull"})  # valid for every stream as they are


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessSpec:
    """One process to start: argv, environment, directory, stdio, fds, group."""

    argv: tuple[str, ...]
    """The program and its arguments; argv[0] is looked up on PATH unless it has a '/'."""
    cwd: str | None = None
    """Working directory of the child; None keeps ours."""
    env: EnvPairs | None = None
    """The child's whole environment; None inherits ours (`env_add` applies on top).

    Even `env={}` gives the child one variable, `CORRAL_TREE` (the tree marker): it is
    how corral finds descendants that double-forked out of the group, to end them with
    the tree. There is no option to leave it out; a child may unset it, and then a
    double-forked descendant of it escapes the tree's end."""
    env_add: EnvPairs = ()
    """Variables added to (or replacing those in) the environment."""
    stdin: Stdio = "devnull"
    """Where stdin comes from; "capture"/"pipe" lets the caller write to it."""
    stdout: Stdio = "capture"
    """Where stdout goes; captured by default so results and errors can show it."""
    stderr: Stdio = "capture"
    """Where stderr goes; "merge" sends it to stdout's destination."""
    pass_fds: tuple[int, ...] = ()
    """Further fds of ours that the child inherits under the same numbers."""
    map_fds: tuple[tuple[int, int], ...] = ()
    """(fd of ours, its number in the child) pairs: the child gets a copy of each fd at
    that number (3 and above), whatever number it has here (a readiness pipe at 3)."""
    new_session: bool = False
    """Start a new session (setsid) instead of only a new process group."""
    stop_signal: signal.Signals = signal.SIGTERM
    """The signal that asks the process tree to stop, before SIGKILL after the grace."""
    sandbox: Sandbox | None = None
    """Limits and isolation applied in the child before exec (forces the fork path)."""

    def __post_init__(self) -> None:
        # Values already in normal form are left alone: this runs on every run().
        argv = self.argv if type(self.argv) is tuple else tuple(self.argv)
        if not argv or not all(isinstance(a, str) for a in argv) or not argv[0]:
            raise InvalidSpec(
                f"argv must be a non-empty sequence of strings, got {shorten(repr(self.argv))}"
            )
        if argv is not self.argv:
            object.__setattr__(self, "argv", argv)
        if self.cwd is not None and type(self.cwd) is not str:
            object.__setattr__(self, "cwd", _path("cwd", self.cwd))
        self._check_nul()
        if type(self.stop_signal) is not signal.Signals:
            object.__setattr__(self, "stop_signal", parse_signal(self.stop_signal))
        for name in ("stdin", "stdout", "stderr"):
            value = getattr(self, name)
            if not (type(value) is str and value in _PLAIN):
                object.__setattr__(self, name, _check_stdio(name, value))
        if self.sandbox is not None:
            from corral._sandbox.spec import Sandbox

            if not isinstance(self.sandbox, Sandbox):
                raise InvalidSpec(f"sandbox must be a corral.sandbox.Sandbox, got {self.sandbox!r}")
        for fd in self.pass_fds:
            if not isinstance(fd, int) or fd < 3:
                raise InvalidSpec(f"pass_fds holds {fd!r}; pass fds 3 and above (0-2 are stdio)")
        if self.map_fds:
            self._check_map_fds()

    def _check_map_fds(self) -> None:
        """Pairs of ints; each child number 3 or above, used once, and not one of pass_fds."""
        pairs = tuple(tuple(pair) for pair in self.map_fds)
        if not all(len(p) == 2 and all(type(n) is int and n >= 0 for n in p) for p in pairs):
            raise InvalidSpec(f"map_fds must hold (our fd, child fd) pairs, got {self.map_fds!r}")
        targets = [target for _, target in pairs]
        if min(targets) < 3 or len(set(targets)) != len(targets):
            raise InvalidSpec(f"map_fds child fds must be distinct and >= 3, got {targets}")
        if set(targets) & set(self.pass_fds):
            raise InvalidSpec(f"map_fds child fds {targets} overlap pass_fds {self.pass_fds}")
        object.__setattr__(self, "map_fds", pairs)

    def _check_nul(self) -> None:
        """A NUL cannot cross exec(2): refuse it here, naming the command, not after a fork."""
        where = None
        if any("\0" in a for a in self.argv):
            where = "an argument"
        elif self.cwd is not None and "\0" in self.cwd:
            where = "cwd"
        else:
            for key, value in (*(self.env or ()), *self.env_add):
                if "\0" in key or "\0" in value:
                    where = f"environment variable {key.split(chr(0))[0]!r}"
                    break
        if where is not None:
            raise InvalidSpec(
                f"{where} of `{format_command(self.argv)}` holds a NUL byte, "
                "which no program can be given"
            )

    @property
    def environment(self) -> dict[str, str] | None:
        """The whole environment as a dict, or None when it is inherited."""
        return None if self.env is None else dict(self.env)


def env_pairs(mapping: Mapping[str, str] | Iterable[tuple[str, str]]) -> EnvPairs:
    """Normalise an environment mapping into the hashable form the spec stores."""
    items = mapping.items() if isinstance(mapping, Mapping) else mapping
    pairs = tuple((str(k), str(v)) for k, v in items)
    for key, _ in pairs:
        if not key or "=" in key:
            raise InvalidSpec(f"invalid environment variable name {shorten(repr(key))}")
    return pairs  # a NUL is refused by ProcessSpec, which can name the command


def paths(name: str, values: Iterable[object]) -> tuple[str, ...]:
    """Each of `values` as a str path (os.fspath), or InvalidSpec naming `name`."""
    if type(values) in (list, tuple) and all(type(value) is str for value in values):
        return tuple(values)  # type: ignore[arg-type]  # the common case: no call per value
    return tuple(_path(name, value) for value in values)


def _path(name: str, value: object) -> str:
    try:
        path = os.fspath(value)  # type: ignore[call-overload]
    except TypeError:
        raise InvalidSpec(f"{name} must be a str or path, got {shorten(repr(value))}") from None
    if not isinstance(path, str):  # bytes: argv and env are text throughout corral
        raise InvalidSpec(f"{name} must be a str or path, got bytes {shorten(repr(path))}")
    return path


def _check_stdio(name: str, value: object) -> Stdio:
    if isinstance(value, str):
        if value not in _MODES:
            raise InvalidSpec(
                f"{name}={value!r} is not a stdio mode; use one of "
                "inherit, capture, devnull, merge (stderr), a File, a path or an fd"
            )
        if value == "merge" and name != "stderr":
            raise InvalidSpec(f"{name}='merge' is only meaningful for stderr")
        return "capture" if value == "pipe" else value  # type: ignore[return-value]
    if isinstance(value, File):
        if value.append and name == "stdin":
            raise InvalidSpec("stdin cannot be opened for append")
        return value
    if isinstance(value, os.PathLike):
        return File(os.fspath(value))
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise InvalidSpec(f"{name}={value!r} is not a stdio choice")


__all__ = [
    "FIRST_LISTEN_FD",
    "EnvPairs",
    "File",
    "ProcessSpec",
    "Stdio",
    "StdioMode",
    "env_pairs",
    "listen_fds_end",
    "paths",
]
