"""Readiness for real: programs that speak sd_notify and s6's fd protocol to a real daemon.

Each program is a stdlib helper (tests/helpers) sending real datagrams to the
NOTIFY_SOCKET the daemon made for its instance, or writing to its notification fd;
every condition is awaited on the event stream.
"""

from __future__ import annotations

import os
import socket
import stat
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.daemon import SLEEP_FOREVER, helper, running_daemon
from tests.support.events import Event

SYSTEMD_NOTIFY = "/usr/bin/systemd-notify"


def _notify_event(name: str, status: str) -> Callable[[Event], bool]:
    """Matches the `notify` event of `name` that shows `status`."""

    def match(event: Event) -> bool:
        return bool(
            event["kind"] == "notify"
            and event["subject"] == name
            and event["data"]["status"] == status
        )

    return match


def test_a_notify_program_is_running_at_ready_not_after_start_seconds(tmp_path: Path) -> None:
    programs = f"""
        [programs.api]
        command = {helper("notify_ready", "0.3")}
        notify = "sd_notify"
        start_seconds = 0
    """
    with running_daemon(tmp_path, programs) as daemon:
        with daemon.watch(since=0) as events:
            running = events.wait_state("api:0", "RUNNING")
        assert events.states("api:0") == ["STARTING", "STARTING", "RUNNING"]  # start, spawned
        spawned = [e for e in events.seen if e["kind"] == "state"][1]
        assert "running once it says it is ready (within 90 s)" in spawned["data"]["reason"]
        assert running["data"]["reason"] == "said it is ready: running"
        row = daemon.status()["api:0"]
        socket_path = row["notify"]["socket"]
        assert os.path.dirname(socket_path) == os.path.join(
            os.path.dirname(daemon.socket), "notify"
        )
        assert stat.S_IMODE(os.stat(os.path.dirname(socket_path)).st_mode) == 0o700
        assert row["notify"]["protocol"] == "sd_notify"


def test_status_text_is_shown_in_status_the_api_and_the_event_stream(tmp_path: Path) -> None:
    programs = f"""
        [programs.api]
        command = {helper("notify_ready", "0", "loading", "warming up")}
        notify = "sd_notify"
    """
    with running_daemon(tmp_path, programs) as daemon:
        with daemon.watch(since=0) as events:
            events.wait_for(_notify_event("api:0", "serving"), what="STATUS=serving")
        said = [e["data"]["status"] for e in events.seen if e["kind"] == "notify"]
        assert said[:2] == ["loading", "warming up"]
        assert said[-1] == "serving"
        assert daemon.status()["api:0"]["notify"]["status"] == "serving"
        shown = daemon.cli("status").stdout_text
        assert "serving" in shown


def test_a_program_that_stops_pinging_its_watchdog_is_restarted(tmp_path: Path) -> None:
    programs = f"""
        [programs.api]
        command = {helper("notify_watchdog", "3")}
        notify = "sd_notify"
        watchdog = 0.4
        backoff = {{ initial = 0.1 }}
    """
    with running_daemon(tmp_path, programs) as daemon:
        with daemon.watch(since=0) as events:
            first = events.wait_state("api:0", "RUNNING")
            events.wait_for(_notify_event("api:0", "watchdog 400000 us"), what="WATCHDOG_USEC")
            backoff = events.wait_state("api:0", "BACKOFF")
            again = events.wait_state("api:0", "RUNNING", start=events.seen.index(backoff))
        pings = [e for e in events.seen if e["data"].get("reason") == "watchdog ping"]
        assert pings == [], "a ping re-arms the watchdog without a state event"
        ended = [e for e in events.seen if "no watchdog ping for 0.4 s" in str(e["data"])]
        assert ended, "the watchdog's expiry is in the event stream"
        assert backoff["data"]["reason"].startswith("no watchdog ping for 0.4 s; ended (")
        assert again["data"]["pid"] != first["data"]["pid"]
        assert daemon.status()["api:0"]["restarts"] >= 1


def test_not_ready_within_ready_timeout_is_a_failed_start_up_to_the_start_limit(
    tmp_path: Path,
) -> None:
    programs = f"""
        [programs.api]
        command = {helper("notify_never")}
        notify = "sd_notify"
        ready_timeout = 0.3
        backoff = {{ initial = 0.1 }}
        start_limit = {{ burst = 2, interval = 60 }}
    """
    with running_daemon(tmp_path, programs) as daemon:
        with daemon.watch(since=0) as events:
            fatal = events.wait_state("api:0", "FATAL")
        assert [s for s in events.states("api:0") if s != "STARTING"] == ["BACKOFF", "FATAL"]
        backoff = next(
            e for e in events.seen if e["kind"] == "state" and e["data"]["new"] == "BACKOFF"
        )
        assert backoff["data"]["reason"].startswith("not ready within 0.3 s; ended (SIGTERM)")
        assert "start limit hit: 2 starts" in fatal["data"]["reason"]


def test_extend_timeout_usec_gives_a_slow_start_more_time(tmp_path: Path) -> None:
    programs = f"""
        [programs.api]
        command = {helper("notify_never", "1.5")}
        notify = "sd_notify"
        ready_timeout = 0.2
        restart = "never"
    """
    with running_daemon(tmp_path, programs) as daemon:
        with daemon.watch(since=0) as events:
            exited = events.wait_state("api:0", "EXITED", "BACKOFF", "FATAL")
        assert exited["data"]["reason"].startswith("not ready within 0.2 s")
        spawned = next(e for e in events.seen if e["kind"] == "state")
        assert exited["time"] - spawned["time"] >= 1.4, "the extension moved the deadline"


