"""Health checks for real: a daemon probing real HTTP and TCP servers and real commands.

The servers are stdlib helpers (tests/helpers/health_server.py) whose answer the test
switches with a file; every condition is awaited on the event stream, never slept for.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.daemon import HELPERS, SLEEP_FOREVER, Daemon, running_daemon
from tests.support.events import Event
from tests.support.waiting import DEADLINE


@contextmanager
def health_server(mode: str, flag: Path) -> Iterator[int]:
    """The helper server in `mode`, answering by `flag`; yields its port."""
    argv = [sys.executable, str(HELPERS / "health_server.py"), mode, str(flag)]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, text=True) as server:
        try:
            assert server.stdout is not None
            line = server.stdout.readline()
            assert line.startswith("ready "), line
            yield int(line.split()[1])
        finally:
            server.kill()
            server.wait(timeout=DEADLINE)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def health(name: str, state: str) -> Callable[[Event], bool]:
    """Matches the `health` event of `name` entering `state`."""

    def match(event: Event) -> bool:
        return bool(
            event["kind"] == "health" and event["subject"] == name and event["data"]["new"] == state
        )

    return match


def program(check: str, *, keys: str = "", probe: str = "") -> str:
    return f"""
        [programs.api]
        command = {SLEEP_FOREVER}
        stop_timeout = 1
        backoff = {{ initial = 0.1, jitter = 0 }}
        {keys}
        [programs.api.health]
        {check}
        interval = 0.1
        start_interval = 0.1
        timeout = 2
        retries = 2
        {probe}
    """


def test_an_http_probe_that_passes_makes_it_healthy_and_running(tmp_path: Path) -> None:
    flag = tmp_path / "up"
    flag.write_text("ok")
    with (
        health_server("http", flag) as port,
        running_daemon(tmp_path, program(f'http = "http://127.0.0.1:{port}/healthz"')) as daemon,
    ):
        with daemon.watch(since=0) as events:
            passed = events.wait_for(health("api:0", "healthy"), what="healthy")
            running = events.wait_state("api:0", "RUNNING")
        assert passed["data"] == {
            "level": "info", "old": "starting", "new": "healthy", "streak": 0,
            "output": "HTTP 200: ok",
        }  # fmt: skip
        assert running["data"]["reason"] == "health probe passed: running"
        assert events.states("api:0") == ["STARTING", "RUNNING"]  # spawned: nothing to say
        row = daemon.status()["api:0"]
        assert row["health"]["kind"] == "http"
        assert row["health"]["target"] == f"http://127.0.0.1:{port}/healthz"
        assert (row["health"]["state"], row["health"]["streak"]) == ("healthy", 0)
        assert row["health"]["results"][-1]["ok"] is True
        assert "healthy" in daemon.cli("status").stdout_text


def test_retries_failures_make_it_unhealthy_and_it_is_restarted(tmp_path: Path) -> None:
    flag = tmp_path / "up"
    flag.write_text("ok")
    with (
        health_server("http", flag) as port,
        running_daemon(tmp_path, program(f'http = "http://127.0.0.1:{port}/"')) as daemon,
    ):
        with daemon.watch(since=0) as events:
            events.wait_for(health("api:0", "healthy"), what="healthy")
            first = daemon.status()["api:0"]["pid"]
            flag.unlink()
            sick = events.wait_for(health("api:0", "unhealthy"), what="unhealthy")
            events.wait_state("api:0", "BACKOFF")
            flag.write_text("ok")
            events.wait_for(
                health("api:0", "healthy"), what="healthy again", start=len(events.seen)
            )
            events.wait_state("api:0", "RUNNING", start=len(events.seen) - 1)
        assert sick["data"]["level"] == "warning"
        assert sick["data"]["streak"] == 2
        assert sick["data"]["output"] == "HTTP 503, not 200-399: failing"
        backoff = [e for e in events.seen if e["kind"] == "state" and e["data"]["new"] == "BACKOFF"]
        assert backoff[0]["data"]["reason"].startswith("unhealthy: 2 health probes failed in a row")
        row = daemon.status()["api:0"]
        assert row["restarts"] == 1
        assert row["pid"] != first


def test_on_unhealthy_stop_stops_it(tmp_path: Path) -> None:
    programs = program(f'tcp = "127.0.0.1:{closed_port()}"', keys='on_unhealthy = "stop"')
    with running_daemon(tmp_path, programs) as daemon:
        with daemon.watch(since=0) as events:
            sick = events.wait_for(health("api:0", "unhealthy"), what="unhealthy")
            events.wait_state("api:0", "STOPPED")
        assert sick["data"]["output"] == "connection refused"
        stopping = [
            e for e in events.seen if e["kind"] == "state" and e["data"]["new"] == "STOPPING"
        ]
        assert "on_unhealthy is stop" in stopping[0]["data"]["reason"]
        assert daemon.status()["api:0"]["restarts"] == 0


def test_failures_within_start_period_are_not_counted(tmp_path: Path) -> None:
    checks = program(
        'exec = ["test", "-e", "/nonexistent/corral-health"]',
        keys='on_unhealthy = "none"',
        probe="start_period = 1.5",
    ).replace("retries = 2", "retries = 1")
    with running_daemon(tmp_path, checks) as daemon:
        with daemon.watch(since=0) as events:
            sick = events.wait_for(health("api:0", "unhealthy"), what="unhealthy")
        spawned = next(e for e in events.seen if e["kind"] == "state")
        assert sick["time"] - spawned["time"] >= 1.5  # ~14 failures in the period counted none
        assert sick["data"]["streak"] == 1
        row = daemon.status()["api:0"]
        assert row["state"] == "STARTING"  # never passed: not running; "none" only reports
        assert [r["ok"] for r in row["health"]["results"]] == [False] * 5
        assert row["health"]["results"][-1]["output"] == "exit 1"
        assert re.search(
            r"unhealthy: \d+ failed \(last: exit 1\)", daemon.cli("status").stdout_text
        )


def test_an_exec_probe_passes_once_its_file_exists(tmp_path: Path) -> None:
    flag = tmp_path / "up"
    checks = program(f'exec = ["test", "-e", "{flag}"]', keys='on_unhealthy = "none"')
    with running_daemon(tmp_path, checks.replace("retries = 2", "retries = 1")) as daemon:
        with daemon.watch(since=0) as events:
            sick = events.wait_for(health("api:0", "unhealthy"), what="unhealthy")
            assert daemon.state("api:0") == "STARTING"
            flag.touch()
            events.wait_state("api:0", "RUNNING")
        assert sick["data"]["output"] == "exit 1"
        row = daemon.status()["api:0"]
        assert (row["health"]["kind"], row["health"]["state"]) == ("exec", "healthy")
        assert row["health"]["target"] == f"test -e {flag}"


def test_the_http_body_must_hold_the_text_asked_for(tmp_path: Path) -> None:
    flag = tmp_path / "up"
    flag.write_text("status: degraded")
    checks = program(
        'http = "http://127.0.0.1:0/"', keys='on_unhealthy = "none"', probe='body = "ok"'
    )
    with (
        health_server("http", flag) as port,
        running_daemon(tmp_path, checks.replace(":0/", f":{port}/")) as daemon,
    ):
        with daemon.watch(since=0) as events:
            sick = events.wait_for(health("api:0", "unhealthy"), what="unhealthy")
            flag.write_text("status: ok")
            events.wait_for(health("api:0", "healthy"), what="healthy", start=len(events.seen))
        assert sick["data"]["output"] == "HTTP 200, but the body lacks 'ok': status: degraded"


def test_a_status_range_can_take_any_code(tmp_path: Path) -> None:
    flag = tmp_path / "absent"
    checks = program('http = "http://127.0.0.1:0/"', probe='status = "500-503"')
    with (
        health_server("http", flag) as port,
        running_daemon(tmp_path, checks.replace(":0/", f":{port}/")) as daemon,
    ):
        with daemon.watch(since=0) as events:
            passed = events.wait_for(health("api:0", "healthy"), what="healthy")
        assert passed["data"]["output"] == "HTTP 503: failing"


def test_a_server_that_never_answers_fails_within_the_timeout(tmp_path: Path) -> None:
    checks = program('http = "http://127.0.0.1:0/"', keys='on_unhealthy = "none"')
    checks = checks.replace("timeout = 2", "timeout = 0.3").replace("retries = 2", "retries = 1")
    with (
        health_server("silent", tmp_path / "unused") as port,
        running_daemon(tmp_path, checks.replace(":0/", f":{port}/")) as daemon,
    ):
        with daemon.watch(since=0) as events:
            sick = events.wait_for(health("api:0", "unhealthy"), what="unhealthy")
        spawned = next(e for e in events.seen if e["kind"] == "state")
        assert sick["data"]["output"] == "no answer within 0.3 s"
        assert 0.4 <= sick["time"] - spawned["time"] < 0.4 + 2.0  # interval + timeout, + slack


def test_a_tcp_probe_passes_when_it_connects_and_prometheus_shows_it(tmp_path: Path) -> None:
    with (
        health_server("http", tmp_path / "unused") as port,
        running_daemon(tmp_path, program(f'tcp = "127.0.0.1:{port}"')) as daemon,
    ):
        with daemon.watch(since=0) as events:
            passed = events.wait_for(health("api:0", "healthy"), what="healthy")
        assert passed["data"]["output"] == f"connected to 127.0.0.1:{port}"
        text = prometheus(daemon)
        assert 'corral_instance_healthy{instance="api:0",program="api"} 1' in text
        assert 'corral_instance_health_failing_streak{instance="api:0",program="api"} 0' in text


def prometheus(daemon: Daemon) -> str:
    from tests.supervisor.runtime.test_daemon_metrics import prometheus as scrape

    return scrape(daemon)[1]


def _two_free_ports() -> int:
    """A port P with P and P + 1 free on loopback now (bound, then closed)."""
    for _ in range(100):
        base = closed_port()
        with socket.socket() as first, socket.socket() as second:
            try:
                first.bind(("127.0.0.1", base))
                second.bind(("127.0.0.1", base + 1))
            except OSError:
                continue
        return base
    raise AssertionError("no two free ports in a row on loopback")


def test_each_instance_is_probed_at_its_own_index(tmp_path: Path) -> None:
    # {BASE + index} in the command and in the probe: instance i listens and is probed
    # on BASE + i, so each is healthy only if each is probed at its own address
    base = _two_free_ports()
    listen = (
        "import socket, sys, time; s = socket.socket(); "
        "s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen(); time.sleep(300)"
    )
    programs = f"""
        [programs.api]
        command = ["{sys.executable}", "-c", "{listen}", "{{{base} + index}}"]
        numprocs = 2
        stop_timeout = 1
        [programs.api.health]
        tcp = "127.0.0.1:{{{base} + index}}"
        interval = 0.1
        start_interval = 0.1
        timeout = 2
        retries = 100
    """
    with running_daemon(tmp_path, programs) as daemon, daemon.watch(since=0) as events:
        for name in ("api:0", "api:1"):
            events.wait_for(health(name, "healthy"), what=f"{name} healthy")
        rows = daemon.status()
    assert [rows[n]["health"]["state"] for n in ("api:0", "api:1")] == ["healthy", "healthy"]
