"""The unix socket: private from birth, stale files replaced, live servers never displaced."""

from __future__ import annotations

import errno
import os
import socket
import stat

import pytest

from corral._control.client import Client
from corral._control.server.http import HttpServer
from corral._errors import DaemonUnavailable
from tests.control.http.harness import ServerHarness, demo_router

NO_DAEMON = "no corral daemon answers on {} (is it running? start it with `corral daemon -c FILE`)"


def test_socket_is_mode_0600_and_umask_is_restored(harness: ServerHarness, sock_path: str) -> None:
    umask = os.umask(0o022)
    try:
        harness.serve_unix(demo_router(), sock_path)
        assert os.umask(0o022) == 0o022
    finally:
        os.umask(umask)
    mode = os.stat(sock_path).st_mode
    assert stat.S_ISSOCK(mode)
    assert stat.S_IMODE(mode) == 0o600


def test_close_removes_the_socket_file(harness: ServerHarness, sock_path: str) -> None:
    server = harness.serve_unix(demo_router(), sock_path)
    harness.run(server.close())
    assert not os.path.exists(sock_path)
    assert repr(server) == f"<HttpServer {sock_path} closed accepted=0 refused=0>"


def test_stale_socket_file_is_replaced(harness: ServerHarness, sock_path: str) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as dead:
        dead.bind(sock_path)  # bound, never listening, closed: what a crashed daemon leaves
    assert stat.S_ISSOCK(os.lstat(sock_path).st_mode)
    harness.serve_unix(demo_router(), sock_path)
    with Client(sock_path) as client:
        assert client.request("GET", "/v1/hello") == {"hello": "world"}


def test_live_socket_is_not_taken_over(harness: ServerHarness, sock_path: str) -> None:
    first = harness.serve_unix(demo_router(), sock_path)
    second = HttpServer(demo_router())
    with pytest.raises(OSError, match="a server already answers on") as caught:
        harness.run(second.listen_unix(sock_path))
    assert caught.value.errno == errno.EADDRINUSE
    assert sock_path in str(caught.value)
    with Client(sock_path) as client:
        assert client.request("GET", "/v1/hello") == {"hello": "world"}
    assert first.accepted == 2  # the probe, then the client


def test_a_file_that_is_not_a_socket_is_left_alone(harness: ServerHarness, sock_path: str) -> None:
    with open(sock_path, "w") as f:
        f.write("precious")
    server = HttpServer(demo_router())
    with pytest.raises(OSError, match="exists and is not a socket") as caught:
        harness.run(server.listen_unix(sock_path))
    assert caught.value.errno == errno.EEXIST
    with open(sock_path) as f:
        assert f.read() == "precious"


def test_missing_socket_means_no_daemon(sock_path: str) -> None:
    with Client(sock_path) as client, pytest.raises(DaemonUnavailable) as caught:
        client.request("GET", "/v1/hello")
    assert str(caught.value) == NO_DAEMON.format(sock_path)
    assert caught.value.address == sock_path


def test_socket_file_without_listener_means_no_daemon(sock_path: str) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as dead:
        dead.bind(sock_path)
    with Client(sock_path) as client, pytest.raises(DaemonUnavailable) as caught:
        client.request("GET", "/v1/hello")
    assert str(caught.value) == NO_DAEMON.format(sock_path)


def test_server_close_ends_open_connections(harness: ServerHarness, sock_path: str) -> None:
    server = harness.serve_unix(demo_router(), sock_path)
    with Client(sock_path) as client:
        assert client.request("GET", "/v1/hello") == {"hello": "world"}
        assert "connections=1" in repr(server)
        harness.run(server.close())
        with pytest.raises(DaemonUnavailable) as caught:
            client.request("GET", "/v1/hello")
    assert str(caught.value) == NO_DAEMON.format(sock_path)
