"""The opt-in TCP listener: loopback only when asked so, and a bearer token on every request."""

from __future__ import annotations

import pytest

from corral._control.client import Client
from corral._control.server.http import HttpServer
from corral._errors import ApiError, DaemonUnavailable, InvalidSpec
from tests.control.http.harness import ServerHarness, demo_router

TOKEN = "s3cret-token-0123456789"


def _serve_tcp(harness: ServerHarness) -> tuple[HttpServer, int]:
    server = HttpServer(demo_router())
    harness.servers.append(server)
    port = harness.run(server.listen_tcp("127.0.0.1", 0, {"ops": TOKEN}))
    return server, port


def test_the_right_token_is_let_in(harness: ServerHarness) -> None:
    server, port = _serve_tcp(harness)
    assert port > 0
    with Client(tcp=("127.0.0.1", port), token=TOKEN) as client:
        assert client.request("GET", "/v1/hello") == {"hello": "world"}
        assert client.request("GET", "/v1/items/a") == {"method": "GET", "name": "a"}
    assert server.accepted == 1


@pytest.mark.parametrize("token", [None, "wrong-token", TOKEN + "x", ""])
def test_a_missing_or_wrong_token_is_401(harness: ServerHarness, token: str | None) -> None:
    _, port = _serve_tcp(harness)
    with Client(tcp=("127.0.0.1", port), token=token) as client:
        with pytest.raises(ApiError) as caught:
            client.request("POST", "/v1/echo", {"x": 1})
        assert caught.value.status == 401
        assert caught.value.message == (
            "missing or wrong token; send `Authorization: Bearer <token>`"
        )


def test_bound_to_the_loopback_address_only(harness: ServerHarness) -> None:
    server, port = _serve_tcp(harness)
    assert repr(server) == f"<HttpServer 127.0.0.1:{port} connections=0 accepted=0 refused=0>"
    # 127.0.0.2 is loopback too; it answers only if the listener took every address.
    elsewhere = Client(tcp=("127.0.0.2", port), token=TOKEN)
    with elsewhere, pytest.raises(DaemonUnavailable) as caught:
        elsewhere.request("GET", "/v1/hello")
    assert str(caught.value).startswith(f"no corral daemon answers on 127.0.0.2:{port} (")


def test_no_token_is_refused(harness: ServerHarness) -> None:
    server = HttpServer(demo_router())
    with pytest.raises(InvalidSpec, match="needs at least one token"):
        harness.run(server.listen_tcp("127.0.0.1", 0, {}))


def test_a_token_shorter_than_16_bytes_is_refused(harness: ServerHarness) -> None:
    server = HttpServer(demo_router())
    with pytest.raises(InvalidSpec, match="tokens must be at least 16 bytes: short"):
        harness.run(server.listen_tcp("127.0.0.1", 0, {"short": "x" * 15, "ok": "y" * 16}))
