"""supervisord event listeners: a real daemon feeds `[listeners.NAME]` processes.

The listener is written with supervisor's own `childutils.listener` (4.3.0, from PyPI,
the `dev` extra): it appends each header and payload to a file, and answers OK, or
FAIL for the first event while a marker file exists (then the daemon sends it again).
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

from tests.supervisor.config.parsing import config_error
from tests.support.daemon import Daemon, running_daemon
from tests.support.waiting import wait_until

LISTENER = """
import os, sys
from supervisor import childutils

out, fail = sys.argv[1], sys.argv[2]
while True:
    headers, payload = childutils.listener.wait(sys.stdin, sys.stdout)
    line = " ".join(f"{k}:{v}" for k, v in sorted(headers.items())) + " | " + payload
    with open(out, "a") as f:
        f.write(f"pid:{os.getpid()} " + line + "\\n")
    if os.path.exists(fail):
        os.unlink(fail)
        childutils.listener.fail(sys.stdout)
    else:
        childutils.listener.ok(sys.stdout)
"""


def _config(tmp_path: Path) -> tuple[str, Path, Path]:
    script = tmp_path / "listener.py"
    script.write_text(LISTENER)
    out, fail = tmp_path / "events.txt", tmp_path / "fail-next"
    programs = f"""
    [programs.crash]
    command = ["sh", "-c", "echo $$ > {tmp_path}/crash.pid; sleep 0.3; exit 3"]
    autostart = false
    start_seconds = 0.1
    restart = "never"

    [listeners.watch]
    command = ["{sys.executable}", "{script}", "{out}", "{fail}"]
    events = ["PROCESS_STATE_EXITED", "PROCESS_STATE_RUNNING"]
    """
    return programs, out, fail


def _lines(out: Path, *needles: str) -> list[str]:
    text = out.read_text() if out.exists() else ""
    return [line for line in text.splitlines() if all(n in line for n in needles)]


def _at_least(count: int, out: Path, needle: str) -> list[str]:
    """The lines with `needle` once there are `count` of them; [] until then."""
    found = _lines(out, needle)
    return found if len(found) >= count else []


def _crash(daemon: Daemon) -> None:
    daemon.call("POST", "/start", {"targets": ["crash:0"]})
    daemon.wait_state("crash:0", "EXITED")


def test_an_exit_reaches_the_listener_with_supervisords_fields(tmp_path: Path) -> None:
    programs, out, _ = _config(tmp_path)
    with running_daemon(tmp_path, programs) as daemon:
        _crash(daemon)
        [line] = wait_until(
            lambda: _lines(out, "eventname:PROCESS_STATE_EXITED"), what="the EXITED event"
        )
        pid = (tmp_path / "crash.pid").read_text().strip()
        assert "| processname:0 groupname:crash from_state:RUNNING expected:0 " in line
        assert line.endswith(f"pid:{pid}")
        for header in ("ver:3.0", "server:corral", "pool:watch", "poolserial:", "len:"):
            assert f" {header}" in line, line
        assert _lines(out, "eventname:PROCESS_STATE_RUNNING", "groupname:crash")


def test_a_failed_event_is_sent_again(tmp_path: Path) -> None:
    programs, out, fail = _config(tmp_path)
    fail.touch()
    with running_daemon(tmp_path, programs) as daemon:
        _crash(daemon)
        running = wait_until(
            lambda: _at_least(2, out, "PROCESS_STATE_RUNNING"), what="the RUNNING event twice"
        )
        first, again = running[0], running[1]
        serial = [f for f in first.split() if f.startswith("serial:")]
        assert serial == [f for f in again.split() if f.startswith("serial:")]
        assert not fail.exists()


def test_a_killed_listener_is_started_again_and_keeps_receiving(tmp_path: Path) -> None:
    programs, out, _ = _config(tmp_path)
    with running_daemon(tmp_path, programs) as daemon:
        _crash(daemon)
        [first] = wait_until(lambda: _lines(out, "PROCESS_STATE_EXITED"), what="first exit")
        pid = int(first.split()[0].removeprefix("pid:"))
        os.kill(pid, signal.SIGKILL)
        wait_until(
            lambda: any(e["data"].get("message") == "started" for e in daemon.events("listener")
                        if e["data"].get("pid") not in (None, pid)),
            what="the listener started again",
        )  # fmt: skip
        _crash(daemon)
        lines = wait_until(
            lambda: _at_least(2, out, "PROCESS_STATE_EXITED"), what="the second exit"
        )
        assert not lines[1].startswith(f"pid:{pid} ")


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ('events = ["PROCESS_STATE_EXITD"]', "listeners.w.events[0]"),
        ("buffer_size = 0", "listeners.w.buffer_size"),
    ],
)
def test_a_bad_listener_table_is_refused_at_its_key(line: str, key: str) -> None:
    rest = [] if line.startswith("events") else ['events = ["PROCESS_STATE"]']
    text = str(config_error("[listeners.w]", 'command = ["cat"]', line, *rest))
    assert text.startswith(f"/etc/corral.toml:3: {key}: expected"), text


def test_an_unknown_event_name_is_refused_with_a_suggestion() -> None:
    text = str(config_error("[listeners.w]", 'command = ["cat"]', 'events = ["TICK_50"]'))
    assert text.startswith("/etc/corral.toml:3: listeners.w.events[0]: expected one of"), text
    assert text.endswith("got 'TICK_50'; did you mean TICK_5?"), text


CRASHMAIL = str(Path(sys.executable).parent / "crashmail")


def test_superlances_crashmail_runs_unmodified_and_mails_the_crash(tmp_path: Path) -> None:
    mail = tmp_path / "mail.txt"
    sendmail = tmp_path / "sendmail"  # stands in for /usr/sbin/sendmail: no mail server here
    sendmail.write_text(f"#!/bin/sh\ncat >> {mail}\n")
    sendmail.chmod(0o755)
    programs = f"""
    [programs.crash]
    command = ["sh", "-c", "echo $$ > {tmp_path}/crash.pid; sleep 0.3; exit 3"]
    autostart = false
    start_seconds = 0.1
    restart = "never"

    [listeners.crashmail]
    command = ["{CRASHMAIL}", "-a", "-m", "ops@example.com", "-s", "{sendmail}"]
    events = ["PROCESS_STATE"]
    """
    with running_daemon(tmp_path, programs) as daemon:
        _crash(daemon)
        text = wait_until(
            lambda: mail.read_text() if mail.exists() else "", what="crashmail's mail"
        )
        pid = (tmp_path / "crash.pid").read_text().strip()
        assert "To: ops@example.com" in text, text
        assert "Subject:  0 crashed at" in text, text
        assert (
            f"Process 0 in group crash exited unexpectedly (pid {pid}) from state RUNNING" in text
        ), text


def test_a_full_buffer_drops_its_oldest_event_and_says_so(tmp_path: Path) -> None:
    programs = """
    [programs.crash]
    command = ["sh", "-c", "sleep 0.3; exit 3"]
    autostart = false
    start_seconds = 0.1
    restart = "never"

    [listeners.deaf]
    command = ["sleep", "300"]  # never READY: nothing leaves its buffer
    events = ["PROCESS_STATE"]
    buffer_size = 1
    """
    with running_daemon(tmp_path, programs) as daemon:
        _crash(daemon)
        # the EXITED event is in: the one before it (RUNNING) and STARTING were pushed out
        events = daemon.events("listener.dropped")
        assert [e["data"]["eventname"] for e in events][-2:] == [
            "PROCESS_STATE_STARTING",
            "PROCESS_STATE_RUNNING",
        ]
        assert {e["subject"] for e in events} == {"deaf"}
        assert "buffer of 1 full" in events[-1]["data"]["message"]
