"""Metrics from a real daemon: sampled on a timer, served as JSON, history, Prometheus and CLI."""

from __future__ import annotations

import http.client
import os
import re
import socket
from pathlib import Path
from typing import Any, cast

from prometheus_client.parser import text_string_to_metric_families

import corral
from corral._observe.metrics.sampler import MAX_GAP
from tests.support.daemon import Daemon, daemon_argv, helper, running_daemon
from tests.support.pids import read_stat, watch
from tests.support.waiting import DEADLINE, wait_until

PROGRAMS = """
    [metrics]
    interval = 0.2
    history = 50

    [programs.busy]
    command = ["sh", "-c", "while :; do :; done"]
    start_seconds = 0

    [programs.idle]
    command = ["sh", "-c", "sleep 300 & sleep 300 & wait"]
    start_seconds = 0

    [programs.off]
    command = ["sleep", "300"]
    autostart = false
"""


def metrics(daemon: Daemon, **query: str) -> dict[str, Any]:
    return cast(dict[str, Any], daemon.call("GET", "/metrics", **query))


def rows(daemon: Daemon) -> dict[str, dict[str, Any]]:
    return {row["name"]: row for row in metrics(daemon)["instances"]}


def sampled(daemon: Daemon) -> dict[str, dict[str, Any]]:
    """The rows, once the busy loop shows CPU and idle's two children are counted."""

    def ready() -> dict[str, dict[str, Any]]:
        found = rows(daemon)
        busy, idle = found["busy:0"], found["idle:0"]
        ok = (busy["cpu_percent"] or 0) > 10 and idle["processes"] == 3
        return found if ok else {}

    return wait_until(ready, what="a sample with busy:0 using CPU and idle:0's children")


class _UnixConnection(http.client.HTTPConnection):
    """The stdlib HTTP client over the daemon's unix socket, as a scraper would speak."""

    def __init__(self, path: str) -> None:
        super().__init__("corral", timeout=DEADLINE)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(DEADLINE)
        self.sock.connect(self._path)


def prometheus(daemon: Daemon) -> tuple[str, str]:
    connection = _UnixConnection(daemon.socket)
    try:
        connection.request("GET", "/metrics")
        response = connection.getresponse()
        body = response.read().decode()
    finally:
        connection.close()
    assert response.status == 200
    return response.getheader("content-type", ""), body


def test_running_instances_are_sampled_on_the_interval(tmp_path: Path) -> None:
    with running_daemon(tmp_path, PROGRAMS) as daemon:
        found = sampled(daemon)
        reply = metrics(daemon)
    assert reply["interval"] == 0.2
    assert reply["taken_at"] is not None
    assert 0 < reply["sample_seconds"] < 1.0
    assert reply["daemon_memory_rss"] > 1 << 20
    assert found["busy:0"]["state"] == "RUNNING"
    assert found["busy:0"]["memory_rss"] > 0
    assert found["idle:0"]["cpu_percent"] < 5.0
    assert found["idle:0"]["processes"] == 3
    off = found["off:0"]
    assert (off["state"], off["cpu_percent"], off["memory_rss"]) == ("STOPPED", None, None)


def test_status_shows_the_sampled_cpu_of_the_last_interval(tmp_path: Path) -> None:
    with running_daemon(tmp_path, PROGRAMS) as daemon:
        sampled(daemon)
        status = daemon.status()
        history = daemon.call("GET", "/metrics/busy:0/history")["points"]
    # The sample status used is the newest one it saw, so it is in the history read after.
    assert status["busy:0"]["cpu_percent"] in [p["cpu_percent"] for p in history]
    assert status["busy:0"]["cpu_percent"] > 0.0
    assert status["idle:0"]["cpu_percent"] < 5.0


