"""A real HttpServer on a debug-mode event loop in a background thread, for blocking clients.

The test thread plays the client (the real, blocking `Client` or a raw socket); the
loop thread runs the server. `run()` carries a coroutine over and waits for its result,
so a test reads top to bottom with no sleeps.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
from collections.abc import AsyncIterator, Coroutine
from typing import Any, TypeVar

from corral._control.server.http import (
    HttpError,
    HttpServer,
    Limits,
    Request,
    Response,
    Router,
    StreamingResponse,
)
from tests.support.waiting import DEADLINE

T = TypeVar("T")


class ServerHarness:
    """One event loop thread and the servers started on it; `close()` ends them all."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.loop.set_debug(True)
        self._thread = threading.Thread(target=self.loop.run_forever, name="http-test-loop")
        self._thread.start()
        self.servers: list[HttpServer] = []

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on the loop thread and return its result (or raise its error)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(DEADLINE)

    def set(self, event: asyncio.Event) -> None:
        """Set an asyncio event from the test thread."""
        self.loop.call_soon_threadsafe(event.set)

    def serve_unix(
        self, router: Router, path: str, *, max_body: int = 1 << 20, limits: Limits | None = None
    ) -> HttpServer:
        """A server listening on the unix socket `path` (with `limits`, else the defaults)."""
        server = HttpServer(router, max_body=max_body, limits=limits or Limits())
        self.servers.append(server)
        self.run(server.listen_unix(path))
        return server

    def close(self) -> None:
        for server in self.servers:
            self.run(server.close())
        self.run(self.loop.shutdown_asyncgens())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(DEADLINE)
        self.loop.close()


def demo_router() -> Router:
    """Routes that show each behaviour of the transport, and nothing of the real API."""
    router = Router()
    router.add("GET", "/v1/hello", _hello)
    router.add("POST", "/v1/echo", _echo)
    router.add("GET", "/v1/items/{name}", _item)
    router.add("DELETE", "/v1/items/{name}", _item)
    router.add("GET", "/v1/items/all", _all_items)
    router.add("GET", "/v1/boom", _boom)
    router.add("GET", "/v1/teapot", _teapot)
    return router


async def _hello(request: Request) -> Response:
    return Response.json({"hello": "world"})


async def _echo(request: Request) -> Response:
    return Response.json({"got": request.json(), "query": request.query}, status=201)


async def _item(request: Request) -> Response:
    return Response.json({"method": request.method, "name": request.params["name"]})


async def _all_items(request: Request) -> Response:
    return Response.json({"all": True})


async def _boom(request: Request) -> Response:
    raise ValueError("boom")


async def _teapot(request: Request) -> Response:
    raise HttpError(418, "short and stout")


def stream_route(body: AsyncIterator[bytes]) -> Router:
    """A router whose GET /v1/follow streams `body` (once)."""

    async def follow(request: Request) -> StreamingResponse:
        return StreamingResponse(200, "text/plain", body)

    router = demo_router()
    router.add("GET", "/v1/follow", follow)
    return router


def raw_exchange(path: str, data: bytes) -> bytes:
    """Send raw bytes on a new connection and return everything read until the server closes."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(DEADLINE)
        sock.connect(path)
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def statuses(reply: bytes) -> list[int]:
    """The status codes of the responses in a raw reply, in order."""
    return [int(code) for code in re.findall(rb"HTTP/1\.1 (\d{3}) ", reply)]


def error_message(reply: bytes) -> str:
    """The JSON error message of the last response in a raw reply."""
    body = reply.rsplit(b"\r\n\r\n", 1)[1]
    message = json.loads(body)["error"]["message"]
    assert isinstance(message, str)
    return message
