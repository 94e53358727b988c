"""corral.ipc.ConnectionPool against a real TCP echo server in a child process.

A pool reuses healthy connections, notices one whose server went away before it
lends it, reconnects with backoff while the server comes back, and bounds every
wait: all its connections lent, or no server at all, is a clear error in time.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from corral import Backoff, Command, Process, ipc
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]


def echo_server(port: int = 0) -> tuple[Process, int]:
    env = {"PYTHONPATH": f"{ROOT / 'src'}:{ROOT}"}
    server = Command(sys.executable, "-m", "tests.ipc.tcp_echo", str(port)).env(**env)
    process = server.cwd(ROOT).stdout("capture").start()
    line = process.readline(timeout=30)
    assert line, "the echo server did not report its port"
    return process, int(line)


@pytest.fixture
def server() -> Iterator[tuple[Process, int]]:
    process, port = echo_server()
    with process:
        yield process, port


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_requests_reuse_one_healthy_connection(server: tuple[Process, int]) -> None:
    with ipc.ConnectionPool("127.0.0.1", server[1], size=2) as pool:
        assert [pool.request({"n": n}) for n in range(5)] == [{"n": n} for n in range(5)]
        assert (pool.connects, pool.idle) == (1, 1)


def test_a_connection_whose_server_died_is_replaced_before_it_is_lent() -> None:
    first, port = echo_server()
    with ipc.ConnectionPool("127.0.0.1", port, backoff=Backoff(initial=0.02, max=0.1)) as pool:
        with first:
            assert pool.request("before") == "before"
            first.kill()
        second, _ = echo_server(port)
        with second:
            assert pool.request("after") == "after"
        assert pool.connects == 2


def test_it_reconnects_with_backoff_while_the_server_comes_back() -> None:
    port = free_port()
    backoff = Backoff(initial=0.02, max=0.1)
    with ipc.ConnectionPool("127.0.0.1", port, attempts=1000, backoff=backoff) as pool:
        replies: list[object] = []
        asker = threading.Thread(target=lambda: replies.append(pool.request("hello", 30)))
        asker.start()
        wait_until(lambda: pool.failed_connects >= 2, what="failed tries at a server that is down")
        process, _ = echo_server(port)
        with process:
            asker.join(30)
            assert replies == ["hello"]


def test_no_server_is_channel_closed_after_the_tries_it_was_given() -> None:
    started = time.monotonic()
    pool = ipc.ConnectionPool("127.0.0.1", free_port(), attempts=3, backoff=Backoff(initial=0.01))
    with pool, pytest.raises(ipc.ChannelClosed, match="no connection after 3 tries"):
        pool.request("anyone?")
    assert time.monotonic() - started < 5


def test_a_borrow_with_every_connection_lent_times_out(server: tuple[Process, int]) -> None:
    with ipc.ConnectionPool("127.0.0.1", server[1], size=1) as pool, pool.connection():
        started = time.monotonic()
        with pytest.raises(ipc.ChannelTimeout, match="all connections lent"):
            pool.request("second", timeout=0.2)
        assert time.monotonic() - started < 1.5


def test_a_failing_health_check_drops_the_idle_connection(server: tuple[Process, int]) -> None:
    checked: list[ipc.Channel] = []

    def unhealthy(channel: ipc.Channel) -> bool:
        checked.append(channel)
        return False

    pool = ipc.ConnectionPool("127.0.0.1", server[1], health=unhealthy, check_after=0)
    with pool:
        pool.request(1)
        pool.request(2)
        assert (pool.connects, len(checked)) == (2, 1)
        assert checked[0].closed
