"""Requests through the real client and server on a unix socket: routes, errors, keep-alive."""

from __future__ import annotations

import asyncio
import logging

import pytest

from corral._control.client import Client
from corral._control.server.http import HttpError, Request, Response, Router
from corral._errors import ApiError, DaemonUnavailable, InvalidSpec
from tests.control.http.harness import (
    ServerHarness,
    demo_router,
    error_message,
    raw_exchange,
    statuses,
)
from tests.support.waiting import wait_until


def test_json_round_trip_with_query(harness: ServerHarness, sock_path: str) -> None:
    harness.serve_unix(demo_router(), sock_path)
    body = {"text": "grüße ☃", "n": [1, 2.5, None, True]}
    with Client(sock_path) as client:
        reply = client.request("POST", "/v1/echo", body, query={"a": "1", "b": "x y&z"})
    assert reply == {"got": body, "query": {"a": "1", "b": "x y&z"}}


def test_route_params_are_decoded_and_literals_win(harness: ServerHarness, sock_path: str) -> None:
    harness.serve_unix(demo_router(), sock_path)
    with Client(sock_path) as client:
        assert client.request("GET", "/v1/items/web:0") == {"method": "GET", "name": "web:0"}
        assert client.request("DELETE", "/v1/items/a%2Fb") == {"method": "DELETE", "name": "a/b"}
        assert client.request("GET", "/v1/items/all") == {"all": True}
        reply = client.request("GET", "/v1/items/my prog ☃?")
        assert reply == {"method": "GET", "name": "my prog ☃?"}


def test_unknown_path_is_404_and_wrong_method_is_405(
    harness: ServerHarness, sock_path: str
) -> None:
    harness.serve_unix(demo_router(), sock_path)
    with Client(sock_path) as client:
        with pytest.raises(ApiError) as missing:
            client.request("GET", "/v1/nothing/here")
        with pytest.raises(ApiError) as wrong:
            client.request("PUT", "/v1/items/web")
    assert (missing.value.status, missing.value.message) == (404, "no route for /v1/nothing/here")
    assert wrong.value.status == 405
    assert wrong.value.message == "PUT is not allowed on /v1/items/web (allowed: DELETE, GET)"
    assert str(wrong.value).endswith("(HTTP 405)")


def test_405_carries_an_allow_header(harness: ServerHarness, sock_path: str) -> None:
    harness.serve_unix(demo_router(), sock_path)
    request = b"PUT /v1/hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    reply = raw_exchange(sock_path, request)
    assert statuses(reply) == [405]
    assert b"\r\nallow: GET\r\n" in reply


def test_a_route_chooses_its_status_with_http_error(harness: ServerHarness, sock_path: str) -> None:
    harness.serve_unix(demo_router(), sock_path)
    with Client(sock_path) as client, pytest.raises(ApiError) as caught:
        client.request("GET", "/v1/teapot")
    assert (caught.value.status, caught.value.message) == (418, "short and stout")


def test_bad_json_body_is_400(harness: ServerHarness, sock_path: str) -> None:
    harness.serve_unix(demo_router(), sock_path)
    request = b"POST /v1/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\nConnection: close\r\n\r\n"
    reply = raw_exchange(sock_path, request + b"{not json")
    assert statuses(reply) == [400]
    assert error_message(reply).startswith("the request body is not valid JSON: ")


def test_missing_json_body_is_400(harness: ServerHarness, sock_path: str) -> None:
    harness.serve_unix(demo_router(), sock_path)
    with Client(sock_path) as client, pytest.raises(ApiError) as caught:
        client.request("POST", "/v1/echo")
    assert (caught.value.status, caught.value.message) == (
        400,
        "the request has no body; expected JSON",
    )


def test_body_over_max_body_is_413_and_the_server_goes_on(
    harness: ServerHarness, sock_path: str
) -> None:
    harness.serve_unix(demo_router(), sock_path, max_body=1024)
    with Client(sock_path) as client:
        assert client.request("POST", "/v1/echo", "x" * 1000) == {"got": "x" * 1000, "query": {}}
        with pytest.raises(ApiError) as caught:
            client.request("POST", "/v1/echo", "x" * 5000)
        assert client.request("GET", "/v1/hello") == {"hello": "world"}
    assert (caught.value.status, caught.value.message) == (
        413,
        "the body is larger than 1024 bytes",
    )


def test_chunked_body_over_max_body_is_413(harness: ServerHarness, sock_path: str) -> None:
    harness.serve_unix(demo_router(), sock_path, max_body=16)
    head = b"POST /v1/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    reply = raw_exchange(sock_path, head + b"10\r\n" + b"1" * 16 + b"\r\n1\r\n2\r\n0\r\n\r\n")
    assert statuses(reply) == [413]


def test_handler_crash_is_500_and_the_server_keeps_serving(
    harness: ServerHarness, sock_path: str, caplog: pytest.LogCaptureFixture
) -> None:
    harness.serve_unix(demo_router(), sock_path)
    with Client(sock_path) as client:
        with pytest.raises(ApiError) as caught:
            client.request("GET", "/v1/boom")
        assert client.request("GET", "/v1/hello") == {"hello": "world"}
    assert (caught.value.status, caught.value.message) == (500, "internal error: ValueError: boom")
    [record] = [r for r in caplog.records if r.name == "corral.control.http"]
    assert record.levelno == logging.ERROR
    assert record.getMessage() == "GET /v1/boom failed"
    assert record.exc_info is not None
    assert record.exc_info[0] is ValueError


