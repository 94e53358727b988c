"""The values a route sees and returns: Request (and its Peer), Response, StreamingResponse,
HttpError.

Plain frozen records with no I/O, so routes (api.py) and tests build and inspect them
without a server. `Handler` is the one signature every route has.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

MAX_DIGITS = 64
"""Digits a number given in a query or header may have (Python parses at most 4,300)."""

Headers = tuple[tuple[str, str], ...]
StreamBody = AsyncIterator[bytes]
"""The body of a streaming response: each item is sent as one chunk as soon as it comes."""


@dataclass(frozen=True, slots=True)
class Peer:
    """Who sent a request: the kernel's word on a unix socket; address and token on TCP."""

    transport: str
    """"unix" or "tcp"."""
    uid: int | None = None
    """The client process's user (SO_PEERCRED, unix socket only)."""
    pid: int | None = None
    """The client process (SO_PEERCRED, unix socket only)."""
    address: str | None = None
    """The client's "host:port" (TCP only)."""
    token: str | None = None
    """The name of the bearer token the request carried (TCP only; None if it carried none
    that the listener accepts)."""
    session: str | None = None
    """The web dashboard's session the request came with ("web-N"; `token` names the token
    it logged in with), None for a request that carried the token itself."""

    def to_json(self) -> dict[str, object]:
        """The fields that are known, as a JSON object."""
        fields = {"transport": self.transport, "uid": self.uid, "pid": self.pid}
        fields |= {"address": self.address, "token": self.token, "session": self.session}
        return {name: value for name, value in fields.items() if value is not None}


UNIX_PEER = Peer("unix")
"""A unix-socket peer whose credentials are not known (the default of a built Request)."""


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
    peer: Peer = UNIX_PEER
    """Who sent it (the audit log records this)."""

    def json(self) -> object:
        """The body decoded as JSON; a missing or invalid body is the client's error (400)."""
        if not self.body:
            raise HttpError(400, "the request has no body; expected JSON")
        try:
            return json.loads(self.body)
        except ValueError as exc:
            if str(exc).startswith("Exceeds the limit"):  # int(): sys.get_int_max_str_digits()
                message = "the request body has a number of more than 4300 digits"
                raise HttpError(400, message) from None
            raise HttpError(400, f"the request body is not valid JSON: {exc}") from None
        except RecursionError:  # [[[[... nested past the parser's stack: ours to refuse
            raise HttpError(400, "the request body is JSON nested too deeply") from None


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
ROWS_PER_PIECE = 32
"""Items of a reply's list encoded by one call of the C encoder (see `compact_json`)."""


def compact_json(data: object, default: Default | None = None) -> bytes:
    """`data` as `json.dumps(data, ensure_ascii=False, separators=(",", ":"),
    default=default)` makes it, in UTF-8, built in pieces: a top-level object's long
    lists ROWS_PER_PIECE items a call.

    CPython 3.11's C encoder keeps each token of a document as a string of its own until
    it joins them at the end: the 64 KB reply of 450 events held 580 KB at its peak, the
    status of 200 instances 675 KB, and memory a daemon touched once stays in its RSS.
    The pieces are encoded to bytes as they come and joined once, so the whole text
    exists once as bytes and never as a `str`. With a `default` (which turns an object
    the encoder does not know into one it does, as json's own hook), the rows of a slice
    are made as the slice is encoded. The bytes are the same.
    """
    encoder = _ENCODER if default is None else _encoder(default)
    return b"".join(_pieces(data, encoder))


Default = Callable[[Any], object]
"""json's `default` hook: an object the encoder does not know -> one it does."""


def _encoder(default: Default) -> json.JSONEncoder:
    return json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=default)


def _pieces(data: object, encoder: json.JSONEncoder) -> Iterator[bytes]:
    if not isinstance(data, dict) or not all(type(key) is str for key in data):
        yield encoder.encode(data).encode()
        return
    separator = "{"
    for key, value in data.items():
        yield f"{separator}{encoder.encode(key)}:".encode()
        separator = ","
        if not isinstance(value, list | tuple) or len(value) <= ROWS_PER_PIECE:
            yield encoder.encode(value).encode()
            continue
        for start in range(0, len(value), ROWS_PER_PIECE):
            rows = encoder.encode(value[start : start + ROWS_PER_PIECE])  # "[a,b,...]"
            yield ("[" if start == 0 else ",").encode() + rows[1:-1].encode()
        yield b"]"
    yield b"}" if separator == "," else b"{}"


@dataclass(frozen=True, slots=True)
class Response:
    """A whole response, sent with Content-Length."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: Headers = ()

    @classmethod
    def json(cls, data: object, status: int = 200, *, default: Default | None = None) -> Response:
        """A JSON response (UTF-8) holding `data`: compact, as `compact_json` makes it."""
        return cls(status, compact_json(data, default))


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
    finish: Callable[[], None] | None = None
    """Called when the server closes: the body then ends by itself once it has sent what
    it holds, and the client sees a complete reply (the event stream's last events).
    Without it the server ends the stream at once."""


Handler = Callable[[Request], Awaitable[Response | StreamingResponse]]
Observer = Callable[[Request, Response | StreamingResponse], None]
"""Told of each reply the server sends, a refusal before routing (401, 413) included; the
audit log is one. Called on the loop: it must not block."""


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
