"""Blocking JSON client of the daemon's HTTP API: its unix socket, or TCP with a token.

Every `corral` CLI command imports this module, so it imports only the standard library
and h11 (no asyncio, no HTTP framework): start-up time is a hot path; `ssl` is imported
only by a client given a CA file (TLS). One connection is kept alive across requests;
`stream()` opens its own, closed with the stream.
"""

from __future__ import annotations

import json
import socket
import time
from collections import deque
from collections.abc import Iterator, Mapping
from contextlib import suppress
from typing import TYPE_CHECKING, cast
from urllib.parse import quote, urlencode

import h11

from corral._control.wire import API_PREFIX, EventJSON, EventsReply
from corral._errors import ApiError, DaemonUnavailable, InvalidSpec

if TYPE_CHECKING:
    import ssl
    from types import TracebackType

    from corral._control.sse import Message, MessageDecoder

__all__ = ["Client", "EventFeed", "ResponseStream"]

_READ_SIZE = 64 * 1024
_BROKEN_HINT = "the daemon may have stopped; see its log"
_Failure = (OSError, h11.ProtocolError)
"""What a socket or a peer that does not speak HTTP can raise; becomes DaemonUnavailable."""


class Client:
    """Talks JSON to one daemon; use as a context manager, or call `close()`.

    `timeout` bounds connecting and each wait for reply bytes (None: wait for ever).
    With `tls_ca` (a PEM file of the CA, or of the daemon's self-signed certificate) a
    TCP connection speaks TLS and the daemon's certificate must be valid for the host.
    Characters a URL path may not hold are percent-encoded; existing escapes are kept.
    """

    def __init__(
        self,
        socket_path: str | None = None,
        *,
        tcp: tuple[str, int] | None = None,
        token: str | None = None,
        tls_ca: str | None = None,
        timeout: float | None = 30.0,
    ) -> None:
        if (socket_path is None) == (tcp is None):
            raise InvalidSpec("give the daemon's socket path or tcp=(host, port), not both")
        if tls_ca is not None and tcp is None:
            raise InvalidSpec("TLS (tls_ca) is for a TCP connection: give tcp=(host, port)")
        self._tls = None if tls_ca is None else _client_context(tls_ca)
        self.socket_path = socket_path
        self.tcp = tcp
        self.timeout = timeout
        self.address: str = str(socket_path) if tcp is None else _host_port(*tcp)
        """Where the daemon is expected, for messages: the socket path or host:port."""
        self._token = token
        self._wire: _Wire | None = None
        self._streams: list[ResponseStream] = []

    def __repr__(self) -> str:
        open_streams = sum(stream.open for stream in self._streams)
        return f"<Client {self.address} kept={self._wire is not None} streams={open_streams}>"

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the kept connection and every stream this client opened."""
        if self._wire is not None:
            self._wire.close()
            self._wire = None
        for stream in self._streams:
            stream.close()
        self._streams.clear()

    def request(
        self,
        method: str,
        path: str,
        body: object | None = None,
        query: Mapping[str, str] | None = None,
    ) -> object:
        """Send one request (JSON body) and return the decoded JSON reply (None if empty).

        Raises ApiError for a non-2xx reply, DaemonUnavailable when nothing usable answers.
        """
        payload = b"" if body is None else json.dumps(body).encode()
        event = self._request_event(method, _target(path, query), payload)
        status, data = self._exchange(event, payload, retry=self._wire is not None)
        if not 200 <= status < 300:
            raise _api_error(status, data)
        if not data:
            return None
        try:
            return json.loads(data)
        except ValueError:
            raise ApiError(status, f"the reply to {method} {path} is not JSON") from None

    def stream(
        self,
        method: str,
        path: str,
        query: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> ResponseStream:
        """Send a request and iterate over the reply body as it arrives (`logs -f`).

        Errors in the reply's status are raised here, before iteration. The stream has its
        own connection and no read timeout; closing it (or this client) closes that.
        """
        wire = self._connect()
        try:
            event = self._request_event(method, _target(path, query), b"", headers)
            head = self._send(wire, event, b"")
            if not 200 <= head.status_code < 300:
                raise _api_error(head.status_code, self._read_body(wire))
        except BaseException:
            wire.close()
            raise
        wire.sock.settimeout(None)
        stream = ResponseStream(wire, self.address)
        self._streams = [kept for kept in self._streams if kept.open]
        self._streams.append(stream)
        return stream

    def events(self, since: int = 0) -> EventsReply:
        """The events the daemon's ring still holds after `since`, oldest first (no waiting)."""
        reply = self.request("GET", f"{API_PREFIX}/events", query={"since": str(since)})
        return cast(EventsReply, reply)

    def follow_events(self, since: int | None = None, *, metrics: bool = False) -> EventFeed:
        """Events as the daemon emits them, from the event stream (`GET /v1/events?follow=1`).

        Subscribed when this returns, so an event caused by a later action is not missed.
        `since`: replay what the ring holds after that seq first; None: only new events.
        `metrics`: the feed also yields a "metrics" message (seq None) after each tick.
        """
        return EventFeed(self, since, metrics=metrics)

    def _exchange(self, event: h11.Request, payload: bytes, *, retry: bool) -> tuple[int, bytes]:
        """One request on the kept connection (or a new one); keeps it if reusable.

        A kept connection the daemon closed while idle fails before any reply byte; that
        request never ran, so it is sent once more on a new connection.
        """
        wire, self._wire = self._wire or self._connect(), None
        try:
            status = self._send(wire, event, payload).status_code
            body = self._read_body(wire)
        except DaemonUnavailable as exc:
            wire.close()
            if retry and wire.received == 0 and not isinstance(exc.__cause__, TimeoutError):
                return self._exchange(event, payload, retry=False)
            raise
        except BaseException:
            wire.close()
            raise
        if wire.reusable():
            self._wire = wire
        else:
            wire.close()
        return status, body

    def _send(self, wire: _Wire, event: h11.Request, payload: bytes) -> h11.Response:
        try:
            wire.send_request(event, payload)
            return wire.read_head()
        except _Failure as exc:
            raise self._unavailable(exc, wire) from exc

    def _read_body(self, wire: _Wire) -> bytes:
        try:
            return wire.read_body()
        except _Failure as exc:
            raise self._unavailable(exc, wire) from exc

    def _connect(self) -> _Wire:
        try:
            if self.tcp is None:
                assert self.socket_path is not None
                return _Wire(_connect_unix(self.socket_path, self.timeout))
            sock = socket.create_connection(self.tcp, timeout=self.timeout)
            if self._tls is None:
                return _Wire(sock)
            try:  # the handshake happens here, bounded by the same timeout
                return _Wire(self._tls.wrap_socket(sock, server_hostname=self.tcp[0]))
            except BaseException:
                sock.close()
                raise
        except OSError as exc:
            raise self._unavailable(exc, None) from exc

    def _unavailable(self, exc: BaseException, wire: _Wire | None) -> DaemonUnavailable:
        address = self.address
        if self._tls is not None and (tls := _tls_failure(exc)) is not None:
            return DaemonUnavailable(address, reason=tls, hint="check the CA file and the host")
        if isinstance(exc, FileNotFoundError | ConnectionRefusedError):
            return DaemonUnavailable(address)
        if isinstance(exc, PermissionError):
            hint = "the socket is private to the user the daemon runs as"
            return DaemonUnavailable(address, reason="permission denied", hint=hint)
        if isinstance(exc, TimeoutError):
            waited = "" if self.timeout is None else f" within {self.timeout:g} s"
            reason = f"no reply{waited}"
            return DaemonUnavailable(address, reason=reason, hint="it may be stuck; see its log")
        if wire is not None and wire.received == 0:
            reason = "the connection closed before any reply"
        elif isinstance(exc, h11.ProtocolError):
            reason = f"the reply is not the HTTP expected ({exc})"
        else:
            reason = f"the connection failed ({exc})"
        return DaemonUnavailable(address, reason=reason, hint=_BROKEN_HINT)

    def _request_event(
        self, method: str, target: str, payload: bytes, extra: Mapping[str, str] | None = None
    ) -> h11.Request:
        host = "localhost" if self.tcp is None else _host_port(*self.tcp)
        headers = [
            ("host", host),
            ("user-agent", "corral-client"),
            ("accept", "application/json"),
            ("content-length", str(len(payload))),
        ]
        if payload:
            headers.append(("content-type", "application/json"))
        if self._token:
            headers.append(("authorization", f"Bearer {self._token}"))
        headers.extend((extra or {}).items())
        return h11.Request(method=method.upper(), target=target, headers=headers)


