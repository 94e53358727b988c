"""Rolling restarts (`corral restart --rolling`): a program's instances go `max_unavailable`
at a time, each batch RUNNING (ready) again before the next stops; behind a socket the
daemon owns, clients see no failed request (the server drains on SIGTERM, as servers do:
tests/helpers/listen_http.py). An instance target is refused, and a batch that fails to
start stops the roll with the rest still running."""

from __future__ import annotations

import socket
import threading
from collections import Counter
from pathlib import Path
from typing import Any

from tests.support.daemon import Daemon, helper, running_daemon
from tests.support.events import Event, EventWatch

SERVER = helper("listen_http")
REQUEST = b"GET / HTTP/1.0\r\nHost: corral\r\n\r\n"
MAX_REQUESTS = 100_000  # the load loop's bound, beside the stop event


def _programs(numprocs: int, max_unavailable: int, command: str = SERVER) -> str:
    return f"""
        [sockets.web]
        listen = "127.0.0.1:0"
        backlog = 128

        [programs.web]
        command = {command}
        sockets = ["web"]
        numprocs = {numprocs}
        max_unavailable = {max_unavailable}
        notify = "fd"
        ready_timeout = 30
        stop_timeout = 5
        start_limit = {{ burst = 1, interval = 60 }}
    """


def _address(daemon: Daemon) -> tuple[str, int]:
    view = next(v for v in daemon.call("GET", "/status")["daemon"]["sockets"] if v["name"] == "web")
    host, _, port = view["bound"].rpartition(":")
    return host, int(port)


class _Load(threading.Thread):
    """Real HTTP requests, one after another, until stopped: who answered, what failed."""

    def __init__(self, address: tuple[str, int]) -> None:
        super().__init__(daemon=True)
        self.address = address
        self.stop = threading.Event()
        self.answered: Counter[int] = Counter()
        self.failed: list[str] = []

    def run(self) -> None:
        for _ in range(MAX_REQUESTS):
            if self.stop.is_set():
                return
            try:
                with socket.create_connection(self.address, timeout=30) as client:
                    client.sendall(REQUEST)
                    reply = b""
                    while chunk := client.recv(65536):
                        reply += chunk
                head, _, body = reply.partition(b"\r\n\r\n")
                if not head.startswith(b"HTTP/1.0 200"):
                    raise OSError(f"answered {head[:40]!r}")
                self.answered[int(body.split(b'"pid": ')[1].split(b",")[0])] += 1
            except OSError as exc:
                self.failed.append(str(exc))


def _most_down(events: list[Event], names: list[str]) -> int:
    """The most instances that were not RUNNING at once, replaying the state events."""
    state = dict.fromkeys(names, "RUNNING")
    most = 0
    for event in events:
        if event["kind"] == "state" and event["subject"] in state:
            state[event["subject"]] = event["data"]["new"]
            most = max(most, sum(s != "RUNNING" for s in state.values()))
    return most


def _roll(daemon: Daemon, names: list[str]) -> tuple[dict[str, Any], list[Event]]:
    with EventWatch(daemon.socket) as events:
        reply = daemon.call("POST", "/restart", {"targets": ["web"], "rolling": True})
        last = names[-1]
        events.wait_state(last, "RUNNING")  # the reply came after it: this reads to it
        return reply, list(events.seen)


def test_a_rolling_restart_takes_one_instance_down_at_a_time_and_drops_no_request(
    tmp_path: Path,
) -> None:
    names = [f"web:{i}" for i in range(4)]
    with running_daemon(tmp_path, _programs(4, 1)) as daemon:
        old = {name: daemon.wait_state(name, "RUNNING")["pid"] for name in names}
        load = _Load(_address(daemon))
        load.start()
        try:
            reply, seen = _roll(daemon, names)
        finally:
            load.stop.set()
            load.join(60)
        new = {name: row["pid"] for name, row in daemon.status().items()}
    assert [r["ok"] for r in reply["results"]] == [True] * 4
    assert all(new[name] != old[name] for name in names)
    assert load.failed == []
    assert sum(load.answered.values()) > 0
    assert _most_down(seen, names) == 1


def test_max_unavailable_takes_that_many_down_together_and_never_more(tmp_path: Path) -> None:
    names = [f"web:{i}" for i in range(4)]
    with running_daemon(tmp_path, _programs(4, 2)) as daemon:
        for name in names:
            daemon.wait_state(name, "RUNNING")
        reply, seen = _roll(daemon, names)
    assert [r["ok"] for r in reply["results"]] == [True] * 4
    assert _most_down(seen, names) == 2


def test_a_batch_that_fails_to_start_stops_the_roll_and_the_rest_keep_running(
    tmp_path: Path,
) -> None:
    flag = tmp_path / "broken"
    command = f'["sh", "-c", "test -e {flag} && exit 3; exec \\"$0\\" \\"$@\\"", {SERVER[1:]}'
    names = [f"web:{i}" for i in range(3)]
    with running_daemon(tmp_path, _programs(3, 1, command)) as daemon:
        old = {name: daemon.wait_state(name, "RUNNING")["pid"] for name in names}
        flag.touch()
        reply = daemon.call("POST", "/restart", {"targets": ["web"], "rolling": True})
        rows = daemon.status()
    first, *rest = reply["results"]
    assert (first["name"], first["ok"]) == ("web:0", False)
    assert [(r["name"], r["ok"]) for r in rest] == [("web:1", False), ("web:2", False)]
    assert all("the rolling restart stopped at web:0" in r["message"] for r in rest)
    assert [rows[name]["pid"] for name in names[1:]] == [old[name] for name in names[1:]]
    assert rows["web:0"]["state"] == "FATAL"


def test_only_programs_roll(tmp_path: Path) -> None:
    with running_daemon(tmp_path, _programs(2, 1)) as daemon:
        instance = daemon.cli("restart", "--rolling", "web:0")
        unknown = daemon.cli("restart", "--rolling", "nope")
    assert instance.exit_code == 2
    assert "restart --rolling takes a program, not an instance ('web:0')" in instance.stderr_text
    assert unknown.exit_code == 2
    assert "nope" in unknown.stderr_text
    assert "Traceback" not in instance.stderr_text + unknown.stderr_text
