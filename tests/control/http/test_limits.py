"""What one client may cost the server: connection caps, time bounds, and the loop between requests.

Real servers on unix sockets (and TCP for per-address caps), real client sockets. Times are
set near zero and the tests assert on what happens (a 503, a close), never on durations.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import socket
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from corral._control.server.http import HttpServer, Limits, Request, Response, Router
from tests.control.http.harness import ServerHarness, demo_router, statuses
from tests.support.waiting import DEADLINE, wait_until

HELLO = b"GET /v1/hello HTTP/1.1\r\nHost: x\r\n\r\n"
TOKEN = "a-token-of-sixteen-bytes-or-more"


def _connect(path: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(DEADLINE)
    sock.connect(path)
    return sock


def _reply(sock: socket.socket) -> bytes:
    """One whole response (head and Content-Length body), read without waiting for a close."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed after {data!r}"
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    length = int(re.search(rb"content-length: (\d+)", head, re.IGNORECASE)[1])  # type: ignore[index]
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def _admitted(path: str) -> socket.socket:
    """A connection the server has admitted: it answered one request and stays open."""
    sock = _connect(path)
    sock.sendall(HELLO)
    assert statuses(_reply(sock)) == [200]
    return sock


def _refusal(sock: socket.socket) -> str:
    reply = _reply(sock)
    assert statuses(reply) == [503], reply
    assert sock.recv(1) == b"", "a refused connection is closed"
    message = json.loads(reply.split(b"\r\n\r\n", 1)[1])["error"]["message"]
    assert isinstance(message, str)
    return message


@contextmanager
def _held(count: int, path: str) -> Iterator[list[socket.socket]]:
    with ExitStack() as stack:
        yield [stack.enter_context(_admitted(path)) for _ in range(count)]


def test_past_the_total_cap_a_connection_gets_a_503_and_is_closed(
    harness: ServerHarness, sock_path: str
) -> None:
    limits = Limits(max_connections=4, max_per_peer=100)
    server = harness.serve_unix(demo_router(), sock_path, limits=limits)
    with _held(4, sock_path) as held:
        with _connect(sock_path) as extra:
            assert _refusal(extra) == "too many connections: the daemon serves at most 4"
        held.pop().close()

        def admitted_again() -> bool:
            with _connect(sock_path) as sock:
                sock.sendall(HELLO)
                return statuses(_reply(sock)) == [200]

        wait_until(admitted_again, what="a connection admitted once one was closed")
    assert server.admission.refused >= 1
    assert f"refused={server.admission.refused}" in repr(server)


def test_one_uid_on_the_unix_socket_has_its_own_cap(harness: ServerHarness, sock_path: str) -> None:
    harness.serve_unix(demo_router(), sock_path, limits=Limits(max_per_peer=3))
    with _held(3, sock_path), _connect(sock_path) as extra:
        message = _refusal(extra)
    assert message == f"too many connections from uid {_uid()}: at most 3 per peer"


def test_one_address_on_tcp_has_its_own_cap(harness: ServerHarness) -> None:
    server = HttpServer(demo_router(), limits=Limits(max_per_peer=2))
    harness.servers.append(server)
    port = harness.run(server.listen_tcp("127.0.0.1", 0, {"ops": TOKEN}))
    request = f"GET /v1/hello HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"

    def from_address(source: str) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", port), DEADLINE, (source, 0))
        return sock

    with ExitStack() as stack:
        for _ in range(2):
            sock = stack.enter_context(from_address("127.0.0.1"))
            sock.sendall(request.encode())
            assert statuses(_reply(sock)) == [200]
        third = stack.enter_context(from_address("127.0.0.1"))
        assert _refusal(third) == "too many connections from 127.0.0.1: at most 2 per peer"
        other = stack.enter_context(from_address("127.0.0.2"))  # another peer: its own count
        other.sendall(request.encode())
        assert statuses(_reply(other)) == [200]


def test_a_request_head_that_never_completes_is_closed(
    harness: ServerHarness, sock_path: str
) -> None:
    harness.serve_unix(demo_router(), sock_path, limits=Limits(header_timeout=0.05))
    with _connect(sock_path) as silent, _connect(sock_path) as partial:
        partial.sendall(b"GET /v1/hello HTTP/1.1\r\nHo")
        assert silent.recv(1) == b""  # closed without a reply
        assert partial.recv(1) == b""


def test_an_idle_keep_alive_connection_is_closed(harness: ServerHarness, sock_path: str) -> None:
    harness.serve_unix(demo_router(), sock_path, limits=Limits(idle_timeout=0.05))
    with _admitted(sock_path) as sock:
        assert sock.recv(1) == b""


def test_a_pipelining_client_yields_the_loop_between_requests(
    harness: ServerHarness, sock_path: str
) -> None:
    """Each request sees the loop turn since the one before: a ticker task ran between them."""
    ticks = 0
    seen: list[int] = []

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0)
            ticks += 1

    async def count(request: Request) -> Response:
        seen.append(ticks)
        return Response.json({})

    router = Router()
    router.add("GET", "/v1/count", count)
    harness.serve_unix(router, sock_path)

    async def start_ticker() -> asyncio.Task[None]:
        return asyncio.get_running_loop().create_task(tick())

    ticker = harness.run(start_ticker())
    try:
        requests = b"GET /v1/count HTTP/1.1\r\nHost: x\r\n\r\n" * 200
        close = b"GET /v1/count HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        with _connect(sock_path) as sock:
            sock.sendall(requests + close)
            while sock.recv(65536):
                pass
    finally:
        harness.loop.call_soon_threadsafe(ticker.cancel)
    assert len(seen) == 201
    assert all(later > earlier for earlier, later in itertools.pairwise(seen))


def _uid() -> int:
    return os.getuid()
