"""PURE: the listening sockets the daemon owns and hands to programs (`[sockets.NAME]`).

The daemon binds each socket once and holds it, so a program restarting never closes
it: a client that connects while no instance runs waits in the backlog until the next
one accepts. Programs that list a socket get it as systemd's socket activation does
(sd_listen_fds(3)): fds 3, 4, ... in the order of their `sockets` list, with
`LISTEN_FDS`, `LISTEN_FDNAMES` and `LISTEN_PID` in their environment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from corral._errors import InvalidSpec

__all__ = ["MAX_BACKLOG", "SocketSpec"]

MAX_BACKLOG = 65535
"""The largest backlog the kernel takes (it caps at net.core.somaxconn)."""

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


@dataclass(frozen=True, slots=True, kw_only=True)
class SocketSpec:
    """One listening socket: where it listens and how."""

    name: str
    """Unique name; programs list it in `sockets`, and it is the socket's LISTEN_FDNAMES."""
    listen: str
    """A TCP address, "127.0.0.1:8080" or "[::1]:8080", or an absolute unix socket path."""
    backlog: int = 128
    """Connections the kernel queues before one is accepted (listen(2)); they wait there
    while a program restarts."""
    mode: int | None = None
    """Permissions of a unix socket's file (0o660): who may connect; unset, 0o666 less
    the daemon's umask. Only for unix sockets."""

    def __post_init__(self) -> None:
        if not _NAME.match(self.name) or ":" in self.name:
            raise InvalidSpec(
                f"socket name {self.name!r} must start with a letter, digit or _ and "
                "contain only letters, digits, _ . -"
            )
        if not 1 <= self.backlog <= MAX_BACKLOG:
            raise InvalidSpec(f"backlog must be from 1 to {MAX_BACKLOG}, got {self.backlog}")
        if self.kind == "unix" and not self.listen.startswith("/"):
            raise InvalidSpec(f"listen of a unix socket must be an absolute path: {self.listen!r}")
        if self.mode is not None and self.kind != "unix":
            raise InvalidSpec("mode applies to unix sockets only; listen names a TCP address")
        if self.mode is not None and not 0 <= self.mode <= 0o777:
            raise InvalidSpec(f"mode must be from 0 to 0o777, got {self.mode:#o}")

    @property
    def kind(self) -> Literal["tcp", "unix"]:
        """ "unix" for a path, "tcp" for a host:port address."""
        return "unix" if "/" in self.listen else "tcp"

    def host_port(self) -> tuple[str, int]:
        """(host, port) of a TCP socket, IPv6 brackets removed."""
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]"), int(port)

    def rebinds(self, other: SocketSpec) -> bool:
        """Whether changing from this spec to `other` needs a new socket (a new address).

        A new backlog or mode is applied to the socket already bound, which stays open.
        """
        return self.listen != other.listen
