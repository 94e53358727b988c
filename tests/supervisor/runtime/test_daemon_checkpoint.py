"""The state file, for real: kept current while programs run, and after a crash the next
daemon ends what the dead one left running (and nothing else) before starting its own."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import stat
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

import corral
from corral.lowlevel import Feature
from tests.support.daemon import Daemon, daemon_argv, helper, running_daemon
from tests.support.pids import children_of, cmdline, read_stat, watch
from tests.support.waiting import DEADLINE, wait_until

SLEEPER = '["sleep", "300"]'
PROGRAMS = f"""
    [programs.sleeper]
    command = {SLEEPER}
    numprocs = 2
    start_seconds = 0
    [programs.stubborn]
    command = {helper("trap_term", "ignore")}
    start_seconds = 0
    stop_timeout = 0.2
    [programs.forker]
    command = {helper("double_fork", "--detach")}
    start_seconds = 0
    logs = {{ timestamps = false }}
"""
"""Plain programs, one that ignores SIGTERM, and one whose grandchild left its session."""


def _keys(tmp_path: Path) -> str:
    return f'state_file = "{tmp_path / "state" / "corral.state"}"\n'


def _state_path(daemon: Daemon) -> Path:
    return daemon.workdir / "state" / "corral.state"


def _read_state(daemon: Daemon) -> dict[str, Any]:
    path = _state_path(daemon)
    return json.loads(path.read_text()) if path.exists() else {}


def _recorded_pids(daemon: Daemon) -> dict[str, int]:
    return {t["name"]: t["pid"] for t in _read_state(daemon).get("instances", [])}


def _running_pids(daemon: Daemon) -> dict[str, int]:
    return {n: row["pid"] for n, row in daemon.status().items() if row["state"] == "RUNNING"}


def _log_text(daemon: Daemon, instance: str) -> str:
    path = daemon.log_path(instance)
    return path.read_text(errors="replace") if path.exists() else ""


def _ready(daemon: Daemon, instance: str) -> bool:
    return "ready" in _log_text(daemon, instance)


def _start_time(pid: int) -> float:
    """Field 22 of /proc/PID/stat in seconds since boot, as the daemon records it."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        raw = f.read()
    return int(raw[raw.rfind(b")") + 2 :].split()[19]) / os.sysconf("SC_CLK_TCK")


def _marker(pid: int) -> str:
    with open(f"/proc/{pid}/environ", "rb") as f:
        entries = f.read().split(b"\0")
    return next((e for e in entries if e.startswith(b"CORRAL_TREE=")), b"").decode()


def _crash(daemon: Daemon) -> None:
    """SIGKILL the daemon process alone: its programs live on in their own groups."""
    assert daemon.process is not None
    os.kill(daemon.process.pid, signal.SIGKILL)
    with pytest.raises(corral.KilledBySignal):
        daemon.stop()  # nothing answers any more: this only waits and cleans up


def _reap(pids: list[int]) -> None:
    """Collect leftovers re-parented to the test process (a subreaper) once they died."""
    for pid in pids:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


@contextlib.contextmanager
def _stranger() -> Iterator[corral.Process]:
    """A process of the test's own, which no daemon may touch."""
    proc = corral.start(["sleep", "300"])
    try:  # until it has exec'd, /proc shows the spawning process's environment
        wait_until(partial(_marker, proc.pid), what="the stranger's own environment")
        yield proc
    finally:
        proc.kill()
        proc.__exit__(None, None, None)


def _daemon_events(daemon: Daemon) -> list[str]:
    return [str(e["data"]["message"]) for e in daemon.events("daemon")]


# -- keeping it current ------------------------------------------------------------