def test_a_double_forked_grandchild_in_its_own_session_is_counted_as_stop_would_kill_it(
    tmp_path: Path,
) -> None:
    # The member stop kills (group, marker, descent) is the one status, metrics and
    # Prometheus count: the grandchild left the group and session and its parent is
    # gone, so only its CORRAL_TREE marker ties it to the tree.
    programs = f"""
        [metrics]
        interval = 0.2

        [programs.forker]
        command = {helper("double_fork")}
        start_seconds = 0
        logs = {{ timestamps = false }}
    """
    with running_daemon(tmp_path, programs) as daemon:
        root = daemon.wait_state("forker:0", "RUNNING")["pid"]

        def report() -> str:
            path = daemon.log_path("forker:0")
            text = path.read_text() if path.exists() else ""
            return text if "ready" in text else ""

        grandchild = int(wait_until(report, what="the helper's report").split()[-2])
        stat, root_stat = read_stat(grandchild), read_stat(root)
        assert stat is not None
        assert root_stat is not None
        assert (stat.sid, stat.pgid) != (root_stat.sid, root_stat.pgid)
        assert stat.ppid != root
        status = daemon.status()["forker:0"]

        def counted() -> dict[str, Any]:
            row = rows(daemon)["forker:0"]
            return row if row["processes"] == 2 else {}

        # A new member is found by the sampler's next full pass, which comes at most
        # MAX_GAP seconds later (sooner on a quiet machine: passes share a CPU budget).
        row = wait_until(
            counted, timeout=MAX_GAP + DEADLINE, what="a metrics sample that counts the grandchild"
        )
        _, text = prometheus(daemon)
        rss_of = {pid: _rss(pid) for pid in (root, grandchild)}
        with watch([root, grandchild]) as deaths:
            daemon.call("POST", "/stop", {"targets": ["forker"]})
            deaths.assert_dead()
    assert status["processes"] == 2
    assert status["memory_rss"] > max(rss_of.values())  # the grandchild's memory is charged
    assert row["memory_rss"] > max(rss_of.values())
    lines = text.splitlines()
    assert 'corral_instance_processes{instance="forker:0",program="forker"} 2' in lines


def _rss(pid: int) -> int:
    """Resident bytes of `pid`, from /proc/PID/statm (not the stat file corral reads)."""
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_names_select_instances_and_an_unknown_name_is_a_404(tmp_path: Path) -> None:
    with running_daemon(tmp_path, PROGRAMS) as daemon:
        chosen = metrics(daemon, names="idle")
        assert [row["name"] for row in chosen["instances"]] == ["idle:0"]
        result = daemon.cli("metrics", "nobody")
    assert result.exit_code == 2
    assert "no program or instance named 'nobody'" in result.stderr_text


def test_history_keeps_one_point_per_tick_up_to_its_size(tmp_path: Path) -> None:
    with running_daemon(tmp_path, PROGRAMS) as daemon:

        def points() -> list[dict[str, Any]]:
            found = daemon.call("GET", "/metrics/busy:0/history")["points"]
            return cast(list[dict[str, Any]], found if len(found) >= 5 else [])

        found = wait_until(points, what="five samples of busy:0")
        assert len(daemon.call("GET", "/metrics/off:0/history")["points"]) == 0
        many = daemon.call("GET", "/metrics/busy/history")  # a one-instance program is fine
    times = [p["time"] for p in found]
    assert times == sorted(times)
    assert all(p["processes"] == 1 and p["rss_bytes"] > 0 for p in found)
    assert many["name"] == "busy"
    assert len(many["points"]) <= 50


def test_prometheus_exposition_lists_state_and_usage_of_every_instance(tmp_path: Path) -> None:
    with running_daemon(tmp_path, PROGRAMS) as daemon:
        sampled(daemon)
        content_type, text = prometheus(daemon)
    assert content_type == "text/plain; version=0.0.4; charset=utf-8"
    lines = text.splitlines()
    assert "# TYPE corral_instance_state gauge" in lines
    assert 'corral_instance_state{instance="busy:0",program="busy",state="RUNNING"} 1' in lines
    assert 'corral_instance_state{instance="off:0",program="off",state="STOPPED"} 1' in lines
    assert 'corral_instance_up{instance="off:0",program="off"} 0' in lines
    assert 'corral_instance_restarts_total{instance="busy:0",program="busy"} 0' in lines
    assert 'corral_instance_processes{instance="idle:0",program="idle"} 3' in lines
    rss = _value(lines, 'corral_instance_memory_rss_bytes{instance="busy:0",program="busy"}')
    assert rss > 0
    assert _value(lines, "corral_daemon_memory_rss_bytes") > 1 << 20
    assert _value(lines, "corral_metrics_interval_seconds") == 0.2
    for line in lines:  # every line is a comment or `name{labels} number`
        assert line.startswith("# ") or re.fullmatch(r"[a-z_]+(\{[^}]*\})? \S+", line), line
    parsed = {f.name: f for f in text_string_to_metric_families(text)}  # Prometheus's parser
    states = [s for s in parsed["corral_instance_state"].samples if s.value == 1]
    assert {s.labels["instance"]: s.labels["state"] for s in states} == {
        "busy:0": "RUNNING",
        "idle:0": "RUNNING",
        "off:0": "STOPPED",
    }
    assert parsed["corral_instance_restarts"].type == "counter"