class ResponseStream(Iterator[bytes]):
    """The body of a streaming reply, as pieces of bytes in arrival order.

    Ends when the daemon ends the body; raises DaemonUnavailable if the connection
    breaks first. `close()` (or leaving a `with` block) hangs up, which stops the
    daemon's producer.
    """

    def __init__(self, wire: _Wire, address: str) -> None:
        self._wire: _Wire | None = wire
        self._address = address

    def __repr__(self) -> str:
        return f"<ResponseStream {self._address} open={self.open}>"

    @property
    def open(self) -> bool:
        """Whether the connection is still open."""
        return self._wire is not None

    def settimeout(self, seconds: float | None) -> None:
        """Bound each wait for bytes: `next()` then raises TimeoutError; the stream stays open."""
        if self._wire is not None:
            self._wire.sock.settimeout(seconds)

    def __next__(self) -> bytes:
        if self._wire is None:
            raise StopIteration
        try:
            event = self._wire.next_event()
        except TimeoutError:
            raise  # nothing was read: the stream may go on
        except _Failure as exc:
            self.close()
            reason = f"the stream broke off ({exc})"
            raise DaemonUnavailable(self._address, reason=reason, hint=_BROKEN_HINT) from exc
        if isinstance(event, h11.Data):
            return bytes(event.data)
        self.close()
        raise StopIteration

    def __enter__(self) -> ResponseStream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Hang up; the daemon notices and stops producing."""
        if self._wire is not None:
            self._wire.close()
            self._wire = None


class EventFeed(Iterator[EventJSON]):
    """The daemon's events as its event stream delivers them; resumes after a cut-off.

    Yields each event and each stream notice (`gap`, `overflow`, `reset`: seq None) in
    order. After an `overflow` the daemon ends the stream; the feed reconnects with
    `Last-Event-ID` and goes on, so the reader sees every event or a `gap` saying which
    it lost. Ends when the daemon ends the stream; raises DaemonUnavailable if it breaks.
    """

    def __init__(self, client: Client, since: int | None, *, metrics: bool = False) -> None:
        self._client = client
        self._metrics = metrics
        self.last_seq = since
        """The seq of the newest event received (resume point); None before the first."""
        self._pending: deque[EventJSON] = deque()
        self._resume = False
        self._stream: ResponseStream | None = None
        self._decoder: MessageDecoder | None = None
        self._open()

    def __repr__(self) -> str:
        return f"<EventFeed {self._client.address} last_seq={self.last_seq} open={self.open}>"

    @property
    def open(self) -> bool:
        """Whether the stream is still connected."""
        return self._stream is not None and self._stream.open

    def __next__(self) -> EventJSON:
        return self.next(None)

    def next(self, timeout: float | None) -> EventJSON:
        """The next event or notice; TimeoutError if none comes within `timeout` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._pending:
            if self._stream is None:
                raise StopIteration
            if deadline is not None:
                if (remaining := deadline - time.monotonic()) <= 0:
                    raise TimeoutError(f"no event within {timeout:g} s")
                self._stream.settimeout(remaining)
            try:
                chunk = next(self._stream)
            except StopIteration:
                self._ended()
                continue
            assert self._decoder is not None  # set with the stream
            for message in self._decoder.feed(chunk):
                self._pending.append(self._received(message))
        return self._pending.popleft()

    def close(self) -> None:
        """Hang up; the daemon unsubscribes this reader."""
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    def __enter__(self) -> EventFeed:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _open(self) -> None:
        from corral._control.sse import MessageDecoder  # only readers of events need it

        headers = {} if self.last_seq is None else {"last-event-id": str(self.last_seq)}
        query = {"follow": "1", "metrics": "1"} if self._metrics else {"follow": "1"}
        self._stream = self._client.stream("GET", f"{API_PREFIX}/events", query, headers)
        self._decoder = MessageDecoder()
        self._resume = False

    def _ended(self) -> None:
        """The daemon ended the body: reconnect after an overflow, else the feed is over."""
        self.close()
        if self._resume:
            self._open()

    def _received(self, message: Message) -> EventJSON:
        try:
            event = cast(EventJSON, json.loads(message.data))
        except ValueError:
            reason = f"the event stream sent data that is not JSON: {message.data[:80]!r}"
            raise DaemonUnavailable(self._client.address, reason=reason) from None
        if message.id is not None and message.id.isdigit():
            self.last_seq = int(message.id)
        if event["kind"] == "overflow":
            self.last_seq = cast(int, event["data"]["first"]) - 1
            self._resume = True
        return event


