"""A small HTTP/1.1 JSON server: unix socket (mode 0600) and opt-in TCP with a bearer token.

h11 frames HTTP, asyncio streams carry the bytes (docs/decisions/0002-http-stack.md). A
connection serves requests in turn (keep-alive); a malformed, oversized or unauthenticated
one is answered and closed. A route raising `HttpError` gets its status; any other
exception is logged and becomes a 500 naming its type, and the server keeps serving.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass, field, replace
from functools import partial
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import h11

from corral._control.server.unix_socket import bind_private, remove_if_stale, unlink_if_same
from corral._errors import InvalidSpec

_log = logging.getLogger("corral.control.http")

_READ_SIZE = 64 * 1024
_LINGER_SECONDS = 2.0  # after an error reply that closes: how long unread input is drained

Headers = tuple[tuple[str, str], ...]
StreamBody = AsyncIterator[bytes]
"""The body of a streaming response: each item is sent as one chunk as soon as it comes."""


@dataclass(frozen=True, slots=True)
class Request:
    """One parsed request, its body read whole (at most `max_body` bytes)."""

    method: str
    path: str
    """The path as sent, percent-encoding kept; `params` holds the decoded pieces."""
    query: dict[str, str]
    headers: dict[str, str]
    """Header names in lower case; repeated headers joined with ", "."""
    body: bytes
    params: dict[str, str] = field(default_factory=dict)
    """Values of the route pattern's `{name}` segments, percent-decoded."""

    def json(self) -> object:
        """The body decoded as JSON; a missing or invalid body is the client's error (400)."""
        if not self.body:
            raise HttpError(400, "the request has no body; expected JSON")
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise HttpError(400, f"the request body is not valid JSON: {exc}") from None