def test_the_cli_prints_the_table_and_one_instance_history(tmp_path: Path) -> None:
    with running_daemon(tmp_path, PROGRAMS) as daemon:
        sampled(daemon)
        table = daemon.cli("metrics", check=True).stdout_text
        history = daemon.cli("metrics", "busy:0", "--history", check=True).stdout_text
        as_json = daemon.cli("metrics", "idle", "--json", check=True).stdout_text
        usage = daemon.cli("metrics", "--history")
    header, *body = table.splitlines()
    assert header.split() == ["NAME", "STATE", "CPU", "MEM", "PROCS"]
    assert any(line.split()[:2] == ["busy:0", "RUNNING"] for line in body)
    assert any(line.split() == ["off:0", "STOPPED", "-", "-", "-"] for line in body)
    assert body[-1].startswith("daemon: cpu ")
    assert "sampled every 0.2s" in body[-1]
    assert history.splitlines()[0].split() == ["TIME", "CPU", "MEM", "PROCS"]
    assert len(history.splitlines()) >= 2
    assert '"name": "idle:0"' in as_json
    assert usage.exit_code == 2
    assert "--history needs exactly one instance" in usage.stderr_text


def test_interval_zero_samples_nothing_and_says_so(tmp_path: Path) -> None:
    programs = PROGRAMS.replace("interval = 0.2", "interval = 0")
    with running_daemon(tmp_path, programs) as daemon:
        daemon.wait_state("busy:0", "RUNNING")
        reply = metrics(daemon)
        table = daemon.cli("metrics", check=True).stdout_text
        status = daemon.status()["busy:0"]
    assert reply["taken_at"] is None
    assert all(row["cpu_percent"] is None for row in reply["instances"])
    assert table.endswith("sampling is off ([metrics] interval = 0)\n")
    assert status["cpu_percent"] is not None  # status falls back to the average since start


def test_a_reload_applies_a_new_interval_and_forgets_removed_programs(tmp_path: Path) -> None:
    with running_daemon(tmp_path, PROGRAMS) as daemon:
        sampled(daemon)
        daemon.write_config(PROGRAMS.replace("interval = 0.2", "interval = 0.3").replace(
            "[programs.off]", "[programs.other]"))  # fmt: skip
        daemon.call("POST", "/reload")
        reply = metrics(daemon)
        result = daemon.cli("metrics", "off:0", "--history")
    assert reply["interval"] == 0.3
    assert "off:0" not in {row["name"] for row in reply["instances"]}
    assert result.exit_code == 2


def _value(lines: list[str], prefix: str) -> float:
    found = [line for line in lines if line.startswith(prefix + " ")]
    assert len(found) == 1, f"{prefix}: {found}"
    return float(found[0].rsplit(" ", 1)[1])


# -- the TCP listener, as Prometheus scrapes it --------------------------------------


def _tcp_address(daemon: Daemon) -> tuple[str, int]:
    def announced() -> str:
        for event in daemon.events("daemon"):
            message = str(event["data"].get("message", ""))
            if message.startswith("listening on http://"):
                return message.removeprefix("listening on http://")
        return ""

    host, _, port = wait_until(announced, what="the TCP listener's address").rpartition(":")
    return host, int(port)


def _scrape(host: str, port: int, token: str | None) -> tuple[int, str]:
    connection = http.client.HTTPConnection(host, port, timeout=DEADLINE)
    try:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        connection.request("GET", "/metrics", headers=headers)
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def test_prometheus_scrapes_over_tcp_with_the_bearer_token(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("scrape-me-0123456789\n")
    token.chmod(0o600)
    keys = f'http_listen = "127.0.0.1:0"\nhttp_token_file = "{token}"\n'
    with running_daemon(tmp_path, PROGRAMS, daemon_keys=keys) as daemon:
        host, port = _tcp_address(daemon)
        status, text = _scrape(host, port, "scrape-me-0123456789")
        refused, _ = _scrape(host, port, None)
        wrong, _ = _scrape(host, port, "guess")
    assert host == "127.0.0.1"
    assert status == 200
    assert 'corral_instance_up{instance="busy:0",program="busy"} 1' in text.splitlines()
    assert (refused, wrong) == (401, 401)


def test_a_tcp_port_in_use_stops_the_daemon_with_a_clear_error(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("t" * 16 + "\n")
    token.chmod(0o600)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        daemon = Daemon(
            tmp_path, PROGRAMS, f'http_listen = "127.0.0.1:{port}"\nhttp_token_file = "{token}"\n'
        )
        result = corral.run(
            daemon_argv(daemon.config),
            check=False,
            timeout=DEADLINE,
        )
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in result.stderr_text
    assert not os.path.exists(daemon.socket)
