"""The daemon, for real: programs started, restarted, stopped (whole trees), logged, reloaded."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.support.daemon import Daemon, helper, running_daemon
from tests.support.pids import children_of, read_stat, watch
from tests.support.waiting import wait_until

SLEEPER = '["sleep", "300"]'


def _log_text(daemon: Daemon, instance: str, stream: str = "stdout") -> str:
    path = daemon.log_path(instance, stream)
    return path.read_text(errors="replace") if path.exists() else ""


def _entered(daemon: Daemon, state: str) -> list[dict[str, object]]:
    return [e for e in daemon.events() if e["data"]["new"] == state and e["data"]["old"] != state]


def test_autostart_programs_come_up_running_with_their_status(tmp_path: Path) -> None:
    programs = f"""
        [programs.sleeper]
        command = {SLEEPER}
        numprocs = 2
        start_seconds = 0
    """
    with running_daemon(tmp_path, programs) as daemon:
        for name in ("sleeper:0", "sleeper:1"):
            row = daemon.wait_state(name, "RUNNING")
            assert row["program"] == "sleeper"
            assert isinstance(row["pid"], int)
            assert read_stat(row["pid"]) is not None
            assert row["restarts"] == 0
            assert row["uptime"] >= 0
            assert row["memory_rss"] > 0
            assert row["processes"] == 1
        deaths = watch(daemon.status()[n]["pid"] for n in ("sleeper:0", "sleeper:1"))
    with deaths:
        deaths.assert_dead()


def test_programs_start_in_priority_order(tmp_path: Path) -> None:
    programs = f"""
        [programs.late]
        command = {SLEEPER}
        priority = 30
        start_seconds = 0
        [programs.early]
        command = {SLEEPER}
        priority = 10
        start_seconds = 0
        [programs.middle]
        command = {SLEEPER}
        priority = 20
        start_seconds = 0
    """
    with running_daemon(tmp_path, programs) as daemon:
        for name in ("early:0", "middle:0", "late:0"):
            daemon.wait_state(name, "RUNNING")
        starts = [e["subject"] for e in _entered(daemon, "STARTING")]
        assert starts == ["early:0", "middle:0", "late:0"]
        with daemon.watch() as events:
            daemon.call("POST", "/stop", {"targets": ["all"]})
            for name in ("early:0", "middle:0", "late:0"):
                events.wait_state(name, "STOPPED")
        stops = [e["subject"] for e in events.seen if e["data"]["new"] == "STOPPING"]
        assert stops == ["late:0", "middle:0", "early:0"]


def test_a_missing_executable_is_fatal_with_the_reason_and_others_keep_running(
    tmp_path: Path,
) -> None:
    programs = f"""
        [programs.typo]
        command = ["no-such-program-xyz"]
        [programs.fine]
        command = {SLEEPER}
        start_seconds = 0
    """
    with running_daemon(tmp_path, programs) as daemon:
        row = daemon.wait_state("typo:0", "FATAL")
        assert "no-such-program-xyz" in row["reason"]
        assert "not found" in row["reason"]
        assert daemon.wait_state("fine:0", "RUNNING")["pid"] is not None


def test_a_crashing_program_is_restarted_then_fatal_at_the_start_limit(tmp_path: Path) -> None:
    programs = """
        [programs.crash]
        command = ["sh", "-c", "echo started; exit 3"]
        start_seconds = 0
        backoff = { initial = 0, factor = 1, max = 0, jitter = 0 }
        start_limit = { burst = 3, interval = 600 }
    """
    with running_daemon(tmp_path, programs) as daemon:
        row = daemon.wait_state("crash:0", "FATAL")
        assert row["restarts"] == 2
        assert row["last_exit"] == "exit 3"
        assert "start limit" in row["reason"]
        wait_until(
            lambda: _log_text(daemon, "crash:0").count("started") == 3,
            what="three starts logged",
        )


def test_an_expected_exit_is_not_restarted_on_failure(tmp_path: Path) -> None:
    programs = """
        [programs.once]
        command = ["sh", "-c", "echo done"]
        start_seconds = 0
        restart = "on-failure"
    """
    with running_daemon(tmp_path, programs) as daemon:
        row = daemon.wait_state("once:0", "EXITED")
        assert row["last_exit"] == "exit 0"
        assert row["restarts"] == 0


def test_stop_ends_the_whole_tree_including_a_double_forked_grandchild(tmp_path: Path) -> None:
    programs = f"""
        [programs.forker]
        command = {helper("double_fork")}
        start_seconds = 0
        logs = {{ timestamps = false }}
    """
    with running_daemon(tmp_path, programs) as daemon:
        daemon.wait_state("forker:0", "RUNNING")

        def report() -> str:
            text = _log_text(daemon, "forker:0")
            return text if "ready" in text else ""

        text = wait_until(report, what="the double-forking helper's report")
        grandchild = int(text.split()[-2])
        root = daemon.status()["forker:0"]["pid"]
        stat, root_stat = read_stat(grandchild), read_stat(root)
        assert stat is not None
        assert root_stat is not None
        assert stat.sid != root_stat.sid
        with watch([root, grandchild]) as deaths:
            reply = daemon.call("POST", "/stop", {"targets": ["forker"]})
            assert reply["results"][0]["state"] == "STOPPED"
            deaths.assert_dead()


def test_a_restart_first_kills_what_the_exited_process_left_outside_its_group(
    tmp_path: Path,
) -> None:
    # The root exits and leaves a setsid'd grandchild (its marker, another group):
    # before the restart replaces the tree, the old tree's strays are killed, as
    # systemd's control-group kill mode does, so none runs on untracked.
    programs = f"""
        [programs.leaver]
        command = {helper("double_fork", "--root-exits", "--detach")}
        start_seconds = 0
        restart = "always"
        backoff = {{ initial = 0.5, jitter = 0 }}
        logs = {{ timestamps = false }}
    """
    with running_daemon(tmp_path, programs) as daemon:

        def first_report() -> list[str]:
            return _log_text(daemon, "leaver:0").partition("ready")[0].split()

        text = wait_until(first_report, what="the first run's report of its grandchild")
        grandchild = int(text[0])
        with watch([grandchild], must_be_alive=False) as deaths:
            deaths.assert_dead()
        daemon.wait_state("leaver:0", "BACKOFF")  # it goes on restarting meanwhile


def test_stop_escalates_to_sigkill_after_the_stop_timeout(tmp_path: Path) -> None:
    programs = f"""
        [programs.stubborn]
        command = {helper("trap_term", "ignore")}
        start_seconds = 0
        stop_timeout = 0.2
    """
    with running_daemon(tmp_path, programs) as daemon:
        daemon.wait_state("stubborn:0", "RUNNING")
        wait_until(lambda: "ready" in _log_text(daemon, "stubborn:0"), what="trap installed")
        daemon.call("POST", "/stop", {"targets": ["stubborn:0"]})
        row = daemon.status()["stubborn:0"]
        assert row["state"] == "STOPPED"
        assert row["last_exit"] == "SIGKILL"


def test_orphans_adopted_by_the_daemon_are_reaped(tmp_path: Path) -> None:
    script = "sh -c 'sleep 0 & exit 0' & wait; echo spawned; exec sleep 300"
    programs = f"""
        [programs.parent]
        command = ["sh", "-c", "{script}"]
        start_seconds = 0
    """
    with running_daemon(tmp_path, programs) as daemon:
        daemon.wait_state("parent:0", "RUNNING")
        wait_until(lambda: "spawned" in _log_text(daemon, "parent:0"), what="orphan made")
        assert daemon.process is not None
        daemon_pid = daemon.process.pid
        wait_until(
            lambda: not [s for s in children_of(daemon_pid) if s.state == "Z"],
            what="no zombie children of the daemon",
        )


def test_output_goes_to_log_files_with_timestamps_and_logs_serves_it(tmp_path: Path) -> None:
    programs = """
        [programs.talker]
        command = ["sh", "-c", "echo out-line; echo err-line >&2; printf partial; exec sleep 300"]
        start_seconds = 0
        [programs.plain]
        command = ["sh", "-c", "echo bare; exec sleep 300"]
        start_seconds = 0
        logs = { timestamps = false }
    """
    with running_daemon(tmp_path, programs) as daemon:
        wait_until(lambda: "out-line" in _log_text(daemon, "talker:0"), what="stdout logged")
        wait_until(lambda: "err-line" in _log_text(daemon, "talker:0", "stderr"), what="stderr")
        wait_until(lambda: _log_text(daemon, "plain:0") == "bare\n", what="untimestamped line")
        first = _log_text(daemon, "talker:0").splitlines()[0]
        assert first.endswith(" out-line")
        assert first[:4].isdigit()
        reply = daemon.call("GET", "/logs/talker:0", lines="5", stream="stderr")
        assert [line.split(" ", 1)[1] for line in reply["lines"]] == ["err-line"]


def test_a_flooding_program_loses_no_line_and_does_not_stall_the_api(tmp_path: Path) -> None:
    lines = 200_000
    programs = f"""
        [programs.flood]
        command = ["sh", "-c", "seq 1 {lines}; exec sleep 300"]
        start_seconds = 0
        logs = {{ timestamps = false, max_bytes = 0 }}
        [programs.quiet]
        command = {SLEEPER}
        start_seconds = 0
    """
    with running_daemon(tmp_path, programs) as daemon:
        daemon.wait_state("quiet:0", "RUNNING")
        assert daemon.status()["quiet:0"]["state"] == "RUNNING"
        wait_until(
            lambda: _log_text(daemon, "flood:0").endswith(f"\n{lines}\n"),
            what="every flooded line logged",
        )
        numbers = _log_text(daemon, "flood:0").split()
        assert numbers == [str(n) for n in range(1, lines + 1)]


def test_logs_rotate_by_size_keeping_backups(tmp_path: Path) -> None:
    programs = """
        [programs.chatty]
        command = ["sh", "-c", "seq 1 5000; exec sleep 300"]
        start_seconds = 0
        logs = { timestamps = false, max_bytes = 4096, backups = 2 }
    """
    with running_daemon(tmp_path, programs) as daemon:
        path = daemon.log_path("chatty:0")
        wait_until(lambda: _log_text(daemon, "chatty:0").endswith("\n5000\n"), what="last line")
        rotated = sorted(p.name for p in path.parent.glob(path.name + ".*"))
        assert rotated == [path.name + ".1", path.name + ".2"]
        for file in [path, *(path.parent / name for name in rotated)]:
            assert file.stat().st_size <= 4096


def test_signal_reaches_the_program(tmp_path: Path) -> None:
    programs = f"""
        [programs.hup]
        command = {helper("trap_term", "exit", "SIGHUP")}
        start_seconds = 0
    """
    with running_daemon(tmp_path, programs) as daemon:
        daemon.wait_state("hup:0", "RUNNING")
        wait_until(lambda: "ready" in _log_text(daemon, "hup:0"), what="trap installed")
        reply = daemon.call("POST", "/signal", {"signal": "HUP", "targets": ["hup"]})
        assert reply["results"][0]["ok"] is True
        wait_until(lambda: "got SIGHUP" in _log_text(daemon, "hup:0"), what="signal handled")


def test_reload_applies_only_the_difference(tmp_path: Path) -> None:
    before = f"""
        [programs.keep]
        command = {SLEEPER}
        start_seconds = 0
        [programs.change]
        command = {SLEEPER}
        start_seconds = 0
        [programs.remove]
        command = {SLEEPER}
        start_seconds = 0
    """
    after = f"""
        [programs.keep]
        command = {SLEEPER}
        start_seconds = 0
        [programs.change]
        command = ["sleep", "301"]
        start_seconds = 0
        [programs.add]
        command = {SLEEPER}
        start_seconds = 0
    """
    with running_daemon(tmp_path, before) as daemon:
        pids = {n: daemon.wait_state(n, "RUNNING")["pid"] for n in ("keep:0", "change:0")}
        removed_pid = daemon.wait_state("remove:0", "RUNNING")["pid"]
        daemon.write_config(after)
        with watch([removed_pid, pids["change:0"]]) as deaths:
            reply = daemon.call("POST", "/reload")
            deaths.assert_dead()
        assert reply["added"] == ["add"]
        assert reply["removed"] == ["remove"]
        assert reply["changed"] == ["change"]
        status = daemon.status()
        assert status["keep:0"]["pid"] == pids["keep:0"]
        assert status["change:0"]["state"] == "RUNNING"
        assert status["change:0"]["pid"] != pids["change:0"]
        assert status["add:0"]["state"] == "RUNNING"
        assert "remove:0" not in status


def test_a_bad_reload_keeps_the_running_config(tmp_path: Path) -> None:
    programs = f"""
        [programs.keep]
        command = {SLEEPER}
        start_seconds = 0
    """
    with running_daemon(tmp_path, programs) as daemon:
        pid = daemon.wait_state("keep:0", "RUNNING")["pid"]
        daemon.write_config(programs + '\n        restart = "sometimes"\n')
        result = daemon.cli("reload")
        assert result.exit_code == 2
        assert "restart" in result.stderr_text
        assert "corral.toml" in result.stderr_text
        assert daemon.status()["keep:0"]["pid"] == pid


def test_sigterm_stops_every_program_and_the_daemon_exits_cleanly(tmp_path: Path) -> None:
    programs = f"""
        [programs.a]
        command = {SLEEPER}
        numprocs = 3
        start_seconds = 0
    """
    daemon = Daemon(tmp_path, programs)
    daemon.start()
    try:
        pids = [daemon.wait_state(f"a:{i}", "RUNNING")["pid"] for i in range(3)]
        assert daemon.process is not None
        with watch(pids) as deaths:
            daemon.process.send_signal(signal.SIGTERM)
            result = daemon.process.wait(timeout=60)
            deaths.assert_dead()
        assert result.exit_code == 0
        assert not os.path.exists(daemon.socket)
    finally:
        daemon.kill()


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('restart = "sometimes"', "restart"),
        ("comand = ['x']", "did you mean"),
    ],
)
def test_a_bad_config_stops_the_daemon_from_starting(
    tmp_path: Path, text: str, fragment: str
) -> None:
    daemon = Daemon(tmp_path, f"[programs.p]\ncommand = {SLEEPER}\n{text}\n")
    result = daemon.cli("daemon", "-c", str(daemon.config))
    assert result.exit_code == 2
    assert str(daemon.config) in result.stderr_text
    assert fragment in result.stderr_text


def test_the_api_keeps_answering_while_a_program_floods_without_pause(tmp_path: Path) -> None:
    programs = f"""
        [programs.yes]
        command = ["yes", "flood flood flood flood flood flood flood flood"]
        start_seconds = 0
        logs = {{ timestamps = true, max_bytes = "1M", backups = 1 }}
        [programs.quiet]
        command = {SLEEPER}
        start_seconds = 0
    """
    with running_daemon(tmp_path, programs) as daemon:
        daemon.wait_state("yes:0", "RUNNING")
        wait_until(lambda: daemon.log_path("yes:0").with_suffix(".log.1").exists(), what="rotation")
        for _ in range(20):
            assert daemon.status()["quiet:0"]["state"] == "RUNNING"
        reply = daemon.call("POST", "/stop", {"targets": ["yes"]})
        assert reply["results"][0]["state"] == "STOPPED"
        words = "flood flood flood flood flood flood flood flood"
        *whole, last = daemon.call("GET", "/logs/yes:0", lines="3")["lines"]
        assert [line.split(" ", 1)[1] for line in whole] == [words, words]
        assert words.startswith(last.split(" ", 1)[1])  # SIGTERM may cut the last line short


_LISTER = """
        [programs.lister]
        command = ["sh", "-c", "ls /proc/$$/fd; echo listed; exec sleep 300"]
        start_seconds = 0
        priority = 2
