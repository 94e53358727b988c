"""Webhook deliveries to real HTTP servers on 127.0.0.1: delivered, refused, hung, failing.

Each server is an asyncio server in the test's own loop; the client is the daemon's.
A ticker task runs beside each delivery and counts its turns: a delivery that blocked
the loop would starve it.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest

from corral._observe.alerts.webhook import Webhooks


@asynccontextmanager
async def server(
    answer: Callable[[bytes], bytes | None],
) -> AsyncIterator[tuple[str, list[bytes]]]:
    """An HTTP server answering each request with `answer(request)` (None: never answer)."""
    received: list[bytes] = []
    handlers: set[asyncio.Task[object]] = set()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handlers.add(asyncio.current_task())  # type: ignore[arg-type]
        try:
            await answer_one(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client gave up (its timeout): what a hung server sees
        finally:
            writer.close()

    async def answer_one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(next(
            line.split(b":")[1] for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        ))  # fmt: skip
        request = head + await reader.readexactly(length)
        received.append(request)
        reply = answer(request)
        if reply is None:
            await asyncio.sleep(3600)  # hangs: the client's timeout must end it
        writer.write(reply or b"")
        await writer.drain()

    listening = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/hook?token=secret", received
    finally:
        listening.close()
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)


def status(code: int) -> Callable[[bytes], bytes]:
    return lambda _: f"HTTP/1.1 {code} X\r\nContent-Length: 0\r\n\r\n".encode()


async def until(condition: Callable[[], bool], seconds: float = 10.0) -> int:
    """Wait for `condition`, counting loop turns meanwhile; returns the turns."""
    turns = 0
    async with asyncio.timeout(seconds):
        while not condition():
            await asyncio.sleep(0.001)
            turns += 1
    return turns


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_payload_is_posted_as_json() -> None:
    async def main() -> None:
        hooks = Webhooks()
        async with server(status(204)) as (url, received):
            assert hooks.send(url, {"alert": "big", "status": "firing"})
            await until(lambda: hooks.stats.delivered == 1)
        head, _, body = received[0].partition(b"\r\n\r\n")
        assert head.startswith(b"POST /hook?token=secret HTTP/1.1")
        assert b"content-type: application/json" in head.lower()
        assert json.loads(body) == {"alert": "big", "status": "firing"}
        assert (hooks.stats.failed, hooks.stats.retried) == (0, 0)

    asyncio.run(main())


def test_a_refused_webhook_is_retried_then_counted_failed() -> None:
    async def main() -> None:
        failures: list[tuple[str, str]] = []
        hooks = Webhooks(
            attempts=3, first_retry=0.01, on_failure=lambda u, r: failures.append((u, r))
        )
        url = f"http://127.0.0.1:{closed_port()}/hook?token=secret"
        hooks.send(url, {"n": 1})
        await until(lambda: hooks.stats.failed == 1)
        assert (hooks.stats.retried, hooks.stats.delivered) == (2, 0)
        [(shown, reason)] = failures
        assert "secret" not in shown
        assert reason == "Connection refused (attempt 3 of 3)"

    asyncio.run(main())


def test_a_hanging_webhook_is_bounded_by_its_timeout_and_never_blocks_the_loop() -> None:
    async def main() -> None:
        hooks = Webhooks(timeout=0.2, attempts=2, first_retry=0.01)
        async with server(lambda _: None) as (url, received):
            began = asyncio.get_running_loop().time()
            hooks.send(url, {"n": 1})
            turns = await until(lambda: hooks.stats.failed == 1)
            took = asyncio.get_running_loop().time() - began
        assert len(received) == 2  # both attempts reached the server
        assert 0.4 <= took < 5
        assert turns > 20  # the loop kept turning while the server hung
        assert hooks.stats.last_error[url.partition("?")[0]].startswith("no answer within 0.2 s")

    asyncio.run(main())


def test_a_server_error_is_retried_and_a_client_error_is_not() -> None:
    async def main() -> None:
        hooks = Webhooks(first_retry=0.01)
        async with server(status(503)) as (url, received):
            hooks.send(url, {})
            await until(lambda: hooks.stats.failed == 1)
            assert len(received) == 3
        async with server(status(404)) as (url, received):
            hooks.send(url, {})
            await until(lambda: hooks.stats.failed == 2)
            assert len(received) == 1

    asyncio.run(main())


def test_deliveries_beyond_the_bound_are_dropped_and_counted() -> None:
    async def main() -> None:
        hooks = Webhooks(timeout=0.5, attempts=1)
        async with server(lambda _: None) as (url, _):
            sent = [hooks.send(url, {"n": n}) for n in range(70)]
            assert sent.count(False) == 6
            assert hooks.stats.dropped == 6
            await hooks.close()
        assert hooks.pending == 0

    asyncio.run(main())


def test_https_without_ssl_fails_at_once_saying_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ssl", None)  # what ssl_gate does to a daemon without TLS

    async def main() -> None:
        hooks = Webhooks(first_retry=0.01)
        hooks.send("https://127.0.0.1:9/hook", {})
        await until(lambda: hooks.stats.failed == 1)
        assert hooks.stats.retried == 0
        [reason] = hooks.stats.last_error.values()
        assert reason.startswith("https needs a daemon started with an https webhook")

    asyncio.run(main())
