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
    kinds: tuple[str, ...] = ()
    """The kinds of fds it came with (kept when they are closed)."""

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
        """Greet the keeper and take everything it holds (blocking: tests, benches)."""
        self.send_hello()
        builder = SnapshotBuilder()
        while not builder.take(*self.receive()):
            pass
        assert builder.snapshot is not None
        return builder.snapshot

    def send_hello(self) -> None:
        """Ask for everything the keeper holds: a `hello`, `entries`..., `end` follow."""
        self._send({"op": "hello"})

    def setblocking(self, flag: bool) -> None:
        """Non-blocking for a daemon's loop: sends and receives raise BlockingIOError."""
        self._sock.setblocking(flag)

    def send(self, message: protocol.Message, fds: list[int]) -> None:
        """Send one message as it is (KeeperGone if the keeper is gone)."""
        self._send(message, fds)

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

    def unasked(self) -> tuple[protocol.Message, list[int]] | None:
        """Read what the keeper sent unasked (it sends nothing: this sees its EOF); None at EOF."""
        return protocol.recv(self._sock)

    def close(self) -> None:
        self._sock.close()

    def _send(self, message: protocol.Message, fds: list[int] | None = None) -> None:
        try:
            protocol.send(self._sock, message, fds or ())
        except BlockingIOError:
            raise
        except OSError as exc:
            raise KeeperGone(f"the keeper is gone: {exc.strerror or exc}") from None

    def receive(self) -> tuple[protocol.Message, list[int]]:
        """The keeper's next message; KeeperGone at EOF or on `refused`."""
        try:
            received = protocol.recv(self._sock)
        except BlockingIOError:
            raise
        except OSError as exc:
            raise KeeperGone(f"the keeper is gone: {exc.strerror or exc}") from None
        if received is None:
            raise KeeperGone("the keeper closed the connection")
        if received[0].get("op") == "refused":
            raise KeeperGone(f"the keeper refused: {received[0].get('reason')}")
        return received


class SnapshotBuilder:
    """Assembles the keeper's answer to hello from its messages, in order."""

    def __init__(self) -> None:
        self.snapshot: Snapshot | None = None

    def take(self, message: protocol.Message, fds: list[int]) -> bool:
        """One message of the answer; True once it is complete (`snapshot` is set)."""
        op = message.get("op")
        if self.snapshot is None:
            if op != "hello":
                _close(fds)
                raise ProtocolError(f"expected hello, got {op!r}")
            children = [int(pid) for pid in message["children"]]
            self.snapshot = Snapshot(int(message["keeper"]), message["daemon"], children)
            return False
        if op == "end":
            return True
        if op != "entries":
            _close(fds)
            raise ProtocolError(f"expected entries, got {op!r}")
        fds.reverse()
        for entry in message["entries"]:
            kinds = tuple(entry["kinds"])
            held = {kind: fds.pop() for kind in kinds}
            self.snapshot.entries.append(
                Held(
                    str(entry["id"]), int(entry["pid"]), entry["meta"], held, entry["status"], kinds
                )
            )
        return False


def _close(fds: list[int]) -> None:
    for fd in fds:
        os.close(fd)
