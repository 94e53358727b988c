"""The real supervisorctl drives a corral daemon over /RPC2: each command, its output and
its exit code, and the daemon's state after it (read through corral's own API)."""

from __future__ import annotations

import os
import re
import select
import signal
import sys
import time
from pathlib import Path

import corral
from tests.control.supervisord.conftest import COMPAT, SUPERVISORCTL, ctl, url_of
from tests.support.daemon import Daemon, running_daemon
from tests.support.waiting import DEADLINE

UPTIME = re.compile(r"pid (\d+), uptime \d+:\d\d:\d\d$")


def rows(text: str) -> dict[str, tuple[str, str]]:
    """supervisorctl status lines as name -> (state, description)."""
    found = {}
    for line in text.splitlines():
        name, state, *rest = line.split(None, 2)
        found[name] = (state, rest[0] if rest else "")
    return found


def test_status_lists_every_instance_as_group_colon_index_with_pid_and_uptime(
    compat_daemon: Daemon,
) -> None:
    result = ctl(url_of(compat_daemon), "status")
    listed = rows(result.stdout_text)
    assert list(listed) == ["manual:0", "one:0", "web:0", "web:1"]  # sorted, as supervisord
    assert listed["manual:0"] == ("STOPPED", "Not started")
    status = compat_daemon.status()
    for name in ("one:0", "web:0", "web:1"):
        state, description = listed[name]
        match = UPTIME.match(description)
        assert state == "RUNNING"
        assert match, description
        assert int(match.group(1)) == status[name]["pid"]
    assert result.exit_code == 3  # a stopped process is listed: LSB "not running"


def test_status_of_running_names_exits_0_and_of_an_unknown_name_exits_4(
    compat_daemon: Daemon,
) -> None:
    url = url_of(compat_daemon)
    running = ctl(url, "status", "web:*", "one:0")
    assert list(rows(running.stdout_text)) == ["web:0", "web:1", "one:0"]
    assert running.exit_code == 0
    unknown = ctl(url, "status", "nosuch:0")
    assert unknown.stdout_text == "nosuch:0: ERROR (no such process)\n"
    assert unknown.exit_code == 4


def test_stop_start_and_restart_go_through_corrals_operations(compat_daemon: Daemon) -> None:
    url = url_of(compat_daemon)
    old_pid = compat_daemon.status()["web:1"]["pid"]
    stopped = ctl(url, "stop", "web:1")
    assert (stopped.stdout_text, stopped.exit_code) == ("web:1: stopped\n", 0)
    assert compat_daemon.state("web:1") == "STOPPED"
    again = ctl(url, "stop", "web:1")
    assert again.stdout_text == "web:1: ERROR (not running)\n"
    started = ctl(url, "start", "web:1")
    assert (started.stdout_text, started.exit_code) == ("web:1: started\n", 0)
    assert compat_daemon.state("web:1") == "RUNNING"
    assert ctl(url, "start", "web:1").stdout_text == "web:1: ERROR (already started)\n"
    restarted = ctl(url, "restart", "web:*")
    assert restarted.stdout_text.splitlines() == [
        "web:0: stopped",
        "web:1: stopped",
        "web:0: started",
        "web:1: started",
    ]
    assert compat_daemon.status()["web:1"]["pid"] not in (None, old_pid)


def test_start_of_an_unknown_name_is_an_error_with_exit_1(compat_daemon: Daemon) -> None:
    result = ctl(url_of(compat_daemon), "start", "web:7")
    assert (result.stdout_text, result.exit_code) == ("web:7: ERROR (no such process)\n", 1)


def test_signal_reaches_the_instances_process(compat_daemon: Daemon) -> None:
    url = url_of(compat_daemon)
    result = ctl(url, "signal", "USR1", "web:0")
    assert (result.stdout_text, result.exit_code) == ("web:0: signalled\n", 0)
    log = compat_daemon.log_path("web:0")
    deadline = time.monotonic() + DEADLINE
    while b"got USR1" not in log.read_bytes():
        assert time.monotonic() < deadline, "the program never printed that it got USR1"
        time.sleep(0.05)
    assert compat_daemon.state("web:0") == "RUNNING"  # trapped: it runs on
    bad = ctl(url, "signal", "NOSUCH", "web:0")
    assert bad.stdout_text == "web:0: ERROR (bad signal name)\n"
    assert bad.exit_code == 1


def test_pid_is_the_daemons_and_each_instances(compat_daemon: Daemon) -> None:
    url = url_of(compat_daemon)
    assert ctl(url, "pid").stdout_text == f"{compat_daemon.process.pid}\n"  # type: ignore[union-attr]
    one = ctl(url, "pid", "one:0")
    assert one.stdout_text == f"{compat_daemon.status()['one:0']['pid']}\n"
    manual = ctl(url, "pid", "manual:0")
    assert (manual.stdout_text, manual.exit_code) == ("0\n", 7)


