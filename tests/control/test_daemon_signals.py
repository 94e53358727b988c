"""Signals sent to a real daemon: none ends it uncleanly, and its programs keep the defaults.

TERM, INT and QUIT shut it down cleanly; HUP reloads; USR1 and USR2 reopen the logs;
every other signal whose default would end a process is ignored with an event.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest

from corral._control.daemon_signals import LEFT_ALONE, TABLE, Reaction, name_of
from tests.support.daemon import SLEEP_FOREVER, Daemon, running_daemon
from tests.support.pids import watch
from tests.support.waiting import DEADLINE

PROGRAMS = f"""
    [programs.sleeper]
    command = {SLEEP_FOREVER}
    numprocs = 2
    start_seconds = 0

    [programs.boxed]
    command = {SLEEP_FOREVER}
    start_seconds = 0
    sandbox = {{ umask = "022" }}
"""
"""Two plain instances (posix_spawn) and a sandboxed one (the fork path)."""
INSTANCES = ("sleeper:0", "sleeper:1", "boxed:0")
GLIBC_INTERNAL = sum(1 << (number - 1) for number in range(32, signal.SIGRTMIN))
"""Signals 32 and 33, which glibc keeps for itself: its posix_spawn leaves them ignored
in every program it starts (no caller can change that), and no program may use them."""
IGNORED = sorted(number for number, reaction in TABLE.items() if reaction is Reaction.IGNORE)


def _running_pids(daemon: Daemon) -> dict[str, int]:
    return {name: daemon.wait_state(name, "RUNNING")["pid"] for name in INSTANCES}


def _said(message: str) -> Any:
    def match(event: dict[str, Any]) -> bool:
        return bool(event["kind"] == "daemon" and event["data"].get("message") == message)

    return match


def _daemon_pid(daemon: Daemon) -> int:
    assert daemon.process is not None
    return daemon.process.pid


def _signal_masks(pid: int) -> dict[str, int]:
    """SigIgn and SigCgt of /proc/PID/status (the ignored and the caught signals), without
    glibc's internal signals."""
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    fields = dict(line.split(":\t", 1) for line in lines if ":\t" in line)
    return {key: int(fields[key], 16) & ~GLIBC_INTERNAL for key in ("SigIgn", "SigCgt")}


def test_every_signal_the_daemon_ignores_leaves_it_running_with_every_program(
    tmp_path: Path,
) -> None:
    with running_daemon(tmp_path, PROGRAMS) as daemon:
        before = _running_pids(daemon)
        with daemon.watch() as events:
            for number in IGNORED:
                os.kill(_daemon_pid(daemon), number)
                events.wait_for(_said(f"{name_of(number)}: ignored"), what=name_of(number))
        assert daemon.process is not None
        assert daemon.process.running
        assert {name: row["pid"] for name, row in daemon.status().items()} == before
        assert {row["state"] for row in daemon.status().values()} == {"RUNNING"}


def test_the_table_covers_every_signal_whose_default_ends_a_process() -> None:
    ends = {"SIGHUP", "SIGINT", "SIGQUIT", "SIGALRM", "SIGTERM", "SIGUSR1", "SIGUSR2",
            "SIGIO", "SIGPROF", "SIGVTALRM", "SIGSTKFLT", "SIGPWR", "SIGXCPU", "SIGSYS",
            "SIGTRAP"}  # fmt: skip
    numbers = {int(getattr(signal, name)) for name in ends if hasattr(signal, name)}
    numbers |= set(range(signal.SIGRTMIN, signal.SIGRTMAX + 1))
    assert numbers <= set(TABLE)


def _documented() -> dict[str, set[int]]:
    """docs/daemon.md's signal table: the first words of each row's reaction -> its signals."""
    text = (Path(__file__).parents[2] / "docs" / "daemon.md").read_text()
    section = text.split("\n## Signals\n", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, set[int]] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if not line.startswith("| SIG"):
            continue
        names, reaction = cells[0], cells[1].split(":")[0].split(",")[0]
        numbers = {int(getattr(signal, name)) for name in names.split(", ") if "…" not in name}
        if "SIGRTMIN … SIGRTMAX" in names:
            numbers |= set(range(signal.SIGRTMIN, signal.SIGRTMAX + 1))
        rows[reaction] = numbers
    return rows


