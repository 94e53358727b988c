"""Chunked streaming replies (`logs -f`, events): incremental delivery, and hang-up stops them."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator

import pytest

from corral._control.client import Client
from corral._errors import ApiError, DaemonUnavailable
from tests.control.http.harness import ServerHarness, stream_route
from tests.support.waiting import DEADLINE


def _read(stream: Iterator[bytes], size: int) -> bytes:
    """At least `size` bytes from the stream (a chunk may arrive in pieces)."""
    data = b""
    while len(data) < size:
        data += next(stream)
    return data


class Producer:
    """A streaming body that records what it produced and when it was closed."""

    def __init__(self) -> None:
        self.produced: list[bytes] = []
        self.release = asyncio.Event()
        self.closed = threading.Event()

    async def body(self, *, forever: bool = False) -> AsyncIterator[bytes]:
        try:
            for chunk, wait in ((b"one\n", True), (b"two\n", forever)):
                self.produced.append(chunk)
                yield chunk
                if wait:
                    await self.release.wait()
            if forever:
                await asyncio.Event().wait()
        finally:
            self.closed.set()


def test_each_chunk_arrives_before_the_next_is_produced(
    harness: ServerHarness, sock_path: str
) -> None:
    producer = Producer()
    harness.serve_unix(stream_route(producer.body()), sock_path)
    with Client(sock_path) as client, client.stream("GET", "/v1/follow") as stream:
        assert _read(stream, 4) == b"one\n"
        assert producer.produced == [b"one\n"]  # chunk two does not exist yet
        harness.set(producer.release)
        assert b"".join(stream) == b"two\n"  # then the body ends
        assert not stream.open
    assert producer.closed.wait(DEADLINE)


def test_client_hang_up_stops_the_producer(harness: ServerHarness, sock_path: str) -> None:
    producer = Producer()
    harness.serve_unix(stream_route(producer.body(forever=True)), sock_path)
    with Client(sock_path) as client:
        stream = client.stream("GET", "/v1/follow")
        assert _read(stream, 4) == b"one\n"
        stream.close()
        assert producer.closed.wait(DEADLINE), "the producer was not closed after the hang-up"
        assert producer.produced == [b"one\n"]
        assert client.request("GET", "/v1/hello") == {"hello": "world"}


def test_closing_the_client_closes_its_streams(harness: ServerHarness, sock_path: str) -> None:
    producer = Producer()
    harness.serve_unix(stream_route(producer.body(forever=True)), sock_path)
    with Client(sock_path) as client:
        stream = client.stream("GET", "/v1/follow")
        assert _read(stream, 4) == b"one\n"
        assert repr(client) == f"<Client {sock_path} kept=False streams=1>"
    assert not stream.open
    assert producer.closed.wait(DEADLINE)


def test_server_close_ends_the_stream_and_the_producer(
    harness: ServerHarness, sock_path: str
) -> None:
    producer = Producer()
    server = harness.serve_unix(stream_route(producer.body(forever=True)), sock_path)
    with Client(sock_path) as client, client.stream("GET", "/v1/follow") as stream:
        assert _read(stream, 4) == b"one\n"
        harness.run(server.close())
        assert producer.closed.is_set()
        with pytest.raises(DaemonUnavailable, match="the stream broke off"):
            _read(stream, 1)


def test_an_error_status_is_raised_before_iterating(harness: ServerHarness, sock_path: str) -> None:
    producer = Producer()
    harness.serve_unix(stream_route(producer.body()), sock_path)
    with Client(sock_path) as client, pytest.raises(ApiError) as caught:
        client.stream("GET", "/v1/nothing")
    assert caught.value.status == 404
    assert repr(client) == f"<Client {sock_path} kept=False streams=0>"


def test_a_producer_that_fails_breaks_the_stream_and_is_logged(
    harness: ServerHarness, sock_path: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def failing() -> AsyncIterator[bytes]:
        yield b"one\n"
        raise RuntimeError("disk gone")

    harness.serve_unix(stream_route(failing()), sock_path)
    with Client(sock_path) as client, client.stream("GET", "/v1/follow") as stream:
        with pytest.raises(DaemonUnavailable, match="the stream broke off"):
            _read(stream, 5)
        assert client.request("GET", "/v1/hello") == {"hello": "world"}
    [record] = [r for r in caplog.records if r.name == "corral.control.http"]
    assert record.getMessage() == "streaming response failed"
    assert record.exc_info is not None
    assert record.exc_info[0] is RuntimeError
