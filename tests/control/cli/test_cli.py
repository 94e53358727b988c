"""Every `corral` command against a real daemon: readable output, --json, exit codes."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import corral
from tests.support.daemon import PYTHON, Daemon, running_daemon
from tests.support.pids import watch
from tests.support.waiting import wait_until

PROGRAMS = """
    [programs.web]
    command = ["sleep", "300"]
    numprocs = 2
    start_seconds = 0
    [programs.ticker]
    command = ["sh", "-c", "i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.05; done"]
    start_seconds = 0
    logs = { timestamps = false }
"""


def test_status_prints_a_table_and_json(tmp_path: Path) -> None:
    with running_daemon(tmp_path, PROGRAMS) as daemon:
        daemon.wait_state("web:1", "RUNNING")
        result = daemon.cli("status")
        assert result.exit_code == 0
        header, *rows = result.stdout_text.splitlines()
        assert header.split()[:3] == ["NAME", "STATE", "PID"]
        assert [row.split()[0] for row in rows] == ["ticker:0", "web:0", "web:1"]
        assert all(row.split()[1] == "RUNNING" for row in rows)
        parsed = json.loads(daemon.cli("status", "web", "--json").stdout_text)
        names = [row["name"] for row in parsed["instances"]]
        assert names == ["web:0", "web:1"]
        assert set(parsed["instances"][0]) >= {
            "name", "program", "state", "pid", "uptime", "restarts", "last_exit",
            "cpu_percent", "memory_rss",
        }  # fmt: skip


def test_stop_start_restart_report_each_instance(tmp_path: Path) -> None:
    with running_daemon(tmp_path, PROGRAMS) as daemon:
        first = daemon.wait_state("web:0", "RUNNING")["pid"]
        with watch([first]) as deaths:
            result = daemon.cli("stop", "web:0")
            deaths.assert_dead()
        assert result.exit_code == 0
        assert result.stdout_text == "web:0: ok (STOPPED) STOPPED\n"
        assert daemon.state("web:0") == "STOPPED"
        result = daemon.cli("start", "web:0")
        assert result.exit_code == 0
        assert "web:0: ok (RUNNING)" in result.stdout_text
        second = daemon.status()["web:0"]["pid"]
        result = daemon.cli("restart", "web", "--json")
        assert result.exit_code == 0
        outcomes = json.loads(result.stdout_text)["results"]
        assert [(o["name"], o["ok"], o["state"]) for o in outcomes] == [
            ("web:0", True, "RUNNING"),
            ("web:1", True, "RUNNING"),
        ]
        assert daemon.status()["web:0"]["pid"] != second


def test_start_of_a_program_that_cannot_start_fails_with_exit_1(tmp_path: Path) -> None:
    programs = (
        PROGRAMS
        + """
    [programs.broken]
    command = ["/nonexistent/bin/thing"]
    autostart = false
    """
    )
    with running_daemon(tmp_path, programs) as daemon:
        result = daemon.cli("start", "broken")
        assert result.exit_code == 1
        assert "broken:0: FAILED (FATAL)" in result.stdout_text
        assert "/nonexistent/bin/thing" in result.stdout_text


def test_signal_and_its_errors(tmp_path: Path) -> None:
    with running_daemon(tmp_path, PROGRAMS) as daemon:
        daemon.wait_state("web:0", "RUNNING")
        pid = daemon.status()["web:0"]["pid"]
        with watch([pid]) as deaths:
            result = daemon.cli("signal", "KILL", "web:0")
            deaths.assert_dead()
        assert result.exit_code == 0
        assert "sent SIGKILL" in result.stdout_text
        bad = daemon.cli("signal", "HUPP", "web:0")
        assert bad.exit_code == 2
        assert "did you mean HUP" in bad.stderr_text


def test_logs_shows_the_last_lines_and_follows(tmp_path: Path) -> None:
    with running_daemon(tmp_path, PROGRAMS) as daemon:
        wait_until(
            lambda: (
                daemon.log_path("ticker:0").exists()
                and daemon.log_path("ticker:0").read_text().count("\n") >= 5
            ),
            what="five ticks logged",
        )
        result = daemon.cli("logs", "ticker:0", "-n", "3")
        assert result.exit_code == 0
        lines = result.stdout_text.splitlines()
        assert len(lines) == 3
        assert all(line.startswith("tick ") for line in lines)
        numbers = [int(line.split()[1]) for line in lines]
        assert numbers == sorted(numbers)
        argv = [PYTHON, "-m", "corral", "logs", "ticker", "-n", "0", "-f"]
        env = {"CORRAL_SOCKET": daemon.socket}
        with corral.start(argv, extra_env=env) as follower:
            first = follower.readline(timeout=30)
            second = follower.readline(timeout=30)
            assert first is not None
            assert second is not None
            assert int(second.split()[1]) > int(first.split()[1])


def test_reload_and_shutdown(tmp_path: Path) -> None:
    daemon = Daemon(tmp_path, PROGRAMS)
    daemon.start()
    try:
        daemon.wait_state("web:0", "RUNNING")
        daemon.write_config(PROGRAMS.replace("numprocs = 2", "numprocs = 3"))
        result = daemon.cli("reload")
        assert result.exit_code == 0
        assert "changed: web" in result.stdout_text
        assert daemon.state("web:2") == "RUNNING"
        assert daemon.cli("shutdown").exit_code == 0
        assert daemon.process is not None
        assert daemon.process.wait(timeout=60).exit_code == 0
    finally:
        daemon.kill()


def test_unknown_targets_are_usage_errors_with_a_suggestion(tmp_path: Path) -> None:
    with running_daemon(tmp_path, PROGRAMS) as daemon:
        for argv in (["stop", "wbe"], ["status", "wbe"], ["logs", "wbe"], ["start", "web:7"]):
            result = daemon.cli(*argv)
            assert result.exit_code == 2, argv
            assert result.stderr_text.startswith("corral: "), argv
        assert "did you mean 'web'" in daemon.cli("stop", "wbe").stderr_text


def test_no_daemon_is_exit_3_naming_the_socket(tmp_path: Path) -> None:
    socket = str(tmp_path / "none.sock")
    result = corral.run([PYTHON, "-m", "corral", "status", "--socket", socket], check=False)
    assert result.exit_code == 3
    assert socket in result.stderr_text


def test_no_socket_at_all_is_a_usage_error() -> None:
    env = {k: v for k, v in os.environ.items() if k != "CORRAL_SOCKET"}
    result = corral.run([PYTHON, "-m", "corral", "status"], env=env, check=False)
    assert result.exit_code == 2
    assert "--socket" in result.stderr_text


def test_detach_returns_once_the_api_answers(tmp_path: Path) -> None:
    daemon = Daemon(tmp_path, PROGRAMS)
    result = daemon.cli("daemon", "-c", str(daemon.config), "--detach")
    assert result.exit_code == 0, result.stderr_text
    pid = int(result.stdout_text.split("pid ")[1].split(")")[0])
    try:
        with watch([pid]) as deaths:
            assert daemon.cli("status").exit_code == 0
            assert daemon.cli("shutdown").exit_code == 0
            deaths.assert_dead()
        os.waitpid(pid, 0)
    finally:
        # The detached daemon was re-parented to us (the suite is a subreaper): reap it.
        if os.path.exists(f"/proc/{pid}"):
            os.kill(pid, 9)
            os.waitpid(pid, 0)


def test_version() -> None:
    result = corral.run([sys.executable, "-m", "corral", "--version"])
    assert result.stdout_text.strip() == corral.__version__