def test_an_s6_program_is_running_once_it_writes_a_newline_to_its_fd(tmp_path: Path) -> None:
    programs = f"""
        [programs.api]
        command = {helper("fd_ready", "0.2")}
        notify = "fd"
    """
    with running_daemon(tmp_path, programs) as daemon:
        with daemon.watch(since=0) as events:
            running = events.wait_state("api:0", "RUNNING")
        assert running["data"]["reason"] == "said it is ready: running"
        row = daemon.status()["api:0"]
        assert row["notify"] == {
            "protocol": "fd",
            "socket": None,
            "status": None,
            "phase": None,
            "main_pid": None,
            "ignored": 0,
            "malformed": 0,
        }


@pytest.mark.skipif(not os.path.exists(SYSTEMD_NOTIFY), reason=f"{SYSTEMD_NOTIFY} is not installed")
def test_systemd_notify_from_the_real_systemd_package_makes_it_ready(tmp_path: Path) -> None:
    script = f'sleep 0.2; {SYSTEMD_NOTIFY} --ready --status="via systemd-notify"; exec sleep 300'
    programs = f"""
        [programs.api]
        command = ["sh", "-c", {_toml(script)}]
        notify = "sd_notify"
    """
    with running_daemon(tmp_path, programs) as daemon:
        with daemon.watch(since=0) as events:
            events.wait_state("api:0", "RUNNING")
        assert daemon.status()["api:0"]["notify"]["status"] == "via systemd-notify"


def test_reloading_and_a_main_pid_in_the_tree_are_shown_as_the_program_says(
    tmp_path: Path,
) -> None:
    program = (
        "import os, socket, subprocess, time\n"
        "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
        "to = os.environ['NOTIFY_SOCKET']\n"
        "child = subprocess.Popen(['sleep', '300'])\n"
        "s.sendto(f'READY=1\\nMAINPID={child.pid}'.encode(), to)\n"
        "s.sendto(b'RELOADING=1\\nSTATUS=reading the config', to)\n"
        "time.sleep(0.2)\n"
        "s.sendto(b'READY=1\\nSTATUS=reloaded', to)\n"
        "child.wait()\n"
    )
    programs = f"""
        [programs.api]
        command = [{_toml(sys.executable)}, "-c", {_toml(program)}]
        notify = "sd_notify"
    """
    with running_daemon(tmp_path, programs) as daemon:
        with daemon.watch(since=0) as events:
            events.wait_for(_notify_event("api:0", "reloaded"), what="STATUS=reloaded")
        said = [e["data"] for e in events.seen if e["kind"] == "notify"]
        main_pid = said[0]["main_pid"]
        assert main_pid is not None
        assert main_pid != daemon.status()["api:0"]["pid"], "the child, not the root"
        assert [(d["phase"], d["status"]) for d in said] == [
            (None, None),
            ("reloading", "reading the config"),
            (None, "reloaded"),
        ]
        assert daemon.status()["api:0"]["notify"]["main_pid"] == main_pid
        assert [s for s in events.states("api:0") if s != "STARTING"] == ["RUNNING"]


def test_barrier_1_is_answered_by_closing_the_fd_it_carried(tmp_path: Path) -> None:
    programs = f"""
        [programs.api]
        command = {helper("notify_barrier")}
        notify = "sd_notify"
    """
    with running_daemon(tmp_path, programs) as daemon:
        daemon.wait_state("api:0", "RUNNING")
        notify = daemon.status()["api:0"]["notify"]
        assert (notify["status"], notify["malformed"], notify["ignored"]) == (
            "barrier passed",
            0,
            0,
        )


def test_a_sender_outside_the_tree_and_malformed_datagrams_are_ignored_and_counted(
    tmp_path: Path,
) -> None:
    programs = f"""
        [programs.api]
        command = {SLEEP_FOREVER}
        notify = "sd_notify"
        ready_timeout = 0
    """
    with running_daemon(tmp_path, programs) as daemon:
        daemon.wait_state("api:0", "STARTING")
        path = daemon.status()["api:0"]["notify"]["socket"]
        with daemon.watch() as events, socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.sendto(b"READY=1", path)  # from the test: not a member of api:0's tree
            stranger = events.wait_for(
                lambda e: e["kind"] == "notify.ignored", what="the stranger ignored"
            )
        assert stranger["data"]["reason"] == f"pid {os.getpid()} is not in its process tree"
        assert stranger["data"]["level"] == "warning"
        row = daemon.status()["api:0"]
        assert (row["state"], row["notify"]["ignored"]) == ("STARTING", 1)


def test_malformed_datagrams_from_the_program_are_counted_never_fatal(tmp_path: Path) -> None:
    sender = (
        "import os, socket, time\n"
        "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
        "to = os.environ['NOTIFY_SOCKET']\n"
        "for bad in (b'\\xff\\xfe', b'READY', b'STATUS=' + b'x' * 5000, b'MAINPID=1'):\n"
        "    s.sendto(bad, to)\n"
        "s.sendto(b'READY=1', to)\n"
        "time.sleep(300)\n"
    )
    programs = f"""
        [programs.api]
        command = [{_toml(sys.executable)}, "-c", {_toml(sender)}]
        notify = "sd_notify"
    """
    with running_daemon(tmp_path, programs) as daemon:
        with daemon.watch(since=0) as events:
            events.wait_state("api:0", "RUNNING")
        reasons = [e["data"]["reason"] for e in events.seen if e["kind"] == "notify.ignored"]
        assert reasons == [
            "not UTF-8",
            "a line without '=': 'READY'",
            "larger than 4096 bytes",
            "MAINPID=1 is not in its process tree",
        ]
        notify = daemon.status()["api:0"]["notify"]
        assert (notify["malformed"], notify["ignored"], notify["main_pid"]) == (3, 1, None)


def _toml(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
