"""A small HTTP/1.1 JSON server: unix socket (mode 0600) and opt-in TCP with a bearer token.

h11 frames HTTP, asyncio streams carry the bytes (docs/decisions/0002-http-stack.md). A
connection serves requests in turn (keep-alive); a malformed, oversized or unauthenticated
one is answered and closed. A route raising `HttpError` gets its status; any other
exception is logged and becomes a 500 naming its type, and the server keeps serving.

The pieces: `messages` (what a route sees and returns), `router` (method + pattern ->
handler), `connection` (h11 over one client's streams), `server` (the listeners).
"""

from __future__ import annotations

from corral._control.server.http.admission import Limits
from corral._control.server.http.messages import (
    MAX_DIGITS,
    Handler,
    Headers,
    HttpError,
    Request,
    Response,
    StreamBody,
    StreamingResponse,
)
from corral._control.server.http.router import Router
from corral._control.server.http.server import HttpServer

__all__ = [
    "MAX_DIGITS",
    "Handler",
    "Headers",
    "HttpError",
    "HttpServer",
    "Limits",
    "Request",
    "Response",
    "Router",
    "StreamBody",
    "StreamingResponse",
]