def test_client_keeps_one_connection_for_many_requests(
    harness: ServerHarness, sock_path: str
) -> None:
    server = harness.serve_unix(demo_router(), sock_path)
    with Client(sock_path) as client:
        for n in range(5):
            assert client.request("POST", "/v1/echo", n) == {"got": n, "query": {}}
        with pytest.raises(ApiError):
            client.request("GET", "/v1/teapot")  # an error reply does not end the connection
        assert client.request("GET", "/v1/hello") == {"hello": "world"}
        assert repr(client) == f"<Client {sock_path} kept=True streams=0>"
    assert server.accepted == 1
    closed = f"<HttpServer {sock_path} connections=0 accepted=1 refused=0>"
    wait_until(lambda: repr(server) == closed, what="the server to see the hang-up")


def test_pipelined_requests_on_one_connection_are_answered_in_order(
    harness: ServerHarness, sock_path: str
) -> None:
    server = harness.serve_unix(demo_router(), sock_path)
    hello = b"GET /v1/hello HTTP/1.1\r\nHost: x\r\n\r\n"
    missing = b"GET /v1/missing HTTP/1.1\r\nHost: x\r\n\r\n"
    last = b"GET /v1/items/z HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    reply = raw_exchange(sock_path, hello + missing + last)
    assert statuses(reply) == [200, 404, 200]
    assert reply.endswith(b'{"method":"GET","name":"z"}')
    assert server.accepted == 1


def test_malformed_http_is_400_and_the_connection_closes(
    harness: ServerHarness, sock_path: str
) -> None:
    harness.serve_unix(demo_router(), sock_path)
    reply = raw_exchange(sock_path, b"this is not HTTP at all\r\n\r\n")  # returns at EOF
    assert statuses(reply) == [400]
    assert b"\r\nconnection: close\r\n" in reply
    assert error_message(reply).startswith("malformed HTTP: ")
    with Client(sock_path) as client:
        assert client.request("GET", "/v1/hello") == {"hello": "world"}


def test_kept_connection_closed_by_the_daemon_is_replaced(
    harness: ServerHarness, sock_path: str
) -> None:
    first = harness.serve_unix(demo_router(), sock_path)
    with Client(sock_path) as client:
        assert client.request("GET", "/v1/hello") == {"hello": "world"}
        harness.run(first.close())  # a daemon restart: the kept connection is now dead
        second = harness.serve_unix(demo_router(), sock_path)
        assert client.request("POST", "/v1/echo", 1) == {"got": 1, "query": {}}
    assert second.accepted == 1


def test_router_rejects_duplicates_and_relative_patterns() -> None:
    router = Router()
    router.add("get", "/v1/x/{name}", _never)
    with pytest.raises(InvalidSpec, match=r"route GET /v1/x/\{name\} is already registered"):
        router.add("GET", "/v1/x/{name}", _never)
    with pytest.raises(InvalidSpec, match="must start with '/'"):
        router.add("GET", "v1/x", _never)


def test_router_resolve_explains_404_and_405() -> None:
    router = demo_router()
    _, params = router.resolve("GET", "/v1/items/web%3A1")
    assert params == {"name": "web:1"}
    with pytest.raises(HttpError) as missing:
        router.resolve("GET", "/v1/items/")  # an empty segment is no value for {name}
    with pytest.raises(HttpError) as wrong:
        router.resolve("POST", "/v1/items/all")
    assert missing.value.status == 404
    assert (wrong.value.status, wrong.value.headers) == (405, (("allow", "DELETE, GET"),))


def test_request_json_errors_are_400() -> None:
    request = Request(method="POST", path="/", query={}, headers={}, body=b"[1,")
    with pytest.raises(HttpError) as caught:
        request.json()
    assert caught.value.status == 400
    assert HttpError(400, "x").to_response().body == b'{"error":{"status":400,"message":"x"}}'


def test_json_nested_past_the_parsers_depth_is_400_not_500(
    harness: ServerHarness, sock_path: str
) -> None:
    deep = b"[" * 200_000 + b"]" * 200_000  # 400 KB, under max_body: was a RecursionError (500)
    harness.serve_unix(demo_router(), sock_path)
    head = f"POST /v1/echo HTTP/1.1\r\nhost: x\r\ncontent-length: {len(deep)}\r\n"
    reply = raw_exchange(sock_path, (head + "connection: close\r\n\r\n").encode() + deep)
    assert statuses(reply) == [400]
    assert error_message(reply) == "the request body is JSON nested too deeply"


def test_client_needs_exactly_one_address() -> None:
    with pytest.raises(InvalidSpec):
        Client()
    with pytest.raises(InvalidSpec):
        Client("/x.sock", tcp=("127.0.0.1", 1))


async def _never(request: Request) -> Response:
    raise AssertionError("not called")


def test_a_reply_that_never_comes_times_out(harness: ServerHarness, sock_path: str) -> None:
    async def stuck(request: Request) -> Response:
        await asyncio.Event().wait()
        raise AssertionError("never set")

    router = demo_router()
    router.add("GET", "/v1/stuck", stuck)
    harness.serve_unix(router, sock_path)
    with Client(sock_path, timeout=0.1) as client, pytest.raises(DaemonUnavailable) as caught:
        client.request("GET", "/v1/stuck")
    assert str(caught.value) == (
        f"no corral daemon answers on {sock_path}: no reply within 0.1 s (it may be stuck; "
        "see its log)"
    )
