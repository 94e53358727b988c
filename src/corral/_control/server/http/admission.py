"""Who may hold a connection: caps in total and per peer, and fds kept for supervision.

Every connection costs the daemon one fd, and the daemon's programs need fds too
(a pidfd, two pipes and two log files each, at every restart). So a connection is
refused, with a one-line 503, when it would pass the total cap or its peer's cap, or
when its fd lands in the last `fd_reserve` fds below the soft RLIMIT_NOFILE: the
kernel hands out the lowest free fd (open(2)), so fd N means N fds are already in
use, and refusing those keeps the reserve free whatever clients do. A peer is a uid
on a unix socket (SO_PEERCRED, unix(7)) and an address on TCP.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass

from corral._control.server.http.messages import Peer
from corral._platform.posix.rlimits import current


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """What one client may cost the server: connections and how long they may sit idle."""

    max_connections: int = 256
    """Connections open at once, over every listener (uvicorn's and nginx's order of size)."""
    max_per_peer: int = 64
    """Connections open at once from one uid (unix socket) or one address (TCP)."""
    fd_reserve: int = 128
    """The last fds below the soft RLIMIT_NOFILE, never spent on a connection."""
    header_timeout: float = 10.0
    """Seconds a request (head and body) may take to arrive once it has begun, and the
    first request once the connection is accepted (nginx's client_header_timeout)."""
    idle_timeout: float = 60.0
    """Seconds a keep-alive connection may wait for its next request, and a whole
    response may wait for the client to take it."""


DEFAULT_LIMITS = Limits()


def peer_key(peer: Peer) -> str:
    """What a peer's cap counts: "uid 0" on a unix socket, the host (not the port) on TCP."""
    if peer.transport == "unix":
        return f"uid {peer.uid}"
    host = (peer.address or "").rpartition(":")[0]
    return host.removeprefix("[").removesuffix("]")


class Admission:
    """Counts open connections in total and per peer; says why one must be refused."""

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self.limits = limits
        self.refused = 0
        """Connections refused so far."""
        self._open: Counter[str] = Counter()
        self._total = 0

    def __repr__(self) -> str:
        return f"<Admission open={self._total} peers={len(self._open)} refused={self.refused}>"

    def admit(self, peer: str, fd: int) -> str | None:
        """Count the connection in and return None, or return why it is refused."""
        reason = self._refusal(peer, fd)
        if reason is not None:
            self.refused += 1
            return reason
        self._open[peer] += 1
        self._total += 1
        return None

    def release(self, peer: str) -> None:
        """An admitted connection has ended."""
        self._total -= 1
        self._open[peer] -= 1
        if self._open[peer] <= 0:
            del self._open[peer]

    def _refusal(self, peer: str, fd: int) -> str | None:
        limits = self.limits
        if self._total >= limits.max_connections:
            return f"too many connections: the daemon serves at most {limits.max_connections}"
        if self._open[peer] >= limits.max_per_peer:
            return f"too many connections from {peer}: at most {limits.max_per_peer} per peer"
        soft = current("nofile")[0]
        if 0 <= soft - limits.fd_reserve <= fd:
            return f"out of file descriptors: the last {limits.fd_reserve} are kept for programs"
        return None


def refusal_bytes(message: str) -> bytes:
    """A whole 503 response naming `message`, for a connection closed before h11 sees it."""
    body = json.dumps({"error": {"status": 503, "message": message}}).encode()
    head = (
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body
