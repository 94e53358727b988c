"""A running daemon holds no module that only bad input or a rare request needs.

Each module imported stays in the daemon's memory for as long as it runs, so what only
an error message (did-you-mean), a `logs`, a `logs -f`, an event stream or the OpenAPI
document needs is imported by the code that needs it, when it runs (docs/performance.md,
"RSS of a daemon with 200 programs"). The daemon runs as a user starts it, `corral daemon
-c CONFIG`, under `-X importtime`, which reports each module as it is first imported.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from corral._control.client import Client
from corral._errors import ApiError
from tests.support.daemon import SLEEP_FOREVER, Daemon
from tests.support.imports import imported_modules
from tests.support.waiting import wait_until

PROGRAMS = f"""
[programs.web]
command = {SLEEP_FOREVER}
numprocs = 2

[programs.worker]
command = {SLEEP_FOREVER}
"""

NOT_AT_REST = (
    "corral._control.client",  # the CLI's; `corral daemon` never makes a client
    "corral._control.cli.render",  # the CLI's tables and lines
    "corral._process.async_handle",  # the library's handle: an exec health probe's only
    "corral._control.server.web",  # the dashboard: only with [web] enabled
    "platform",  # os.uname() tells the machine
    "shlex",  # for a command given as one string; these are arrays
)
"""Modules a running daemon never imports for this config, whatever it is asked."""

ON_DEMAND = {
    "difflib": "an unknown target (did you mean ...?)",
    "corral._observe.logs.tail": "GET /v1/logs/NAME",
    "corral._observe.logs.follower": "GET /v1/logs/NAME/follow",
    "corral._control.server.event_subscriber": "GET /v1/events?follow=1",
    "corral._control.sse": "GET /v1/events?follow=1",
    "corral._observe.event_queue": "GET /v1/events?follow=1",
    "corral._control.server.openapi": "GET /v1/openapi.json",
}
"""Modules imported by the request that needs them (and by nothing before it)."""


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    """`corral daemon` under -X importtime, all RUNNING, asked for status, events and metrics."""
    running = Daemon(tmp_path, PROGRAMS)
    running.start(
        argv=[
            sys.executable,
            "-X",
            "importtime",
            "-m",
            "corral",
            "daemon",
            "-c",
            str(running.config),
        ]
    )
    try:
        wait_until(lambda: _all_running(running), what="every instance RUNNING")
        running.call("GET", "/status", names="web:0")
        running.call("GET", "/events", since="0")
        running.call("GET", "/metrics")
        yield running
    finally:
        running.stop()


def _all_running(daemon: Daemon) -> bool:
    return {row["state"] for row in daemon.status().values()} == {"RUNNING"}


def _imported(daemon: Daemon) -> set[str]:
    return imported_modules(daemon.output.read_text(errors="replace"))


def test_a_running_daemon_that_was_asked_for_status_holds_none_of_them(daemon: Daemon) -> None:
    imported = _imported(daemon)
    assert "corral._control.daemon_main" in imported  # the report is there
    assert imported & {*NOT_AT_REST, *ON_DEMAND} == set()


def test_each_is_imported_by_the_request_that_needs_it(daemon: Daemon) -> None:
    with pytest.raises(ApiError):
        daemon.call("POST", "/start", {"targets": ["wbe"]})
    daemon.call("GET", "/logs/web:0")
    daemon.call("GET", "/openapi.json")
    with Client(daemon.socket, timeout=30) as client:
        with client.stream("GET", "/v1/logs/web:0/follow"):
            pass
        with client.follow_events():
            pass
    # A streamed body starts after its headers went out: the follower may come a moment later.
    wait_until(lambda: set(ON_DEMAND) <= _imported(daemon), what=f"imports of {sorted(ON_DEMAND)}")
    assert _imported(daemon) & set(NOT_AT_REST) == set()