def test_tail_reads_stdout_or_stderr(compat_daemon: Daemon) -> None:
    url = url_of(compat_daemon)
    assert ctl(url, "tail", "web:1").stdout_text == "hello from web:1\n\n"
    assert ctl(url, "tail", "one:0", "stderr").stdout_text == "one says hi\n\n"
    assert ctl(url, "tail", "-5", "one:0", "stderr").stdout_text == "s hi\n\n"


def test_clear_empties_an_instances_logs(compat_daemon: Daemon) -> None:
    url = url_of(compat_daemon)
    cleared = ctl(url, "clear", "web:1")
    assert (cleared.stdout_text, cleared.exit_code) == ("web:1: cleared\n", 0)
    assert compat_daemon.log_path("web:1").read_bytes() == b""
    assert ctl(url, "tail", "nosuch:0").stdout_text == "nosuch:0: ERROR (no such process name)\n"


def test_tail_f_follows_what_the_program_writes(compat_daemon: Daemon) -> None:
    url = url_of(compat_daemon)
    read, write = os.pipe()
    try:
        follower = corral.start(
            [SUPERVISORCTL, "-s", url, "tail", "-f", "web:0"], stdout=write, stderr="devnull"
        )
    finally:
        os.close(write)
    with follower:
        seen = b""
        try:
            seen = _read_until(read, b"hello from web:0")  # the head: what was written before
            ctl(url, "signal", "USR1", "web:0")
            seen = _read_until(read, b"got USR1", seen)  # written after tail -f began
        finally:
            follower.send_signal(signal.SIGINT)  # as Ctrl-C ends it
            follower.wait(timeout=DEADLINE)
            os.close(read)
    assert b"==> Press Ctrl-C to exit <==" in seen


def _read_until(fd: int, wanted: bytes, seen: bytes = b"") -> bytes:
    deadline = time.monotonic() + DEADLINE
    while wanted not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"never saw {wanted!r}; saw {seen!r}"
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            chunk = os.read(fd, 4096)
            assert chunk, f"supervisorctl ended before {wanted!r}; saw {seen!r}"
            seen += chunk
    return seen


def test_maintail_shows_the_daemons_event_lines(compat_daemon: Daemon) -> None:
    url = url_of(compat_daemon)
    ctl(url, "stop", "one:0")
    text = ctl(url, "maintail").stdout_text
    assert re.search(r"\d\d:\d\d:\d\d one:0 STOPPING -> STOPPED", text), text
    assert len(ctl(url, "maintail", "-20").stdout_text) == 21  # 20 bytes and a newline


def test_version_is_corrals(compat_daemon: Daemon) -> None:
    result = ctl(url_of(compat_daemon), "version")
    assert (result.stdout_text, result.exit_code) == (f"{corral.__version__}\n", 0)


def test_avail_lists_what_the_config_has(compat_daemon: Daemon) -> None:
    lines = ctl(url_of(compat_daemon), "avail").stdout_text.splitlines()
    assert [line.split() for line in lines] == [  # by priority, then name
        ["manual:0", "in", "use", "manual", "999:999"],
        ["one:0", "in", "use", "auto", "999:999"],
        ["web:0", "in", "use", "auto", "999:999"],
        ["web:1", "in", "use", "auto", "999:999"],
    ]


ADDED = """
[programs.late]
command = ["sleep", "300"]
start_seconds = 0.2
"""


def test_reread_reports_the_diff_and_changes_nothing(compat_daemon: Daemon) -> None:
    url = url_of(compat_daemon)
    assert ctl(url, "reread").stdout_text == "No config updates to processes\n"
    _rewrite(compat_daemon, lambda text: text.replace("numprocs = 2", "numprocs = 3") + ADDED)
    result = ctl(url, "reread")
    assert (result.stdout_text, result.exit_code) == ("late: available\nweb: changed\n", 0)
    assert sorted(compat_daemon.status()) == ["manual:0", "one:0", "web:0", "web:1"]
    avail = [line.split() for line in ctl(url, "avail").stdout_text.splitlines()]
    assert ["late:0", "avail", "auto", "999:999"] in avail


def test_add_starts_one_reread_group_and_leaves_the_others(compat_daemon: Daemon) -> None:
    url = url_of(compat_daemon)
    web_pids = {n: compat_daemon.status()[n]["pid"] for n in ("web:0", "web:1")}
    _rewrite(compat_daemon, lambda text: text.replace("numprocs = 2", "numprocs = 3") + ADDED)
    ctl(url, "reread")
    added = ctl(url, "add", "late")
    assert (added.stdout_text, added.exit_code) == ("late: added process group\n", 0)
    status = compat_daemon.status()
    assert status["late:0"]["state"] == "RUNNING"
    assert {n: status[n]["pid"] for n in web_pids} == web_pids  # web's change waits
    assert "web:2" not in status
    assert ctl(url, "add", "late").stdout_text == "ERROR: process group already active\n"
    assert ctl(url, "add", "nosuch").stdout_text == "ERROR: no such process/group: nosuch\n"


