"""HttpServer: listens on unix sockets (0600) and TCP (bearer tokens, optional TLS), one task
per connection; an observer (the audit log) is told of every reply.

Each accepted connection passes `Admission` first (caps in total and per peer, fds kept
in reserve); one that does not is answered with a 503 and closed at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from corral._control.server.http.admission import (
    DEFAULT_LIMITS,
    Admission,
    Limits,
    peer_key,
    refusal_bytes,
)
from corral._control.server.http.auth import Gate, Tokens, peer_of
from corral._control.server.http.connection import Connection
from corral._control.server.http.messages import (
    HttpError,
    Observer,
    Peer,
    Request,
    Response,
    StreamingResponse,
)
from corral._control.server.http.router import Router
from corral._control.server.unix_socket import bind_private, remove_if_stale, unlink_if_same

if TYPE_CHECKING:
    import ssl

_log = logging.getLogger("corral.control.http")

TLS_HANDSHAKE_SECONDS = 10.0
"""How long a TLS client may take to finish its handshake (asyncio's default is 60 s)."""


FINISH_SECONDS = 2.0
"""How long a closing server waits for streams that can finish (docs/daemon.md)."""


MAX_BODY = 256 << 10
"""Bytes a request body may hold: 4,096 names of 60 bytes. Decoding it takes the loop
about 3 ms (1 MiB took 13 ms); a larger body is a 413."""


class HttpServer:
    """Serves a `Router` on any number of unix and TCP listeners until `close()`."""

    def __init__(
        self,
        router: Router,
        *,
        max_body: int = MAX_BODY,
        limits: Limits = DEFAULT_LIMITS,
        observer: Observer | None = None,
    ) -> None:
        self.router = router
        self.max_body = max_body
        self.limits = limits
        self._observe: Observer = observer or _unobserved
        self.accepted = 0
        """Connections accepted so far (keep-alive shows as one per client)."""
        self.admission = Admission(limits)
        self._servers: list[asyncio.Server] = []
        self._unix: list[tuple[str, int]] = []
        self._tcp: list[str] = []
        self._connections: dict[asyncio.Task[Any], Connection] = {}
        """Each connection being served, by the task serving it."""
        self._admitted: dict[asyncio.BaseTransport, tuple[Peer, str]] = {}
        """Connections admitted whose task has not begun: their peer and its cap's key."""
        self._closing = False

    def __repr__(self) -> str:
        where = " ".join([*(path for path, _ in self._unix), *self._tcp]) or "-"
        state = "closed" if self._closing else f"connections={len(self._connections)}"
        refused = self.admission.refused
        return f"<HttpServer {where} {state} accepted={self.accepted} refused={refused}>"

    async def listen_unix(self, path: str) -> None:
        """Listen on a unix socket only our user may open (0600, set by umask at bind).

        A socket file left by a dead server is replaced; if a server still answers there,
        or the path is not a socket, raises OSError naming the path.
        """
        await remove_if_stale(path)
        sock = bind_private(path)
        try:
            loop = asyncio.get_running_loop()
            server = await loop.create_unix_server(self._protocol(gate=None), sock=sock)
        except BaseException:
            sock.close()
            os.unlink(path)
            raise
        self._servers.append(server)
        self._unix.append((path, os.stat(path).st_ino))

    async def listen_tcp(
        self,
        host: str,
        port: int,
        tokens: Mapping[str, str],
        *,
        tls: ssl.SSLContext | None = None,
        tls_handshake_timeout: float = TLS_HANDSHAKE_SECONDS,
        gate: Callable[[Tokens], Gate] | None = None,
    ) -> int:
        """Listen on host:port (0: any free port); every request needs `Bearer <token>`.

        `tokens` maps names to tokens (each at least 16 bytes); the name of the one a
        request carries becomes its `peer.token`. With `tls` (a server-side context) the
        listener speaks HTTPS; a client that has not finished the TLS handshake within
        `tls_handshake_timeout` seconds is disconnected (its connection holds an fd before
        any request is read). `gate` makes what lets requests in from the tokens (the web
        dashboard's sessions); without, the tokens do. Returns the bound port. Bind to a
        loopback address unless you mean otherwise.
        """
        handshake = None if tls is None else tls_handshake_timeout
        checked = Tokens(tokens)
        server = await asyncio.get_running_loop().create_server(
            self._protocol(gate=checked if gate is None else gate(checked)),
            host,
            port,
            ssl=tls,
            ssl_handshake_timeout=handshake,
        )
        self._servers.append(server)
        bound = server.sockets[0].getsockname()
        self._tcp.append(f"{bound[0]}:{bound[1]}")
        return int(bound[1])

    async def close(self, *, finish_within: float = FINISH_SECONDS) -> None:
        """Stop listening, end every connection, remove our socket files.

        A streaming reply that can finish (the event stream) is asked to, and is given up
        to `finish_within` seconds to send what it holds and end, so its client sees the
        daemon's last events and a complete reply; every other connection ends at once.
        """
        self._closing = True
        for server in self._servers:
            server.close()
        sent = [
            asyncio.ensure_future(event.wait())
            for connection in self._connections.values()
            if (event := connection.finish_stream()) is not None
        ]
        if sent:
            _, late = await asyncio.wait(sent, timeout=finish_within)
            for waiter in late:
                waiter.cancel()
        tasks = list(self._connections)
        for task in tasks:
            task.cancel()
        for transport in self._admitted:  # admitted, their task never begun: end them too
            transport.close()
        await asyncio.gather(*tasks, return_exceptions=True)
        for server in self._servers:
            await server.wait_closed()
        for path, inode in self._unix:
            unlink_if_same(path, inode)

    async def respond(self, request: Request) -> Response | StreamingResponse:
        """Route one request; the per-request boundary where unexpected errors become 500."""
        try:
            response = await self.router.dispatch(request)
        except HttpError as exc:
            response = exc.to_response()
        except Exception as exc:
            _log.exception("%s %s failed", request.method, request.path)
            response = HttpError(500, f"internal error: {type(exc).__name__}: {exc}").to_response()
        self._observe(request, response)
        return response

    def _protocol(self, *, gate: Gate | None) -> Callable[[], asyncio.Protocol]:
        """The listener's protocol factory: each connection is admitted or refused first."""
        accept = partial(self._accept, gate=gate)
        return lambda: _Admitting(self._admit, accept)

    def _admit(self, transport: asyncio.BaseTransport) -> bool:
        """Count a new connection in, or answer it 503 and close it: True if admitted.

        Called from the protocol's `connection_made`, before a stream writer or a task
        exists, so a client that reconnects as fast as it can costs the loop an accept,
        a write and a close per try.
        """
        if self._closing:
            transport.close()
            return False
        sock = transport.get_extra_info("socket")
        try:
            peer = peer_of(transport)
            fd = -1 if sock is None else sock.fileno()
        except OSError:  # gone already
            fd = -1
        if fd < 0:
            transport.close()
            return False
        key = peer_key(peer)
        refusal = self.admission.admit(key, fd)
        if refusal is not None:
            cast(asyncio.WriteTransport, transport).write(refusal_bytes(refusal))
            transport.close()  # the transport sends what it holds, then closes: the fd is freed
            return False
        self._admitted[transport] = (peer, key)
        return True

    async def _accept(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, gate: Gate | None
    ) -> None:
        peer, key = self._admitted.pop(writer.transport)
        task = asyncio.current_task()
        if self._closing or task is None:
            self.admission.release(key)
            writer.close()
            return
        connection = Connection(
            self.respond, self.max_body, reader, writer, gate, peer, self._observe
        )
        self._connections[task] = connection
        self.accepted += 1
        try:
            await connection.serve(self.limits)
        finally:
            self.admission.release(key)
            del self._connections[task]


def _unobserved(request: Request, response: Response | StreamingResponse) -> None:
    """The observer of a server given none."""


class _Admitting(asyncio.StreamReaderProtocol):
    """A stream protocol that asks `admit` in `connection_made`; a refused connection
    gets no streams' task (the refusal was written and the transport closed)."""

    def __init__(
        self,
        admit: Callable[[asyncio.BaseTransport], bool],
        accept: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
    ) -> None:
        super().__init__(asyncio.StreamReader(), accept)
        self._admit = admit

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self._admit(transport):
            super().connection_made(transport)