def test_the_state_file_names_each_running_tree_privately_and_goes_at_a_clean_shutdown(
    tmp_path: Path,
) -> None:
    with running_daemon(tmp_path, PROGRAMS, _keys(tmp_path)) as daemon:
        for name in ("sleeper:0", "sleeper:1", "stubborn:0", "forker:0"):
            daemon.wait_state(name, "RUNNING")
        running = _running_pids(daemon)
        wait_until(lambda: _recorded_pids(daemon) == running, what="the state file lists them")
        state = _read_state(daemon)
        assert daemon.process is not None
        assert state["daemon"]["pid"] == daemon.process.pid
        assert state["daemon"]["started"] == _start_time(daemon.process.pid)
        for tree in state["instances"]:
            assert tree["started"] == _start_time(tree["pid"])
            assert tree["pgid"] == tree["pid"]
            marker = partial(_marker, tree["pid"])  # its own, once it has exec'd
            assert wait_until(lambda: marker() == tree["marker"], what="the marker")  # noqa: B023
            assert tree["cgroup"] == []
        assert stat.S_IMODE(_state_path(daemon).stat().st_mode) == 0o600
        beside = sorted(p.name for p in _state_path(daemon).parent.iterdir())
        assert beside == ["corral.audit", "corral.state"]  # no temporary left; the audit log

        daemon.call("POST", "/stop", {"targets": ["sleeper:1"]})
        del running["sleeper:1"]
        wait_until(lambda: _recorded_pids(daemon) == running, what="sleeper:1 left the file")
    assert not _state_path(daemon).exists()


# -- after a crash --------------------------------------------------------------------


def test_a_new_daemon_ends_what_a_killed_one_left_running_then_runs_one_process_each(
    tmp_path: Path,
) -> None:
    old = Daemon(tmp_path, PROGRAMS, _keys(tmp_path))
    old.start()
    try:
        for name in ("sleeper:0", "sleeper:1", "stubborn:0", "forker:0"):
            old.wait_state(name, "RUNNING")
        roots = _running_pids(old)
        wait_until(lambda: _recorded_pids(old) == roots, what="the state file lists them")
        for name in ("stubborn:0", "forker:0"):  # else it may die writing to a closed pipe
            wait_until(partial(_ready, old, name), what=f"{name} ready")
        grandchild = int(_log_text(old, "forker:0").split()[0])
        old_pid = old.process.pid if old.process else 0
        leftovers = [*roots.values(), grandchild]
        deaths = watch(leftovers)
        _crash(old)
    except BaseException:
        old.kill()
        raise
    with deaths:
        assert sorted(deaths.alive()) == sorted(leftovers)  # the crash ended none of them
        try:
            with running_daemon(tmp_path, PROGRAMS, _keys(tmp_path)) as new:
                deaths.assert_dead()  # before the new daemon is even ready
                _reap(leftovers)
                message = f"ended 4 programs left running by a previous daemon (pid {old_pid})"
                assert message in _daemon_events(new)
                for name in roots:
                    new.wait_state(name, "RUNNING")
                fresh = _running_pids(new)
                assert not set(fresh.values()) & set(leftovers)
                assert new.process is not None
                sleepers = [
                    s.pid for s in children_of(new.process.pid) if cmdline(s.pid) == "sleep 300"
                ]
                assert sorted(sleepers) == sorted([fresh["sleeper:0"], fresh["sleeper:1"]])
                wait_until(lambda: _recorded_pids(new) == fresh, what="the new daemon's record")
        finally:
            _reap(leftovers)


def test_a_record_of_reused_pids_signals_no_stranger(tmp_path: Path) -> None:
    with _stranger() as stranger:
        pid, started, booted = stranger.pid, _start_time(stranger.pid), _read_boot_time()

        def record(*, booted: float, roots: list[float | None]) -> dict[str, Any]:
            trees: list[dict[str, Any]] = [
                {"name": f"sleeper:{i}", "pid": pid, "pgid": pid, "started": root,
                 "marker": f"CORRAL_TREE=1.{i}.gone", "cgroup": []}
                for i, root in enumerate(roots)
            ]  # fmt: skip
            # the dead daemon's pid is the stranger's now, with another start time
            daemon = {"pid": pid, "started": started + 1.0, "booted": booted}
            return {"format": 1, "daemon": daemon, "instances": trees}

        cases = {
            "the same boot, another start time": record(booted=booted, roots=[started + 1, None]),
            "the start time, in another boot": record(booted=booted - 100_000, roots=[started]),
        }
        for case, written in cases.items():
            path = tmp_path / "state" / "corral.state"
            path.parent.mkdir(exist_ok=True)
            path.write_text(json.dumps(written))
            with watch([pid]) as deaths, running_daemon(tmp_path, "", _keys(tmp_path)) as daemon:
                expected = f"a previous daemon (pid {pid}) did not shut down cleanly"
                assert any(m.startswith(expected) for m in _daemon_events(daemon)), case
                assert deaths.alive() == [pid], case
        assert read_stat(pid) is not None