def test_the_table_in_the_docs_is_the_one_the_daemon_installs() -> None:
    documented = _documented()
    words = {Reaction.SHUTDOWN: "shutdown", Reaction.RELOAD: "reload",
             Reaction.REOPEN_LOGS: "reopen every log file and the audit log at its path "
             "(after logrotate moved it)",
             Reaction.IGNORE: "ignored"}  # fmt: skip
    for reaction, first_words in words.items():
        wanted = {number for number, r in TABLE.items() if r is reaction}
        assert documented[first_words] == wanted, reaction
    assert documented["left at their default (a core dump)"] == set(LEFT_ALONE)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGQUIT])
def test_term_int_and_quit_shut_down_cleanly_and_end_every_program(
    tmp_path: Path, sig: signal.Signals
) -> None:
    daemon = Daemon(tmp_path, PROGRAMS)
    daemon.start()
    try:
        pids = _running_pids(daemon)
        with watch(pids.values()) as programs:
            os.kill(_daemon_pid(daemon), sig)
            assert daemon.process is not None
            result = daemon.process.wait(timeout=DEADLINE * 2)
            programs.assert_dead()
        assert result.exit_code == 0, result
        assert f"{sig.name}: shutting down" in daemon.output.read_text()
    finally:
        daemon.kill()
    daemon.assert_loop_never_blocked()


def test_hup_applies_the_config_diff_and_a_bad_config_is_an_event_and_changes_nothing(
    tmp_path: Path,
) -> None:
    with running_daemon(tmp_path, PROGRAMS) as daemon:
        before = _running_pids(daemon)
        added = PROGRAMS + f"[programs.late]\ncommand = {SLEEP_FOREVER}\nstart_seconds = 0\n"
        daemon.write_config(added)
        with daemon.watch() as events:
            os.kill(_daemon_pid(daemon), signal.SIGHUP)
            events.wait_for(_said("SIGHUP: reloaded"), what="the reload")
        assert daemon.wait_state("late:0", "RUNNING")
        assert {name: daemon.status()[name]["pid"] for name in INSTANCES} == before

        daemon.write_config(added + "[programs.broken]\nnumprocs = 'two'\n")
        with daemon.watch() as events:
            os.kill(_daemon_pid(daemon), signal.SIGHUP)
            failed = events.wait_for(
                lambda e: (
                    e["kind"] == "daemon"
                    and str(e["data"].get("message", "")).startswith("SIGHUP: reload failed")
                ),
                what="the failed reload",
            )
        assert "programs.broken" in failed["data"]["message"]
        assert failed["data"]["level"] == "error"
        status = daemon.status()
        assert set(status) == {*INSTANCES, "late:0"}
        assert {row["state"] for row in status.values()} == {"RUNNING"}


@pytest.mark.parametrize("sig", [signal.SIGUSR1, signal.SIGUSR2])
def test_usr1_and_usr2_reopen_every_log_file_at_its_path(
    tmp_path: Path, sig: signal.Signals
) -> None:
    with running_daemon(tmp_path, PROGRAMS) as daemon:
        _running_pids(daemon)
        logs = [
            daemon.log_path(name, stream) for name in INSTANCES for stream in ("stdout", "stderr")
        ]
        for path in logs:
            path.rename(path.with_name(path.name + ".rotated"))
        with daemon.watch() as events:
            os.kill(_daemon_pid(daemon), sig)
            events.wait_for(_said(f"{sig.name}: reopened {len(logs)} log files"), what="reopen")
        assert all(path.exists() for path in logs)


def test_programs_get_every_signal_at_its_default_on_both_spawn_paths(tmp_path: Path) -> None:
    with running_daemon(tmp_path, PROGRAMS) as daemon:
        pids = _running_pids(daemon)
        assert _signal_masks(_daemon_pid(daemon))["SigCgt"] & (1 << (signal.SIGHUP - 1))
        for name, pid in pids.items():
            assert _signal_masks(pid) == {"SigIgn": 0, "SigCgt": 0}, name
        for name, sig in (("sleeper:0", "HUP"), ("sleeper:1", "ALRM"), ("boxed:0", "HUP")):
            with daemon.watch() as events:
                daemon.call("POST", "/signal", {"signal": sig, "targets": [name]})
                exited = events.wait_for(
                    lambda e, name=name: (
                        e["kind"] == "state"  # type: ignore[misc]
                        and e["subject"] == name
                        and e["data"]["old"] == "RUNNING"
                    ),
                    what=f"{name} ending on SIG{sig}",
                )
            assert f"SIG{sig}" in exited["data"]["reason"], exited
