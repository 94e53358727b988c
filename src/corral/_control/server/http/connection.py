"""One client connection: an h11 state machine fed from, and draining to, asyncio streams.

A connection serves requests in turn (keep-alive); a malformed, oversized or
unauthenticated request is answered and the connection closed. Streaming bodies are
sent chunked while the client's side is watched for a hang-up.

Time bounds (`Limits`): a request must arrive whole within `header_timeout` of its
first byte (the first one: of the accept), a keep-alive connection may wait
`idle_timeout` for its next, and a whole response may wait as long for the client to
take it; past them the connection is closed without a reply. After each response the
loop is yielded to, so a client that pipelines requests cannot hold it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import h11

from corral._control.server.http.admission import DEFAULT_LIMITS, Limits
from corral._control.server.http.auth import Gate
from corral._control.server.http.messages import (
    Headers,
    HttpError,
    Observer,
    Peer,
    Request,
    Response,
    StreamBody,
    StreamingResponse,
)

_log = logging.getLogger("corral.control.http")

_READ_SIZE = 64 * 1024
_LINGER_SECONDS = 2.0  # after an error reply that closes: how long unread input is drained


Respond = Callable[[Request], Awaitable[Response | StreamingResponse]]
"""Routes one request to its reply (HttpServer.respond): never raises."""


@dataclass(slots=True)
class Connection:
    """One client connection: an h11 state machine fed from, and draining to, the streams."""

    _respond: Respond
    _max_body: int
    _reader: asyncio.StreamReader
    _writer: asyncio.StreamWriter
    _gate: Gate | None
    """Who may send requests (a TCP listener's tokens); None: anyone who can connect."""
    _peer: Peer
    _observe: Observer
    _conn: h11.Connection = field(default_factory=lambda: h11.Connection(h11.SERVER))
    _limits: Limits = DEFAULT_LIMITS
    _deadline: float = 0.0
    """When the request being waited for (or the response being taken) times out."""
    _idle: bool = False
    """Waiting for a keep-alive connection's next request to begin."""
    _streaming: StreamingResponse | None = None
    """The streaming reply being sent, while one is."""
    _stream_sent: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when a streaming reply has been sent to its end (or given up)."""

    async def serve(self, limits: Limits = DEFAULT_LIMITS) -> None:
        """Serve requests until either side ends the connection; never raises."""
        self._limits = limits
        loop = asyncio.get_running_loop()
        self._deadline = loop.time() + limits.header_timeout
        try:
            while await self._serve_one():
                self._conn.start_next_cycle()
                await asyncio.sleep(0)  # a pipelining client must not hold the loop
                self._deadline, self._idle = loop.time() + limits.idle_timeout, True
        except _TimedOut as exc:
            _log.debug("connection closed: %s", exc)
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
        response = await self._respond(request)
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
            self._conn.receive_data(await self._receive())

    async def _receive(self) -> bytes:
        """The next bytes of a request, within its deadline (a new one when it begins)."""
        try:
            async with asyncio.timeout_at(self._deadline):
                data = await self._reader.read(_READ_SIZE)
        except TimeoutError:
            what = "no request" if self._idle else "the request did not arrive whole"
            raise _TimedOut(what) from None
        if self._idle and data:
            self._idle = False
            self._deadline = asyncio.get_running_loop().time() + self._limits.header_timeout
        return data

    async def _read_request(self, event: h11.Request) -> Request:
        headers: dict[str, str] = {}
        for name, value in event.headers:
            key, text = name.decode("latin-1"), value.decode("latin-1")
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
        target = urlsplit(event.target.decode("latin-1"))
        query = dict(parse_qsl(target.query, keep_blank_values=True))
        method = event.method.decode("latin-1")
        head = Request(method, target.path, query, headers, b"", peer=self._peer)
        try:
            peer = self._peer if self._gate is None else self._gate.admit(head)
            if int(headers.get("content-length", "0")) > self._max_body:
                raise HttpError(413, f"the body is larger than {self._max_body} bytes")
            if self._conn.they_are_waiting_for_100_continue:
                await self._write(h11.InformationalResponse(status_code=100, headers=[]))
            body = await self._read_body()
        except HttpError as exc:
            self._observe(head, exc.to_response())  # refused before routing: audited too
            raise
        return replace(head, body=body, peer=peer)

    async def _read_body(self) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while not isinstance(event := await self._next_event(), h11.EndOfMessage):
            if isinstance(event, h11.Data):
                size += len(event.data)
                if size > self._max_body:
                    raise HttpError(413, f"the body is larger than {self._max_body} bytes")
                chunks.append(bytes(event.data))
        return b"".join(chunks)

    async def _send(self, response: Response) -> None:
        length = ("content-length", str(len(response.body)))
        head = _head(response.status, response.content_type, (*response.headers, length))
        try:
            async with asyncio.timeout(self._limits.idle_timeout):
                await self._write(head, h11.Data(data=response.body), h11.EndOfMessage())
        except TimeoutError:
            raise _TimedOut("the client did not take its response") from None

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

    def finish_stream(self) -> asyncio.Event | None:
        """Ask the streaming reply being sent to finish (`StreamingResponse.finish`); the
        event is set once it is sent to its end. None when no such reply is being sent."""
        response = self._streaming
        if response is None or response.finish is None:
            return None
        response.finish()
        return self._stream_sent

    async def _send_stream(self, response: StreamingResponse) -> None:
        self._streaming = response
        self._stream_sent.clear()
        try:
            await self._stream_body(response)
        finally:
            self._streaming = None
            self._stream_sent.set()

    async def _stream_body(self, response: StreamingResponse) -> None:
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
        while received <= self._max_body and (data := await self._reader.read(_READ_SIZE)):
            received += len(data)
            self._conn.receive_data(data)

    async def _write(self, *events: h11.Event) -> None:
        for event in events:
            data = self._conn.send(event)
            if data:
                self._writer.write(data)
        await self._writer.drain()


class _TimedOut(Exception):
    """A client took longer than `Limits` allow; the connection is closed without a reply."""


def _head(status: int, content_type: str, extra: Headers) -> h11.Response:
    try:
        reason = HTTPStatus(status).phrase.encode()
    except ValueError:
        reason = b""
    headers = [(b"content-type", content_type.encode())]
    headers += [(name.encode(), value.encode()) for name, value in extra]
    return h11.Response(status_code=status, headers=headers, reason=reason)
