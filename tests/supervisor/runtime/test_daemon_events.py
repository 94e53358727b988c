"""The daemon's event stream, for real: state changes pushed as they happen, resumable, CLI."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import corral
from tests.support.daemon import Daemon, running_daemon
from tests.support.waiting import DEADLINE

PROGRAMS = """
    [programs.web]
    command = ["sleep", "300"]
    start_seconds = 0
"""


def test_the_stream_carries_the_state_changes_of_corral_restart(tmp_path: Path) -> None:
    with running_daemon(tmp_path, PROGRAMS) as daemon:
        before = daemon.wait_state("web:0", "RUNNING")["pid"]
        with daemon.watch() as events:
            result = daemon.cli("restart", "web:0")
            running = events.wait_state("web:0", "RUNNING")
        assert result.exit_code == 0
        assert events.states("web:0") == ["STOPPING", "STOPPED", "STARTING", "RUNNING"]
        stopping = events.seen[0]
        assert stopping["data"]["old"] == "RUNNING"
        assert stopping["data"]["pid"] == before
        assert running["data"]["pid"] == daemon.status()["web:0"]["pid"] != before


def test_resuming_after_a_disconnect_gets_exactly_what_the_ring_holds_after_it(
    tmp_path: Path,
) -> None:
    with running_daemon(tmp_path, PROGRAMS) as daemon:
        with daemon.watch(since=0) as events:
            first = events.wait_state("web:0", "RUNNING")
            assert events.seen[0]["kind"] == "daemon"  # the replay starts at the daemon's start
        assert first["seq"] is not None
        daemon.call("POST", "/stop", {"targets": ["web:0"]})  # while nobody listens
        ring = daemon.call("GET", "/events", since=str(first["seq"]))["events"]
        with daemon.watch(since=first["seq"]) as events:
            events.wait_state("web:0", "STOPPED")
        assert [e["seq"] for e in events.seen] == [e["seq"] for e in ring]
        assert events.states("web:0") == ["STOPPING", "STOPPED"]


def test_corral_events_prints_the_kept_events_as_lines_or_json(tmp_path: Path) -> None:
    with running_daemon(tmp_path, PROGRAMS) as daemon:
        pid = daemon.wait_state("web:0", "RUNNING")["pid"]
        result = daemon.cli("events")
        assert result.exit_code == 0
        lines = result.stdout_text.splitlines()
        assert lines[0].startswith("#1 ")
        assert " daemon message=listening on " in lines[0]
        assert any(f" state web:0 STARTING -> RUNNING pid={pid}  " in line for line in lines)
        reply = json.loads(daemon.cli("events", "--since", "1", "--json").stdout_text)
        assert reply["events"][0]["seq"] == 2
        assert reply["last_seq"] == reply["events"][-1]["seq"]
        bad = daemon.cli("events", "--since", "-1")
        assert (bad.exit_code, bad.stderr_text) == (2, "corral: --since must be >= 0\n")


def test_corral_events_follow_prints_each_event_as_it_happens(tmp_path: Path) -> None:
    with running_daemon(tmp_path, PROGRAMS) as daemon:
        daemon.wait_state("web:0", "RUNNING")
        argv = [sys.executable, "-m", "corral", "events", "-f", "--since", "0"]
        with corral.start(argv, extra_env={"CORRAL_SOCKET": daemon.socket}) as follower:
            replayed = _lines_until(follower, "web:0 STARTING -> RUNNING")  # now subscribed
            assert replayed[0].startswith("#1 ")
            assert daemon.cli("restart", "web:0").exit_code == 0
            live = _lines_until(follower, "web:0 STARTING -> RUNNING")
        changes = [re.findall(r" state web:0 (\w+ -> \w+)", line) for line in live]
        assert changes == [
            ["RUNNING -> STOPPING"],
            ["STOPPING -> STOPPED"],
            ["STOPPED -> STARTING"],
            ["STARTING -> RUNNING"],
        ]


def test_corral_events_follow_json_prints_one_event_object_a_line(tmp_path: Path) -> None:
    with running_daemon(tmp_path, PROGRAMS) as daemon:
        daemon.wait_state("web:0", "RUNNING")
        argv = [sys.executable, "-m", "corral", "events", "-f", "--since", "1", "--json"]
        with corral.start(argv, extra_env={"CORRAL_SOCKET": daemon.socket}) as follower:
            line = follower.readline(timeout=DEADLINE)
        assert line is not None
        event = json.loads(line)
        assert (event["seq"], event["kind"], event["subject"]) == (2, "state", "web:0")
        assert event["data"]["new"] == "STARTING"


def test_corral_events_without_a_daemon_exits_3(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "corral", "events", "-f", "--socket", str(tmp_path / "no.sock")]
    result = corral.run(argv, check=False, timeout=DEADLINE)
    assert result.exit_code == 3
    assert "no.sock" in result.stderr_text


def _lines_until(process: corral.Process, text: str) -> list[str]:
    """Lines the process prints, up to and including the first that contains `text`."""
    lines: list[str] = []
    while not lines or text not in lines[-1]:
        line = process.readline(timeout=DEADLINE)
        assert line is not None, f"the follower ended before printing {text!r}: {lines}"
        lines.append(line.rstrip("\n"))
    return lines


def test_corral_events_follow_sees_the_whole_shutdown_then_exits_0(tmp_path: Path) -> None:
    # The daemon finishes the stream before it closes: the follower gets every event up
    # to "stopped" and a complete reply, so it ends as a finished feed, not a broken one.
    daemon = Daemon(tmp_path, PROGRAMS)
    daemon.start()
    try:
        daemon.wait_state("web:0", "RUNNING")
        argv = [sys.executable, "-m", "corral", "events", "-f", "--since", "0"]
        env = {"CORRAL_SOCKET": daemon.socket}
        with corral.start(argv, extra_env=env, check=False) as follower:
            _lines_until(follower, "web:0 STARTING -> RUNNING")
            assert daemon.cli("shutdown").exit_code == 0
            lines = _lines_until(follower, "daemon message=stopped")
            assert "daemon message=shutting down" in lines[0]
            assert any("web:0 STOPPING -> STOPPED" in line for line in lines)
            result = follower.wait(timeout=DEADLINE)
        assert (result.exit_code, result.stderr_text) == (0, "")
        assert daemon.process is not None
        assert daemon.process.wait(timeout=DEADLINE).exit_code == 0
    finally:
        daemon.kill()