def test_a_corrupt_state_file_is_a_warning_and_nothing_is_signalled(tmp_path: Path) -> None:
    with _stranger() as stranger:
        pid = stranger.pid
        tree = {
            "name": "sleeper:0",
            "pid": pid,
            "pgid": -1,  # one bad field spoils the whole file
            "started": _start_time(pid),
            "marker": _marker(pid),
            "cgroup": [],
        }
        daemon_record = {"pid": 2**22 + 7, "started": 1.0, "booted": _read_boot_time()}
        bad = json.dumps({"format": 1, "daemon": daemon_record, "instances": [tree]})
        for text in (bad, bad[: len(bad) // 2], "\x00garbage"):
            path = tmp_path / "state" / "corral.state"
            path.parent.mkdir(exist_ok=True)
            path.write_text(text)
            programs = f"[programs.sleeper]\ncommand = {SLEEPER}\nstart_seconds = 0\n"
            with watch([pid]) as deaths, running_daemon(tmp_path, programs, _keys(tmp_path)) as d:
                messages = _daemon_events(d)
                assert any(m.startswith(f"ignoring the state file {path}: ") for m in messages)
                d.wait_state("sleeper:0", "RUNNING")
                wait_until(lambda: "sleeper:0" in _recorded_pids(d), what="a fresh record")
                assert deaths.alive() == [pid]


def test_a_second_daemon_on_a_live_daemons_state_file_refuses_to_start(tmp_path: Path) -> None:
    programs = f"[programs.sleeper]\ncommand = {SLEEPER}\nstart_seconds = 0\n"
    with running_daemon(tmp_path, programs, _keys(tmp_path)) as first:
        pid = first.wait_state("sleeper:0", "RUNNING")["pid"]
        second = tmp_path / "second.toml"  # its own socket, the same state file
        socket = tmp_path / "second.sock"
        second.write_text(first.config.read_text().replace(first.socket, str(socket)))
        argv = daemon_argv(second)
        result = corral.run(argv, check=False, timeout=DEADLINE)
        assert result.exit_code == 1
        assert first.process is not None
        assert f"is still running (pid {first.process.pid})" in result.stderr_text
        assert first.status()["sleeper:0"]["pid"] == pid
        assert first.state("sleeper:0") == "RUNNING"


def _read_boot_time() -> float:
    return time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)


@pytest.fixture(autouse=True)
def _no_stray_state_files(tmp_path: Path) -> Iterator[None]:
    yield
    leftovers = [p.name for p in (tmp_path / "state").glob(".*.tmp")]
    assert leftovers == []


@pytest.mark.requires(Feature.CGROUP_PIDS)
def test_a_dead_daemons_cgroups_are_emptied_and_removed(tmp_path: Path) -> None:
    programs = f"""
        [programs.boxed]
        command = {SLEEPER}
        start_seconds = 0
        [programs.boxed.sandbox]
        pids = 16
    """
    old = Daemon(tmp_path, programs, _keys(tmp_path))
    old.start()
    try:
        pid = old.wait_state("boxed:0", "RUNNING")["pid"]
        wait_until(lambda: _recorded_pids(old) == {"boxed:0": pid}, what="the state file")
        directories = _read_state(old)["instances"][0]["cgroup"]
        assert directories
        assert all(os.path.isdir(d) for d in directories)
        deaths = watch([pid])
        _crash(old)
    except BaseException:
        old.kill()
        raise
    with deaths:
        try:
            with running_daemon(tmp_path, programs, _keys(tmp_path)) as new:
                deaths.assert_dead()
                _reap([pid])
                event = next(e for e in new.events("daemon") if "previous_pid" in e["data"])
                assert event["data"]["programs"] == ["boxed:0"]
                assert sorted(event["data"]["cgroups"]) == sorted(directories)
                assert not any(os.path.exists(d) for d in directories)
                assert not any(os.path.exists(os.path.dirname(d)) for d in directories)
                new.wait_state("boxed:0", "RUNNING")
        finally:
            _reap([pid])