class _Wire:
    """One HTTP/1.1 connection: a blocking socket and h11's client state machine."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.conn = h11.Connection(h11.CLIENT)
        self.received = 0
        """Reply bytes received in the current cycle: 0 means the request may be resent."""

    def reusable(self) -> bool:
        """Whether another request may follow; if so, the state machine is reset for it."""
        if self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE:
            self.conn.start_next_cycle()
            self.received = 0
            return True
        return False

    def send_request(self, event: h11.Request, payload: bytes) -> None:
        data = self.conn.send(event) + (self.conn.send(h11.Data(data=payload)) if payload else b"")
        # The daemon may have answered early (401, 413) and hung up: then read that answer.
        with suppress(BrokenPipeError, ConnectionResetError):
            self.sock.sendall(data + self.conn.send(h11.EndOfMessage()))

    def read_head(self) -> h11.Response:
        while not isinstance(event := self.next_event(), h11.Response):
            pass  # skip 1xx informational replies
        return event

    def read_body(self) -> bytes:
        chunks: list[bytes] = []
        while isinstance(event := self.next_event(), h11.Data):
            chunks.append(bytes(event.data))
        return b"".join(chunks)

    def next_event(self) -> h11.Event:
        while True:
            event = self.conn.next_event()
            if event is h11.PAUSED:
                raise h11.LocalProtocolError("read out of turn")  # a bug of ours, not the peer's
            if event is not h11.NEED_DATA:
                return event  # type: ignore[return-value]
            data = self.sock.recv(_READ_SIZE)
            self.received += len(data)
            self.conn.receive_data(data)

    def close(self) -> None:
        self.sock.close()


def _connect_unix(path: str, timeout: float | None) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(path)
    except BaseException:
        sock.close()
        raise
    return sock


def _client_context(ca_file: str) -> ssl.SSLContext:
    """A TLS 1.2+ client context that trusts `ca_file` only, and checks the host name."""
    import ssl

    try:
        context = ssl.create_default_context(cafile=ca_file)
    except ssl.SSLError as exc:  # an OSError too: tested first
        raise InvalidSpec(f"cannot use the CA file {ca_file}: {exc.reason or exc}") from None
    except OSError as exc:
        raise InvalidSpec(f"cannot use the CA file {ca_file}: {exc.strerror or exc}") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _tls_failure(exc: BaseException) -> str | None:
    """The reason of a failed TLS handshake or session, None if `exc` is not one."""
    import ssl

    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"its TLS certificate is not trusted ({exc.verify_message})"
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed ({exc.reason or exc})"
    return None


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _target(path: str, query: Mapping[str, str] | None) -> str:
    if not path.startswith("/"):
        raise InvalidSpec(f"API path {path!r} must start with '/'")
    path = quote(path, safe="/%:@!$&'()*+,;=")  # keeps escapes already there
    return f"{path}?{urlencode(query)}" if query else path


def _api_error(status: int, body: bytes) -> ApiError:
    """The daemon's `{"error": {"message": ...}}`, or the raw body if it is not that."""
    try:
        message = json.loads(body)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = None
    if not isinstance(message, str):
        message = body.decode("utf-8", "replace").strip() or f"HTTP {status}"
    return ApiError(status, message)