@dataclass(frozen=True, slots=True)
class Response:
    """A whole response, sent with Content-Length."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: Headers = ()

    @classmethod
    def json(cls, data: object, status: int = 200) -> Response:
        """A JSON response (UTF-8) holding `data`."""
        return cls(status, json.dumps(data, ensure_ascii=False).encode())


@dataclass(frozen=True, slots=True)
class StreamingResponse:
    """A response whose body is produced while it is sent (chunked): `logs -f`, events.

    The body is closed with `aclose()` when the client disconnects or the server closes,
    so a generator's `finally` is where a route releases what it subscribed to.
    """

    status: int
    content_type: str
    body: StreamBody
    headers: Headers = ()
    cutoff: asyncio.Future[None] | None = None
    """Completed by the producer to drop a client that stopped reading: the connection is
    aborted at once, discarding what the client has not taken (its buffers are freed)."""


Handler = Callable[[Request], Awaitable[Response | StreamingResponse]]


class HttpError(Exception):
    """Raised by a route to answer with `status` and a JSON error body naming `message`."""

    def __init__(self, status: int, message: str, *, headers: Headers = ()) -> None:
        super().__init__(f"{status} {message}")
        self.status = status
        self.message = message
        self.headers = headers

    def to_response(self) -> Response:
        """The reply: `{"error": {"status": ..., "message": ...}}`."""
        error = {"error": {"status": self.status, "message": self.message}}
        return replace(Response.json(error, self.status), headers=self.headers)


class Router:
    """Maps method + path pattern (`/v1/instances/{name}`) to a handler; explicit, no magic."""

    def __init__(self) -> None:
        self._routes: dict[str, tuple[tuple[str, ...], dict[str, Handler]]] = {}

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        """Register `handler` for `method` on `pattern`; each pair may be added once."""
        if not pattern.startswith("/"):
            raise InvalidSpec(f"route pattern {pattern!r} must start with '/'")
        _, methods = self._routes.setdefault(pattern, (tuple(pattern.split("/")[1:]), {}))
        if method.upper() in methods:
            raise InvalidSpec(f"route {method.upper()} {pattern} is already registered")
        methods[method.upper()] = handler

    def resolve(self, method: str, path: str) -> tuple[Handler, dict[str, str]]:
        """The handler and params for a request; 404 if no pattern fits, 405 with Allow."""
        segments = path.split("/")[1:]
        matches = sorted(
            (
                (params, methods)
                for pattern, methods in self._routes.values()
                if (params := _match(pattern, segments)) is not None
            ),
            key=lambda match: len(match[0]),  # literal segments win over {params}
        )
        if not matches:
            raise HttpError(404, f"no route for {path}")
        for params, methods in matches:
            if method in methods:
                return methods[method], params
        allow = ", ".join(sorted({name for _, methods in matches for name in methods}))
        message = f"{method} is not allowed on {path} (allowed: {allow})"
        raise HttpError(405, message, headers=(("allow", allow),))

    async def dispatch(self, request: Request) -> Response | StreamingResponse:
        """Call the matching handler with the route params filled in."""
        handler, params = self.resolve(request.method, request.path)
        return await handler(replace(request, params=params))


def _match(pattern: tuple[str, ...], segments: list[str]) -> dict[str, str] | None:
    if len(pattern) != len(segments):
        return None
    params: dict[str, str] = {}
    for want, got in zip(pattern, segments, strict=True):
        if want.startswith("{") and want.endswith("}") and got:
            params[want[1:-1]] = unquote(got)
        elif want != got:
            return None
    return params


class HttpServer:
    """Serves a `Router` on any number of unix and TCP listeners until `close()`."""

    def __init__(self, router: Router, *, max_body: int = 1 << 20) -> None:
        self.router = router
        self.max_body = max_body
        self.accepted = 0
        """Connections accepted so far (keep-alive shows as one per client)."""
        self._servers: list[asyncio.Server] = []
        self._unix: list[tuple[str, int]] = []
        self._tcp: list[str] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing = False

    def __repr__(self) -> str:
        where = " ".join([*(path for path, _ in self._unix), *self._tcp]) or "-"
        state = "closed" if self._closing else f"connections={len(self._tasks)}"
        return f"<HttpServer {where} {state} accepted={self.accepted}>"

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
        self._tasks.add(task)
        self.accepted += 1
        try:
            await _Connection(self, reader, writer, token).serve()
        finally:
            self._tasks.discard(task)


@dataclass(slots=True)
class _Connection:
    """One client connection: an h11 state machine fed from, and draining to, the streams."""

    _server: HttpServer
    _reader: asyncio.StreamReader
    _writer: asyncio.StreamWriter
    _token: bytes | None
    _conn: h11.Connection = field(default_factory=lambda: h11.Connection(h11.SERVER))

    async def serve(self) -> None:
        try:
            while await self._serve_one():
                self._conn.start_next_cycle()
        except OSError as exc:
            _log.debug("connection ended by the peer: %r", exc)
        except Exception:
            _log.exception("connection failed")  # the per-connection boundary: others go on
        finally:
            self._writer.close()
            with suppress(OSError):
                await self._writer.wait_closed()

    async def _serve_one(self) -> bool:
        """Serve one request; returns whether the connection may carry another."""
        try:
            event = await self._next_event()
            if not isinstance(event, h11.Request):
                return False
            request = await self._read_request(event)
        except h11.RemoteProtocolError as exc:
            await self._send_closing(HttpError(exc.error_status_hint, f"malformed HTTP: {exc}"))
            return False
        except HttpError as exc:
            await self._send_closing(exc)
            return False
        response = await self._server.respond(request)
        if isinstance(response, StreamingResponse):
            await self._send_stream(response)
        else:
            await self._send(response)
        return self._conn.our_state is h11.DONE and self._conn.their_state is h11.DONE

    async def _next_event(self) -> h11.Event:
        while True:
            event = self._conn.next_event()
            if event is h11.PAUSED:
                raise h11.LocalProtocolError("read out of turn")  # a bug of ours, not the peer's
            if event is not h11.NEED_DATA:
                return event  # type: ignore[return-value]
            self._conn.receive_data(await self._reader.read(_READ_SIZE))

    async def _read_request(self, event: h11.Request) -> Request:
        headers: dict[str, str] = {}
        for name, value in event.headers:
            key, text = name.decode("latin-1"), value.decode("latin-1")
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
        self._check_token(headers.get("authorization", ""))
        if int(headers.get("content-length", "0")) > self._server.max_body:
            raise HttpError(413, f"the body is larger than {self._server.max_body} bytes")
        if self._conn.they_are_waiting_for_100_continue:
            await self._write(h11.InformationalResponse(status_code=100, headers=[]))
        body = await self._read_body()
        target = urlsplit(event.target.decode("latin-1"))
        query = dict(parse_qsl(target.query, keep_blank_values=True))
        method = event.method.decode("latin-1")
        return Request(method=method, path=target.path, query=query, headers=headers, body=body)

    def _check_token(self, value: str) -> None:
        if self._token is not None and not _same_secret(value.encode("latin-1"), self._token):
            message = "missing or wrong token; send `Authorization: Bearer <token>`"
            raise HttpError(401, message, headers=(("www-authenticate", "Bearer"),))

    async def _read_body(self) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while not isinstance(event := await self._next_event(), h11.EndOfMessage):
            if isinstance(event, h11.Data):
                size += len(event.data)
                if size > self._server.max_body:
                    raise HttpError(413, f"the body is larger than {self._server.max_body} bytes")
                chunks.append(bytes(event.data))
        return b"".join(chunks)

    async def _send(self, response: Response) -> None:
        length = ("content-length", str(len(response.body)))
        head = _head(response.status, response.content_type, (*response.headers, length))
        await self._write(head, h11.Data(data=response.body), h11.EndOfMessage())

    async def _send_closing(self, error: HttpError) -> None:
        """Answer an unusable request, then close without resetting the reply away."""
        if self._conn.our_state not in {h11.IDLE, h11.SEND_RESPONSE}:
            return
        close = ("connection", "close")
        await self._send(replace(error.to_response(), headers=(*error.headers, close)))
        if self._writer.can_write_eof():
            self._writer.write_eof()
        with suppress(TimeoutError, OSError):
            async with asyncio.timeout(_LINGER_SECONDS):
                await self._wait_disconnect()

    async def _send_stream(self, response: StreamingResponse) -> None:
        chunked = ("transfer-encoding", "chunked")
        head = _head(response.status, response.content_type, (*response.headers, chunked))
        await self._write(head)
        pump = asyncio.create_task(self._pump(response.body))
        watch = asyncio.create_task(self._wait_disconnect())
        ends: set[asyncio.Future[Any]] = {pump, watch}
        if response.cutoff is not None:
            ends.add(response.cutoff)
        try:
            await asyncio.wait(ends, return_when=asyncio.FIRST_COMPLETED)
        finally:
            pump.cancel()
            watch.cancel()
            outcome, _ = await asyncio.gather(pump, watch, return_exceptions=True)
            if (aclose := getattr(response.body, "aclose", None)) is not None:
                await aclose()
            if response.cutoff is not None and response.cutoff.done():
                self._writer.transport.abort()
        if isinstance(outcome, Exception) and not isinstance(outcome, OSError):
            _log.error("streaming response failed", exc_info=outcome)

    async def _pump(self, body: StreamBody) -> None:
        async for chunk in body:
            if chunk:
                await self._write(h11.Data(data=chunk))
        await self._write(h11.EndOfMessage())

    async def _wait_disconnect(self) -> None:
        """Return when the client hangs up (or floods); what it sends is kept for h11."""
        received = 0
        while received <= self._server.max_body and (data := await self._reader.read(_READ_SIZE)):
            received += len(data)
            self._conn.receive_data(data)

    async def _write(self, *events: h11.Event) -> None:
        for event in events:
            data = self._conn.send(event)
            if data:
                self._writer.write(data)
        await self._writer.drain()


def _head(status: int, content_type: str, extra: Headers) -> h11.Response:
    try:
        reason = HTTPStatus(status).phrase.encode()
    except ValueError:
        reason = b""
    headers = [(b"content-type", content_type.encode())]
    headers += [(name.encode(), value.encode()) for name, value in extra]
    return h11.Response(status_code=status, headers=headers, reason=reason)


def _same_secret(given: bytes, expected: bytes) -> bool:
    """Constant-time comparison; hmac (and libcrypto with it) loads only for a TCP token."""
    import hmac

    return hmac.compare_digest(given, expected)
