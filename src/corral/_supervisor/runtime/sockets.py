"""HeldSockets: the `[sockets.NAME]` listeners the daemon binds, holds and hands over.

Bound when the config is read (the daemon's start, each reload), so an address in use
is a config error at its `listen` key, and held until the daemon exits or a reload
drops them. A program's instances get copies at each spawn (`listen_fds`); the
daemon's own copy keeps the socket listening while no instance runs, so a client
that connects meanwhile waits in the backlog for the next instance. The daemon never
accepts on them, and leaves them blocking: O_NONBLOCK would be shared with every
program, which (as under systemd) expects a blocking socket.

A reload is a transaction (`prepare`, then `commit` or `rollback`): sockets whose
`listen` is new are bound first, while the old ones still run; if one cannot be,
those bound are closed and the running config is kept.
"""

from __future__ import annotations

import errno as _errno
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from corral._platform import (
    bind_tcp,
    bind_unix,
    set_backlog,
    set_mode,
    socket_inode,
    unlink_socket,
)
from corral._process.spawn import ListenFds
from corral._supervisor.config.kinds import Problem
from corral._supervisor.config.load import Config, config_error_at
from corral._supervisor.model.program import Program
from corral._supervisor.model.sockets import SocketSpec
from corral._supervisor.view import SocketView

_IN_USE = "an address no other socket listens on"


@dataclass(slots=True)
class _Held:
    """One bound, listening socket and what it was bound from."""

    spec: SocketSpec
    sock: socket.socket
    inode: int | None = None
    """A unix socket's file, so only our own is removed at close."""

    def close(self) -> None:
        self.sock.close()
        if self.spec.kind == "unix":
            unlink_socket(self.spec.listen, self.inode)


def _bind(spec: SocketSpec) -> _Held:
    if spec.kind == "unix":
        sock = bind_unix(spec.listen, spec.backlog, spec.mode)
        return _Held(spec, sock, socket_inode(spec.listen))
    host, port = spec.host_port()
    return _Held(spec, bind_tcp(host, port, spec.backlog))


def _reason(exc: OSError) -> str:
    code = _errno.errorcode.get(exc.errno or 0)
    text = exc.strerror or str(exc)
    return f"{text} [{code}]" if code else text


class HeldSockets:
    """Every socket the running config names, by name."""

    __slots__ = ("_held",)

    def __init__(self) -> None:
        self._held: dict[str, _Held] = {}

    def __repr__(self) -> str:
        return f"<HeldSockets {' '.join(self._held) or '(none)'}>"

    @classmethod
    def bind(cls, config: Config) -> HeldSockets:
        """Every socket of `config`, bound; ConfigError naming each `listen` that cannot be."""
        held = cls()
        held.open(config)
        return held

    def open(self, config: Config) -> None:
        """Bind every socket of `config` into this (empty) holder; ConfigError as `bind`.

        For a daemon that must first end what a crashed one left running: those programs
        still hold the sockets, so the addresses are free only once they are gone.
        """
        if self._held:
            raise RuntimeError("HeldSockets.open on a holder that holds sockets")
        self._held = _bind_all(config, config.sockets)

    def listen_fds(self, names: Sequence[str]) -> ListenFds:
        """The sockets `names` names, as a spawn hands them over (in that order)."""
        return ListenFds(tuple(self._held[name].sock.fileno() for name in names), tuple(names))

    def views(self, programs: Iterable[Program]) -> tuple[SocketView, ...]:
        """One view per socket, with the programs that use it."""
        users: dict[str, list[str]] = {name: [] for name in self._held}
        for program in programs:
            for name in program.sockets:
                users.setdefault(name, []).append(program.name)
        return tuple(_view(held, users[name]) for name, held in self._held.items())

    def prepare(self, config: Config) -> SocketChange:
        """The sockets of a new config: new addresses bound now, the rest kept for `commit`.

        Raises ConfigError, with nothing changed, if a new address cannot be bound.
        """
        old = self._held
        fresh = [
            spec
            for spec in config.sockets
            if spec.name not in old or old[spec.name].spec.rebinds(spec)
        ]
        bound = _bind_all(config, fresh)
        return SocketChange(self, config.sockets, bound)

    def close(self) -> None:
        """Close every socket (and remove our unix socket files)."""
        held, self._held = self._held, {}
        for each in held.values():
            each.close()


@dataclass(slots=True)
class SocketChange:
    """A reload's sockets, bound but not yet in force: `commit` or `rollback` it."""

    owner: HeldSockets
    specs: tuple[SocketSpec, ...]
    bound: dict[str, _Held]
    """The sockets bound for this reload (new names, and names with a new `listen`)."""
    rebound: frozenset[str] = field(init=False)
    """Names that existed and got a new socket: the programs using them must restart."""

    def __post_init__(self) -> None:
        self.rebound = frozenset(name for name in self.bound if name in self.owner._held)

    def commit(self) -> None:
        """Put the new sockets in force; close the removed and replaced ones."""
        old = self.owner._held
        held: dict[str, _Held] = {}
        for spec in self.specs:
            if spec.name in self.bound:
                held[spec.name] = self.bound[spec.name]
                continue
            kept = old[spec.name]
            _apply(kept, spec)
            held[spec.name] = kept
        for name, each in old.items():
            if held.get(name) is not each:
                each.close()
        self.owner._held = held
        self.bound = {}

    def rollback(self) -> None:
        """Close what this reload bound; the running sockets stay as they are."""
        bound, self.bound = self.bound, {}
        for each in bound.values():
            each.close()


def _apply(held: _Held, spec: SocketSpec) -> None:
    """A new backlog or mode, on the socket already bound (it stays open)."""
    if spec.backlog != held.spec.backlog:
        set_backlog(held.sock, spec.backlog)
    if spec.mode is not None and spec.mode != held.spec.mode:
        set_mode(spec.listen, spec.mode)
    held.spec = spec


def _bind_all(config: Config, specs: Iterable[SocketSpec]) -> dict[str, _Held]:
    """Each of `specs` bound, or (all closed again) ConfigError naming each that failed."""
    bound: dict[str, _Held] = {}
    problems: list[Problem] = []
    for spec in specs:
        try:
            bound[spec.name] = _bind(spec)
        except OSError as exc:
            where = ("sockets", spec.name, "listen")
            problems.append(Problem(where, _IN_USE, f"{spec.listen}: {_reason(exc)}"))
    if problems:
        for each in bound.values():
            each.close()
        raise config_error_at(config.path, tuple(problems))
    return bound


def _view(held: _Held, users: Sequence[str]) -> SocketView:
    spec = held.spec
    return SocketView(
        name=spec.name,
        listen=spec.listen,
        bound=_bound(held),
        kind=spec.kind,
        backlog=spec.backlog,
        mode=None if spec.mode is None else f"{spec.mode:03o}",
        programs=tuple(users),
    )


def _bound(held: _Held) -> str:
    """The address the socket is bound to (a TCP port 0 in `listen` shows the chosen one)."""
    if held.spec.kind == "unix":
        return held.spec.listen
    host, port = held.sock.getsockname()[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
