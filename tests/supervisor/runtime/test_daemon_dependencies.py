"""depends_on: a program starts once what it needs has reached its condition (started,
completed), in dependency order; `start` pulls in what a program needs (systemd's
Requires= with After=), `stop` stops the dependents first, `restart` restarts them after;
an unmet dependency refuses the start with the reason; on_dependency_failure says what
a running dependent does when its dependency fails. Config errors: an unknown name, the
program itself, a cycle (printed, with file and line)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from corral._errors import ConfigError
from corral._supervisor.config.load import parse_config
from tests.support.daemon import SLEEP_FOREVER, running_daemon
from tests.support.events import Event, EventWatch


def _entered(seen: list[Event], state: str) -> list[str]:
    """Instances in the order they entered `state`."""
    return [e["subject"] for e in seen if e["kind"] == "state" and e["data"]["new"] == state]


CHAIN = f"""
    [programs.web]
    command = {SLEEP_FOREVER}
    start_seconds = 0
    priority = 1
    depends_on = {{ api = "started" }}

    [programs.api]
    command = {SLEEP_FOREVER}
    start_seconds = 0
    numprocs = 2
    depends_on = {{ migrate = "completed", db = "started" }}

    [programs.migrate]
    command = ["sh", "-c", "exit 0"]
    start_seconds = 0
    restart = "on-failure"
    autostart = false

    [programs.db]
    command = {SLEEP_FOREVER}
    start_seconds = 0
    autostart = false