"""


def _program_fds(tmp_path: Path, programs: str) -> set[int]:
    """The fds the lister started with, under a daemon that was leaked a pipe's write end."""

    def listing() -> str:
        text = _log_text(daemon, "lister:0")
        return text if "listed" in text else ""

    read, write = os.pipe()
    daemon = Daemon(tmp_path, programs)
    try:
        daemon.start(leak_fds=(write,))
        text = wait_until(listing, what="the program's fd listing")
    finally:
        daemon.stop()
        os.close(read)
        os.close(write)
    words = [line.split()[-1] for line in text.splitlines() if line.strip()]  # after the stamp
    return {int(word) for word in words if word.isdigit()}


def test_an_fd_leaked_to_the_daemon_does_not_reach_its_programs(tmp_path: Path) -> None:
    fds = _program_fds(tmp_path, _LISTER)
    assert fds == {0, 1, 2}, f"the program had fds {sorted(fds)}; a pipe was leaked to the daemon"


def test_a_daemon_holding_many_fds_still_gives_its_programs_only_stdio(tmp_path: Path) -> None:
    # 30 sleepers hold pipes, pidfds and log files: the daemon spawns the lister with
    # more than 64 fds open, where a spawn closes from the first unused fd (issue #11).
    sleepers = """
        [programs.sleepers]
        command = ["sleep", "300"]
        numprocs = 30
        start_seconds = 0
        priority = 1
    """
    fds = _program_fds(tmp_path, sleepers + _LISTER)
    assert fds == {0, 1, 2}, f"the program had fds {sorted(fds)}"
