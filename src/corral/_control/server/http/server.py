"""HttpServer: listens on unix sockets (0600) and TCP (bearer token), one task per connection.

Each accepted connection passes `Admission` first (caps in total and per peer, fds kept
in reserve); one that does not is answered with a 503 and closed at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
from functools import partial
from typing import Any

from corral._control.server.http.admission import (
    DEFAULT_LIMITS,
    Admission,
    Limits,
    peer_of,
    refusal_bytes,
)
from corral._control.server.http.connection import Connection
from corral._control.server.http.messages import HttpError, Request, Response, StreamingResponse
from corral._control.server.http.router import Router
from corral._control.server.unix_socket import bind_private, remove_if_stale, unlink_if_same
from corral._errors import InvalidSpec

_log = logging.getLogger("corral.control.http")


class HttpServer:
    """Serves a `Router` on any number of unix and TCP listeners until `close()`."""

    def __init__(
        self, router: Router, *, max_body: int = 1 << 20, limits: Limits = DEFAULT_LIMITS
    ) -> None:
        self.router = router
        self.max_body = max_body
        self.limits = limits
        self.accepted = 0
        """Connections accepted so far (keep-alive shows as one per client)."""
        self.admission = Admission(limits)
        self._servers: list[asyncio.Server] = []
        self._unix: list[tuple[str, int]] = []
        self._tcp: list[str] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing = False

    def __repr__(self) -> str:
        where = " ".join([*(path for path, _ in self._unix), *self._tcp]) or "-"
        state = "closed" if self._closing else f"connections={len(self._tasks)}"
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
            server = await asyncio.start_unix_server(partial(self._accept, token=None), sock=sock)
        except BaseException:
            sock.close()
            os.unlink(path)
            raise
        self._servers.append(server)
        self._unix.append((path, os.stat(path).st_ino))

    async def listen_tcp(self, host: str, port: int, token: str) -> int:
        """Listen on host:port (0: any free port); every request needs `Bearer <token>`.

        Returns the bound port. Bind to a loopback address unless you mean otherwise.
        """
        if not token:
            raise InvalidSpec("the TCP listener needs a non-empty token")
        accept = partial(self._accept, token=f"Bearer {token}".encode())
        server = await asyncio.start_server(accept, host, port)
        self._servers.append(server)
        bound = server.sockets[0].getsockname()
        self._tcp.append(f"{bound[0]}:{bound[1]}")
        return int(bound[1])

    async def close(self) -> None:
        """Stop listening, end every connection (streams are closed), remove our socket files."""
        self._closing = True
        for server in self._servers:
            server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for server in self._servers:
            await server.wait_closed()
        for path, inode in self._unix:
            unlink_if_same(path, inode)

    async def respond(self, request: Request) -> Response | StreamingResponse:
        """Route one request; the per-request boundary where unexpected errors become 500."""
        try:
            return await self.router.dispatch(request)
        except HttpError as exc:
            return exc.to_response()
        except Exception as exc:
            _log.exception("%s %s failed", request.method, request.path)
            return HttpError(500, f"internal error: {type(exc).__name__}: {exc}").to_response()

    async def _accept(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, token: bytes | None
    ) -> None:
        task = asyncio.current_task()
        if self._closing or task is None:
            writer.close()
            return
        sock = writer.get_extra_info("socket")
        try:
            peer = peer_of(sock)
        except OSError:  # gone already
            writer.close()
            return
        refusal = self.admission.admit(peer, sock.fileno())
        if refusal is not None:
            writer.write(refusal_bytes(refusal))
            writer.close()  # the transport sends what it holds, then closes: the fd is freed
            return
        self._tasks.add(task)
        self.accepted += 1
        try:
            connection = Connection(self.respond, self.max_body, reader, writer, token)
            await connection.serve(self.limits)
        finally:
            self.admission.release(peer)
            self._tasks.discard(task)
