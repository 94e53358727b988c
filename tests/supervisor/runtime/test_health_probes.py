"""Each probe kind against real sockets and commands, without a daemon: what passes, what
fails and what the result says."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

from corral._lifecycle.health import HttpTarget, TcpTarget, parse_probe_address
from corral._process.reaper import OwningReaper
from corral._process.spec import ProcessSpec
from corral._supervisor.runtime.health import probe_exec, probe_http, probe_tcp
from tests.support.waiting import DEADLINE

T = TypeVar("T")
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def http(port: int, path: str = "/") -> HttpTarget:
    target = parse_probe_address("http", f"http://127.0.0.1:{port}{path}")
    assert isinstance(target, HttpTarget)
    return target


def serving(handler: Handler, probe: Callable[[int], Awaitable[T]]) -> T:
    """Run `probe(port)` against a loopback server answering with `handler`; every
    connection's handler has ended (its socket closed) when it returns."""

    async def main() -> T:
        handlers: list[asyncio.Task[None]] = []

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            handlers.append(asyncio.current_task())  # type: ignore[arg-type]
            try:
                await handler(reader, writer)
            except (ConnectionError, asyncio.IncompleteReadError):
                pass
            finally:
                writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            outcome = await probe(port)
            await asyncio.wait_for(asyncio.gather(*handlers), DEADLINE)
            return outcome

    return asyncio.run(main())


def answering(raw: bytes) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(raw)
        await writer.drain()

    return handler


async def never_answering(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read()  # until the prober hangs up


def test_an_http_answer_in_the_range_passes_and_the_request_is_a_plain_get() -> None:
    seen: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")

    outcome = serving(handler, lambda port: probe_http(http(port, "/up?x=1"), 2, (200, 399), None))
    assert outcome == (True, "HTTP 204")
    request = seen[0].decode()
    assert request.startswith("GET /up?x=1 HTTP/1.1\r\nHost: 127.0.0.1:")
    assert "Connection: close\r\n" in request


def test_a_body_without_content_length_is_read_to_the_close_for_a_match() -> None:
    raw = b"HTTP/1.0 200 OK\r\n\r\nall good"
    outcome = serving(answering(raw), lambda p: probe_http(http(p), 2, (200, 399), "good"))
    assert outcome == (True, "HTTP 200: all good")


@pytest.mark.parametrize(
    ("raw", "said"),
    [
        (b"SSH-2.0-OpenSSH\r\n\r\n", "not an HTTP answer: 'SSH-2.0-OpenSSH'"),
        (b"HTTP/1.1 200", "the connection closed before the answer's headers ended"),
        (b"HTTP/1.1 302 Found\r\nContent-Length: 0\r\n\r\n", "HTTP 302, not 200-299"),
    ],
)
def test_a_malformed_or_wrong_answer_fails_and_says_why(raw: bytes, said: str) -> None:
    outcome = serving(answering(raw), lambda port: probe_http(http(port), 2, (200, 299), None))
    assert outcome == (False, said)


def test_an_http_server_that_never_answers_fails_at_the_timeout() -> None:
    async def probe(port: int) -> tuple[tuple[bool, str], float]:
        started = time.monotonic()
        outcome = await probe_http(http(port), 0.2, (200, 399), None)
        return outcome, time.monotonic() - started

    outcome, took = serving(never_answering, probe)
    assert outcome == (False, "no answer within 0.2 s")
    assert 0.2 <= took < 1.0


def test_tcp_passes_when_accepted_and_fails_when_refused() -> None:
    async def probe(port: int) -> tuple[tuple[bool, str], tuple[bool, str]]:
        up = await probe_tcp(TcpTarget("127.0.0.1", port), 2)
        with socket.socket() as closed:  # bound, never listening: refused
            closed.bind(("127.0.0.1", 0))
            down = await probe_tcp(TcpTarget("127.0.0.1", closed.getsockname()[1]), 2)
        return up, down

    up, down = serving(never_answering, probe)
    assert up[0] is True
    assert up[1].startswith("connected to 127.0.0.1:")
    assert down == (False, "connection refused")


def test_tcp_resolves_a_host_name() -> None:
    async def probe(port: int) -> tuple[bool, str]:
        return await probe_tcp(TcpTarget("localhost", port), 2)

    assert serving(never_answering, probe)[0] is True


def _exec(argv: tuple[str, ...], timeout: float) -> tuple[tuple[bool, str], float]:
    async def main() -> tuple[tuple[bool, str], float]:
        reaper = OwningReaper()
        reaper.install(asyncio.get_running_loop())
        try:
            started = time.monotonic()
            outcome = await probe_exec(ProcessSpec(argv=argv, stdin="devnull"), timeout, reaper)
            return outcome, time.monotonic() - started
        finally:
            reaper.uninstall()

    return asyncio.run(main())


def test_an_exec_probe_passes_on_exit_0_and_fails_on_another_with_its_output() -> None:
    assert _exec(("sh", "-c", "echo fine"), 5)[0] == (True, "fine")
    assert _exec(("sh", "-c", "echo broken >&2; exit 3"), 5)[0] == (False, "exit 3: broken")
    assert _exec(("/nonexistent/probe",), 5)[0][0] is False


def test_an_exec_probe_past_its_timeout_is_killed_and_fails() -> None:
    outcome, took = _exec(("sleep", "30"), 0.3)
    assert outcome == (False, "still running after 0.3 s: killed")
    assert took < 5
