"""The API refuses bad input with a 400 and one clear line, never a 500 (found by fuzzing)."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest

from corral._control.server import openapi
from corral._control.server.api import build_router
from corral._control.server.http.server import MAX_BODY
from corral._errors import ApiError
from corral._observe.events import EventLog
from corral._supervisor.operations import Operations
from tests.support.daemon import SLEEP_FOREVER, running_daemon

PROGRAMS = f"""
[programs.web]
command = {SLEEP_FOREVER}
start_seconds = 0
"""


def test_query_numbers_are_plain_digits_and_any_size_of_since_is_answered(
    tmp_path: Path,
) -> None:
    with running_daemon(tmp_path, PROGRAMS) as daemon:
        reply = daemon.call("GET", "/events", since=str(10**30))  # was a 500 (islice)
        assert reply["events"] == []
        assert reply["last_seq"] >= 1
        for raw in ("1_0", "٣", " 5", "+5", "0x10", "-", ""):  # int() took the first four
            with pytest.raises(ApiError) as caught:
                daemon.call("GET", "/logs/web:0", lines=raw)
            assert (caught.value.status, caught.value.message) == (
                400,
                f"query lines={raw!r} must be a whole number",
            )
        with pytest.raises(ApiError) as negative:
            daemon.call("GET", "/events", since="-3")
        assert (negative.value.status, negative.value.message) == (
            400,
            "since '-3' must be an event seq (a whole number >= 0)",
        )


def _raw(daemon_socket: str, request: bytes) -> bytes:
    import socket

    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(30)
        sock.connect(daemon_socket)
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_numbers_past_what_python_parses_are_400s_not_500s(tmp_path: Path) -> None:
    huge = "9" * 5000  # int() refuses more than 4300 digits with a ValueError
    with running_daemon(tmp_path, PROGRAMS) as daemon:
        with pytest.raises(ApiError) as lines:
            daemon.call("GET", "/logs/web:0", lines=huge)
        payload = '{"targets": ["web"], "n": ' + huge + "}"
        post = f"POST /v1/start HTTP/1.1\r\nHost: x\r\nContent-Length: {len(payload)}\r\n"
        body = _raw(daemon.socket, f"{post}Connection: close\r\n\r\n{payload}".encode())
        head = f"GET /v1/events?follow=1 HTTP/1.1\r\nHost: x\r\nLast-Event-ID: {huge}\r\n"
        resumed = _raw(daemon.socket, (head + "Connection: close\r\n\r\n").encode())
    assert (lines.value.status, lines.value.message) == (
        400,
        "query lines has 5000 digits; at most 64",
    )
    assert body.startswith(b"HTTP/1.1 400 ")
    assert body.endswith(b'"the request body has a number of more than 4300 digits"}}')
    assert resumed.startswith(b"HTTP/1.1 400 ")
    assert b"must be an event seq (a whole number >= 0)" in resumed


def test_targets_count_once_each_and_are_bounded(tmp_path: Path) -> None:
    with running_daemon(tmp_path, PROGRAMS) as daemon:
        reply = daemon.call("POST", "/start", {"targets": ["all"] * 37_000})  # about 256 KiB
        assert [row["name"] for row in reply["results"]] == ["web:0"]
        with pytest.raises(ApiError) as big:  # decoding 1 MiB held the loop 13 ms
            daemon.call("POST", "/start", {"targets": ["all"] * 140_000})
        many = [f"web:{n}" for n in range(4097)]
        with pytest.raises(ApiError) as targets:
            daemon.call("POST", "/stop", {"targets": many})
        with pytest.raises(ApiError) as names:
            daemon.call("GET", "/status", names=",".join(many))
        assert daemon.state("web:0") == "RUNNING"
    assert (big.value.status, big.value.message) == (
        413,
        f"the body is larger than {MAX_BODY} bytes",
    )
    assert (targets.value.status, targets.value.message) == (
        400,
        "too many targets: 'targets' holds 4097 distinct names; at most 4096",
    )
    assert (names.value.status, names.value.message) == (
        400,
        "too many targets: query names holds 4097 distinct names; at most 4096",
    )


def test_an_unknown_query_parameter_is_a_400_that_names_what_the_route_takes(
    tmp_path: Path,
) -> None:
    # `target=` for `names=` was ignored: the reply was about every instance.
    with running_daemon(tmp_path, PROGRAMS) as daemon:
        with pytest.raises(ApiError) as typo:
            daemon.call("GET", "/status", target="web:0")
        with pytest.raises(ApiError) as none:
            daemon.call("GET", "/metrics/web:0/history", since="1")
        assert daemon.state("web:0") == "RUNNING"
    assert (typo.value.status, typo.value.message) == (
        400,
        "unknown query parameter 'target' for GET /v1/status; it takes: names",
    )
    assert none.value.message.endswith("it takes: none")


def test_the_router_takes_exactly_the_query_parameters_the_document_describes() -> None:
    documented = {
        route: {p.name for p in doc.query if p.where == "query"}
        for route, doc in openapi.ROUTES.items()
    }
    router = build_router(cast(Operations, None), EventLog())
    taken = {route: set(router.query(*route) or ()) for route in router.routes()}
    assert all(router.query(*route) is not None for route in router.routes())
    assert taken == documented