"""


def test_start_pulls_in_what_a_program_needs_and_starts_it_in_order(tmp_path: Path) -> None:
    programs = CHAIN.replace("priority = 1", "priority = 1\n    autostart = false")
    programs = programs.replace("numprocs = 2", "numprocs = 2\n    autostart = false")
    with running_daemon(tmp_path, programs) as daemon, EventWatch(daemon.socket) as events:
        reply = daemon.call("POST", "/start", {"targets": ["web"]})
        events.wait_state("web:0", "RUNNING")
        rows = daemon.status()
    outcomes = {r["name"]: r["ok"] for r in reply["results"]}
    assert outcomes == dict.fromkeys(["web:0", "api:0", "api:1", "migrate:0", "db:0"], True) | {
        "migrate:0": outcomes["migrate:0"]  # a one-shot: RUNNING or already EXITED when asked
    }, reply
    running = _entered(events.seen, "RUNNING")
    assert running.index("db:0") < running.index("api:0") < running.index("web:0")
    assert _entered(events.seen, "EXITED")[0] == "migrate:0"
    assert {rows[n]["state"] for n in ("web:0", "api:0", "api:1", "db:0")} == {"RUNNING"}
    assert rows["migrate:0"]["state"] == "EXITED"


def test_stop_stops_the_dependents_first_and_restart_restarts_them_after(
    tmp_path: Path,
) -> None:
    with running_daemon(tmp_path, CHAIN) as daemon:
        daemon.wait_state("web:0", "RUNNING")
        with EventWatch(daemon.socket) as events:
            stopped = daemon.call("POST", "/stop", {"targets": ["db"]})
            events.wait_state("db:0", "STOPPED")  # the last to stop: the stream is read to it
            order = _entered(events.seen, "STOPPED")
        assert sorted(r["name"] for r in stopped["results"]) == ["api:0", "api:1", "db:0", "web:0"]
        assert order.index("web:0") < order.index("api:0") < order.index("db:0")
        daemon.call("POST", "/start", {"targets": ["web"]})
        with EventWatch(daemon.socket) as events:
            restarted = daemon.call("POST", "/restart", {"targets": ["db"]})
            events.wait_state("web:0", "RUNNING")  # the last to start
            running = _entered(events.seen, "RUNNING")
    assert all(r["ok"] for r in restarted["results"])
    assert running.index("db:0") < running.index("api:0") < running.index("web:0")


def test_an_unmet_dependency_refuses_the_start_saying_which_and_why(tmp_path: Path) -> None:
    programs = f"""
        [programs.app]
        command = {SLEEP_FOREVER}
        start_seconds = 0
        depends_on = {{ setup = "completed" }}

        [programs.setup]
        command = ["sh", "-c", "exit 4"]
        start_seconds = 0
        restart = "never"
    """
    with running_daemon(tmp_path, programs) as daemon:
        reply = daemon.call("POST", "/start", {"targets": ["app"]})
        row = daemon.status()["app:0"]
    outcome = next(r for r in reply["results"] if r["name"] == "app:0")
    assert outcome["ok"] is False
    assert outcome["message"] == "not started: dependency setup:0 is EXITED, not completed"
    assert row["state"] == "STOPPED"


@pytest.mark.parametrize("policy", ["stop", "restart", "ignore"])
def test_a_dependency_that_fails_takes_its_dependents_per_policy(
    tmp_path: Path, policy: str
) -> None:
    programs = f"""
        [programs.app]
        command = {SLEEP_FOREVER}
        start_seconds = 0
        depends_on = ["db"]
        on_dependency_failure = "{policy}"

        [programs.db]
        command = {SLEEP_FOREVER}
        start_seconds = 0
        backoff = {{ initial = 0, max = 0, jitter = 0 }}
    """
    with running_daemon(tmp_path, programs) as daemon:
        first: dict[str, Any] = daemon.wait_state("app:0", "RUNNING")
        daemon.wait_state("db:0", "RUNNING")
        with EventWatch(daemon.socket) as events:
            daemon.call("POST", "/signal", {"signal": "KILL", "targets": ["db"]})
            events.wait_state("db:0", "BACKOFF")
            events.wait_state("db:0", "RUNNING")
            if policy == "stop":
                events.wait_state("app:0", "STOPPED")
            elif policy == "restart":
                events.wait_state("app:0", "STOPPED")
                events.wait_state("app:0", "RUNNING")
        row = daemon.status()["app:0"]
        states = events.states("app:0")
    if policy == "stop":
        assert row["state"] == "STOPPED"
    elif policy == "restart":
        assert row["state"] == "RUNNING"
        assert row["pid"] != first["pid"]
    else:
        assert states == []
        assert row["pid"] == first["pid"]


def _error(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        parse_config('[daemon]\nsocket = "x.sock"\n' + text, path="/etc/corral.toml")
    return caught.value


def test_bad_dependencies_are_config_errors_with_file_line_and_key() -> None:
    unknown = _error('[programs.a]\ncommand = ["true"]\ndepends_on = ["dbb"]\n'
                     '[programs.db]\ncommand = ["true"]\n')  # fmt: skip
    assert "/etc/corral.toml:5: programs.a.depends_on.dbb" in str(unknown)
    assert "did you mean db?" in str(unknown)
    itself = _error('[programs.a]\ncommand = ["true"]\ndepends_on = ["a"]\n')
    assert "/etc/corral.toml:5: programs.a.depends_on.a: expected another program" in str(itself)
    cycle = _error(
        '[programs.a]\ncommand = ["true"]\ndepends_on = ["b"]\n'
        '[programs.b]\ncommand = ["true"]\ndepends_on = { a = "started" }\n'
    )
    assert "/etc/corral.toml:5: programs.a.depends_on.b: expected no dependency cycle" in str(cycle)
    assert "got a -> b -> a" in str(cycle)
    condition = _error('[programs.a]\ncommand = ["true"]\ndepends_on = { b = "ready" }\n')
    assert "programs.a.depends_on.b: expected one of started, healthy, completed" in str(condition)


def _health_programs(flag: Path, *, retries: int = 1000) -> str:
    return f"""
        [programs.app]
        command = {SLEEP_FOREVER}
        start_seconds = 0
        autostart = false
        depends_on = {{ db = "healthy" }}

        [programs.db]
        command = ["sh", "-c", "echo >&3; exec sleep 300"]
        notify = "fd"
        on_unhealthy = "none"

        [programs.db.health]
        exec = ["test", "-e", "{flag}"]
        interval = 0.1
        start_interval = 0.1
        timeout = 5
        retries = {retries}
    """


def test_healthy_waits_for_the_dependency_s_health_check_to_pass(tmp_path: Path) -> None:
    flag = tmp_path / "db-healthy"
    with running_daemon(tmp_path, _health_programs(flag)) as daemon:
        daemon.wait_state("db:0", "RUNNING")  # ready (notify), but its check fails so far
        with EventWatch(daemon.socket) as events:
            answer: list[dict[str, Any]] = []
            starting = threading.Thread(
                target=lambda: answer.append(daemon.call("POST", "/start", {"targets": ["app"]}))
            )
            starting.start()
            flag.touch()
            events.wait_state("app:0", "RUNNING")
            starting.join(60)
        kinds = [(e["kind"], e["subject"], e["data"].get("new")) for e in events.seen]
    assert answer[0]["results"][0]["ok"] is True
    healthy = kinds.index(("health", "db:0", "healthy"))
    assert healthy < kinds.index(("state", "app:0", "STARTING"))


def test_a_dependency_that_turns_unhealthy_is_not_healthy(tmp_path: Path) -> None:
    with running_daemon(tmp_path, _health_programs(tmp_path / "never", retries=2)) as daemon:
        daemon.wait_state("db:0", "RUNNING")
        reply = daemon.call("POST", "/start", {"targets": ["app"]})
    outcome = next(r for r in reply["results"] if r["name"] == "app:0")
    assert outcome["ok"] is False
    assert outcome["message"] == "not started: dependency db:0 is RUNNING, not healthy"


def test_a_reload_or_rolling_restart_of_a_dependency_leaves_its_dependents_running(
    tmp_path: Path,
) -> None:
    # only an explicit stop or restart takes the dependents along: a reload replaces
    # what changed, and a rolling restart keeps the dependency serving
    programs = f"""
        [programs.app]
        command = {SLEEP_FOREVER}
        start_seconds = 0
        depends_on = ["db"]

        [programs.db]
        command = {SLEEP_FOREVER}
        start_seconds = 0
        numprocs = 2
    """
    with running_daemon(tmp_path, programs) as daemon:
        app = daemon.wait_state("app:0", "RUNNING")["pid"]
        daemon.write_config(programs.replace("numprocs = 2", "numprocs = 2\n        priority = 5"))
        reloaded = daemon.call("POST", "/reload")
        rolled = daemon.call("POST", "/restart", {"targets": ["db"], "rolling": True})
        rows = daemon.status()
    assert reloaded["changed"] == ["db"]
    assert all(r["ok"] for r in rolled["results"])
    assert [r["name"] for r in rolled["results"]] == ["db:0", "db:1"]
    assert rows["app:0"]["pid"] == app
    assert rows["app:0"]["state"] == "RUNNING"