def test_remove_needs_the_group_stopped_then_forgets_it(compat_daemon: Daemon) -> None:
    url = url_of(compat_daemon)
    busy = ctl(url, "remove", "one")
    assert (busy.stdout_text, busy.exit_code) == ("ERROR: process/group still running: one\n", 1)
    ctl(url, "stop", "one:*")
    removed = ctl(url, "remove", "one")
    assert (removed.stdout_text, removed.exit_code) == ("one: removed process group\n", 0)
    assert "one:0" not in compat_daemon.status()
    assert ctl(url, "reread").stdout_text == "one: available\n"  # still in the file


def test_update_applies_the_whole_diff(compat_daemon: Daemon) -> None:
    url = url_of(compat_daemon)
    one_pid = compat_daemon.status()["one:0"]["pid"]
    _rewrite(
        compat_daemon,
        lambda text: (
            text.replace("numprocs = 2", "numprocs = 3").replace(
                '[programs.manual]\ncommand = ["sleep", "300"]\nautostart = false\n'
                "start_seconds = 0.2\n",
                "",
            )
            + ADDED
        ),
    )
    result = ctl(url, "update")
    assert result.stdout_text.splitlines() == [
        "manual: stopped",
        "manual: removed process group",
        "web: stopped",
        "web: updated process group",
        "late: added process group",
    ]
    assert result.exit_code == 0
    status = compat_daemon.status()
    assert sorted(status) == ["late:0", "one:0", "web:0", "web:1", "web:2"]
    assert all(status[n]["state"] == "RUNNING" for n in status)
    assert status["one:0"]["pid"] == one_pid  # unchanged: untouched


def test_reload_rereads_the_config_and_restarts_every_program(compat_daemon: Daemon) -> None:
    url = url_of(compat_daemon)
    before = {n: row["pid"] for n, row in compat_daemon.status().items()}
    _rewrite(compat_daemon, lambda text: text + ADDED)
    with compat_daemon.watch() as events:
        result = ctl(url, "reload")
        assert (result.stdout_text, result.exit_code) == ("Restarted supervisord\n", 0)
        for name in ("web:0", "web:1", "one:0", "late:0"):
            events.wait_state(name, "RUNNING")
    after = compat_daemon.status()
    for name in ("web:0", "web:1", "one:0"):
        assert after[name]["pid"] not in (None, before[name])
    assert after["manual:0"]["state"] == "STOPPED"  # not autostart: left stopped


def test_shutdown_stops_the_daemon(compat_daemon: Daemon) -> None:
    url = url_of(compat_daemon)
    result = ctl(url, "shutdown")
    assert (result.stdout_text, result.exit_code) == ("Shut down\n", 0)
    assert compat_daemon.process is not None
    assert compat_daemon.process.wait(timeout=DEADLINE * 2).exit_code == 0
    gone = ctl(url, "status")
    assert (gone.stdout_text, gone.exit_code) == (f"{url} no such file\n", 4)


def test_children_see_supervisors_environment(compat_daemon: Daemon) -> None:
    environ = Path(f"/proc/{compat_daemon.status()['web:1']['pid']}/environ").read_bytes()
    variables = dict(item.split("=", 1) for item in environ.decode().split("\0") if "=" in item)
    assert variables["SUPERVISOR_ENABLED"] == "1"
    assert variables["SUPERVISOR_GROUP_NAME"] == "web"
    assert variables["SUPERVISOR_PROCESS_NAME"] == "1"
    assert variables["SUPERVISOR_SERVER_URL"] == url_of(compat_daemon)


CHILDUTILS = """
import os
from supervisor import childutils
rpc = childutils.getRPCInterface(os.environ)
name = os.environ["SUPERVISOR_GROUP_NAME"] + ":" + os.environ["SUPERVISOR_PROCESS_NAME"]
info = rpc.supervisor.getProcessInfo(name)
print("childutils:", info["group"], info["name"], info["pid"] == os.getpid(), flush=True)
"""


def test_supervisor_childutils_talks_to_the_daemon_from_inside_a_program(
    tmp_path: Path,
) -> None:
    script = tmp_path / "child.py"
    script.write_text(CHILDUTILS)
    program = f"""
[programs.asks]
command = ["{sys.executable}", "{script}"]
restart = "never"
start_seconds = 0
"""
    with running_daemon(tmp_path, COMPAT + program) as daemon:
        daemon.wait_state("asks:0", "EXITED")
        assert daemon.log_path("asks:0").read_text().endswith("childutils: asks 0 True\n")


def _rewrite(daemon: Daemon, change: object) -> None:
    assert callable(change)
    text = daemon.config.read_text()
    changed = change(text)
    assert changed != text
    daemon.config.write_text(changed)
