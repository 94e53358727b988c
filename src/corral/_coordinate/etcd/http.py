"""JSON over HTTP/1.1 to one etcd endpoint (asyncio, h11): unary calls and streams.

etcd serves its v3 API as JSON on the client port (the gRPC gateway, under /v3/):
a POST with a JSON body answers with one JSON object, or, for the streaming calls
(watch), with a chunked body of JSON objects separated by newlines. `ssl` is imported
only for an https:// endpoint, so a daemon that blocks it can still talk to a
plain-http etcd.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import h11

from corral._errors import CoordinationError

if TYPE_CHECKING:
    import ssl

__all__ = ["Endpoint", "GatewayError", "HttpConnection", "Unreachable", "parse_endpoint"]

_READ_SIZE = 65536
_MAX_LINE = 16 * 1024 * 1024
"""An answer or stream message larger than this is refused (a broken or hostile server)."""


class Unreachable(Exception):
    """This endpoint could not be reached or stopped answering; try another one."""


class GatewayError(CoordinationError):
    """etcd answered with an error (the gRPC code and message it gave)."""

    def __init__(self, code: int, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"etcd refused the request: {message} (code {code})")


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One etcd client URL, parsed."""

    url: str
    host: str
    port: int
    tls: bool


def parse_endpoint(url: str) -> Endpoint:
    """`http://host:port` or `https://host:port` → Endpoint; CoordinationError otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CoordinationError(f"etcd endpoint {url!r}: expected http://HOST:PORT or https://")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 2379)
    except ValueError:
        raise CoordinationError(f"etcd endpoint {url!r}: the port is not a number") from None
    return Endpoint(url, parts.hostname, port, parts.scheme == "https")


class HttpConnection:
    """One keep-alive HTTP/1.1 connection; one request at a time."""

    def __init__(
        self, endpoint: Endpoint, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.endpoint = endpoint
        self._reader = reader
        self._writer = writer
        self._h11 = h11.Connection(h11.CLIENT)

    @classmethod
    async def open(
        cls, endpoint: Endpoint, timeout: float, tls: ssl.SSLContext | None
    ) -> HttpConnection:
        """Connect within `timeout`; Unreachable if refused, unresolvable or too slow."""
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(
                    endpoint.host, endpoint.port, ssl=tls if endpoint.tls else None
                )
        except (OSError, TimeoutError) as exc:
            raise Unreachable(_reason(exc, timeout)) from None
        return cls(endpoint, reader, writer)

    async def call(self, path: str, body: dict[str, Any], headers: list[tuple[str, str]]) -> Any:
        """POST `body` to `path`, return the decoded answer; GatewayError if etcd refuses."""
        await self._send(path, body, headers)
        status = await self._response()
        data = bytearray()
        while isinstance(event := await self._next(), h11.Data):
            data += event.data
            if len(data) > _MAX_LINE:
                raise Unreachable("an answer is over 16 MiB")
        self._h11.start_next_cycle()
        return _decode(status, bytes(data))

    async def stream(
        self, path: str, body: dict[str, Any], headers: list[tuple[str, str]]
    ) -> AsyncIterator[Any]:
        """POST `body`, then yield each JSON message of the streamed answer as it comes."""
        await self._send(path, body, headers)
        status = await self._response()
        pending = bytearray()
        while isinstance(event := await self._next(), h11.Data):
            pending += event.data
            while (end := pending.find(b"\n")) >= 0:
                line, pending = bytes(pending[:end]), pending[end + 1 :]
                if line.strip():
                    yield _decode(status, line)
            if len(pending) > _MAX_LINE:
                raise Unreachable("a streamed message is over 16 MiB")
        raise Unreachable("the stream ended")

    def close(self) -> None:
        """Drop the connection at once (a stream in progress ends with Unreachable).

        An abort, not a close: a TLS close waits for the peer's close_notify, and a loop
        that ends before it arrives would leave the socket open.
        """
        self._writer.transport.abort()

    async def aclose(self, timeout: float = 1.0) -> None:
        """Close politely (TLS close_notify included), dropping it after `timeout`."""
        self._writer.close()
        try:
            async with asyncio.timeout(timeout):
                await self._writer.wait_closed()
        except (OSError, TimeoutError):
            self.close()

    async def _send(self, path: str, body: dict[str, Any], headers: list[tuple[str, str]]) -> None:
        payload = json.dumps(body).encode()
        request = h11.Request(
            method="POST",
            target=path,
            headers=[
                ("Host", f"{self.endpoint.host}:{self.endpoint.port}"),
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(payload))),
                *headers,
            ],
        )
        try:
            self._writer.write(self._h11.send(request) or b"")
            self._writer.write(self._h11.send(h11.Data(data=payload)) or b"")
            self._writer.write(self._h11.send(h11.EndOfMessage()) or b"")
            await self._writer.drain()
        except (OSError, h11.LocalProtocolError) as exc:
            raise Unreachable(_reason(exc, 0)) from None

    async def _response(self) -> int:
        event = await self._next()
        if not isinstance(event, h11.Response):
            raise Unreachable(f"unexpected answer {type(event).__name__}")
        return event.status_code

    async def _next(self) -> Any:
        while True:
            try:
                event = self._h11.next_event()
            except h11.RemoteProtocolError as exc:
                raise Unreachable(f"not HTTP/1.1: {exc}") from None
            if event is not h11.NEED_DATA:
                if isinstance(event, h11.ConnectionClosed):
                    raise Unreachable("the connection closed")
                return event
            try:
                data = await self._reader.read(_READ_SIZE)
            except OSError as exc:
                raise Unreachable(_reason(exc, 0)) from None
            self._h11.receive_data(data)


def _decode(status: int, data: bytes) -> Any:
    try:
        answer = json.loads(data)
    except ValueError:
        raise Unreachable(f"HTTP {status} with a body that is not JSON") from None
    if isinstance(answer, dict) and "error" in answer:
        error = answer["error"]
        if isinstance(error, dict):  # a streamed call's error: {"error": {"grpc_code": ...}}
            raise GatewayError(int(error.get("grpc_code", 2)), str(error.get("message")))
        raise GatewayError(int(answer.get("code", 2)), str(answer.get("message") or error))
    if status != 200:
        raise Unreachable(f"HTTP {status}")
    return answer


def _reason(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout:g} s"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
