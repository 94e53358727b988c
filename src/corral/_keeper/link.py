"""The daemon's side of the keeper protocol: hello, put, drop, bye (see keeper.py)."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from corral._keeper import protocol
from corral._keeper.protocol import ProtocolError


class KeeperGone(Exception):
    """The keeper closed the connection (it was killed, or refused us)."""


@dataclass(slots=True)
class Held:
    """One entry the keeper held: its fds are ours now (the keeper keeps its copies)."""

    id: str
    pid: int
    meta: dict[str, Any]
    fds: dict[str, int]
    """Fds by kind ("pidfd", "stdout", "stderr", "notify", ...)."""
    status: int | None
    """The raw wait status, if the keeper reaped it."""

    def close(self) -> None:
        """Close our copies of its fds."""
        for fd in self.fds.values():
            os.close(fd)
        self.fds.clear()


@dataclass(slots=True)
class Snapshot:
    """What the keeper answered to hello."""

    keeper: int
    daemon: int | None
    """The daemon it spawned (this one, normally)."""
    children: list[int]
    """Its live children that are neither the daemon nor a held entry's root."""
    entries: list[Held] = field(default_factory=list)


class KeeperLink:
    """A connection to the keeper; each call is one message (blocking, and short)."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    @classmethod
    def from_environment(cls, environ: dict[str, str] | None = None) -> KeeperLink | None:
        """The link the keeper that spawned us left at CORRAL_KEEPER_FD; None if it did not."""
        env = os.environ if environ is None else environ
        raw = env.pop(protocol.FD_VARIABLE, None)
        if raw is None:
            return None
        sock = socket.socket(fileno=int(raw))
        os.set_inheritable(sock.fileno(), False)
        return cls(sock)

    @classmethod
    def connect(cls, path: str) -> KeeperLink:
        """Connect to the keeper listening at `path` (OSError if none answers)."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            sock.connect(path)
        except OSError:
            sock.close()
            raise
        return cls(sock)

    def fileno(self) -> int:
        return self._sock.fileno()

    def hello(self) -> Snapshot:
        """Greet the keeper and take everything it holds."""
        self._send({"op": "hello"})
        message, _ = self._expect("hello")
        children = [int(pid) for pid in message["children"]]
        snapshot = Snapshot(int(message["keeper"]), message["daemon"], children)
        while True:
            message, fds = self._receive()
            if message["op"] == "end":
                return snapshot
            if message["op"] != "entries":
                raise ProtocolError(f"expected entries, got {message['op']!r}")
            fds.reverse()
            for entry in message["entries"]:
                kinds = entry["kinds"]
                held = {kind: fds.pop() for kind in kinds}
                status = entry["status"]
                snapshot.entries.append(
                    Held(str(entry["id"]), int(entry["pid"]), entry["meta"], held, status)
                )

    def put(self, key: str, pid: int, fds: Mapping[str, int], meta: Mapping[str, Any]) -> None:
        """Have the keeper hold `fds` for entry `key` (root `pid`)."""
        message = {"op": "put", "id": key, "pid": pid, "kinds": list(fds), "meta": dict(meta)}
        self._send(message, list(fds.values()))

    def drop(self, key: str) -> None:
        """The entry's process was collected: the keeper closes and forgets its fds."""
        self._send({"op": "drop", "id": key})

    def bye(self) -> None:
        """A clean shutdown: the keeper exits with us."""
        self._send({"op": "bye"})

    def close(self) -> None:
        self._sock.close()

    def _send(self, message: protocol.Message, fds: list[int] | None = None) -> None:
        try:
            protocol.send(self._sock, message, fds or ())
        except OSError as exc:
            raise KeeperGone(f"the keeper is gone: {exc.strerror or exc}") from None

    def _receive(self) -> tuple[protocol.Message, list[int]]:
        try:
            received = protocol.recv(self._sock)
        except OSError as exc:
            raise KeeperGone(f"the keeper is gone: {exc.strerror or exc}") from None
        if received is None:
            raise KeeperGone("the keeper closed the connection")
        if received[0].get("op") == "refused":
            raise KeeperGone(f"the keeper refused: {received[0].get('reason')}")
        return received

    def _expect(self, op: str) -> tuple[protocol.Message, list[int]]:
        message, fds = self._receive()
        if message.get("op") != op:
            for fd in fds:
                os.close(fd)
            raise ProtocolError(f"expected {op}, got {message.get('op')!r}")
        return message, fds
