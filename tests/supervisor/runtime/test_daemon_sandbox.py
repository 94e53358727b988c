"""The daemon's sandboxed programs, for real: a fork bomb and a memory hog stay contained."""

from __future__ import annotations

from pathlib import Path

import pytest

from corral._platform.linux.cgroups import detect
from corral.lowlevel import Feature
from tests.support.daemon import SLEEP_FOREVER, helper, running_daemon
from tests.support.pids import children_of, watch
from tests.support.waiting import wait_until

pytestmark = pytest.mark.requires(Feature.CGROUPS)


def _text(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


@pytest.mark.requires(Feature.CGROUP_PIDS)
def test_a_fork_bomb_is_contained_and_stopping_it_leaves_nothing(tmp_path: Path) -> None:
    programs = f"""
        [programs.bomb]
        command = {helper("fork_bomb", "--tries", "300")}
        start_seconds = 0
        logs = {{ timestamps = false }}
        [programs.bomb.sandbox]
        pids = 64
        [programs.quiet]
        command = {SLEEP_FOREVER}
        start_seconds = 0
    """
    with running_daemon(tmp_path, programs) as daemon:
        wait_until(lambda: "ready" in _text(daemon.log_path("bomb:0")), what="the bomb settled")
        forked, failed = (int(w) for w in _text(daemon.log_path("bomb:0")).split()[1:4:2])
        assert forked < 64
        assert failed > 0
        status = daemon.status()
        assert status["quiet:0"]["state"] == "RUNNING"
        bomb = status["bomb:0"]
        assert bomb["limits"]["cgroup.pids_max"] == 64
        assert bomb["cgroup"]["pids"] == 64
        assert "cgroup: pids 64/64" in daemon.cli("status", "bomb").stdout_text
        members = [bomb["pid"], *(s.pid for s in children_of(bomb["pid"]))]
        assert len(members) == 64
        with watch(members) as deaths:
            reply = daemon.call("POST", "/stop", {"targets": ["bomb"]})
            assert reply["results"][0]["state"] == "STOPPED"
            deaths.assert_dead()


@pytest.mark.requires(Feature.CGROUP_MEMORY)
def test_a_memory_hog_is_oom_killed_reported_and_restarted(tmp_path: Path) -> None:
    programs = f"""
        [programs.hog]
        command = {helper("hog_memory", "1024")}
        start_seconds = 0
        restart = "on-failure"
        backoff = {{ initial = 0, factor = 1, max = 0, jitter = 0 }}
        start_limit = {{ burst = 2, interval = 600 }}
        [programs.hog.sandbox]
        memory = "64M"
        [programs.quiet]
        command = {SLEEP_FOREVER}
        start_seconds = 0
    """
    with running_daemon(tmp_path, programs) as daemon:
        row = daemon.wait_state("hog:0", "FATAL")
        assert row["last_exit"] == "OOM-killed (SIGKILL)"
        assert row["restarts"] == 1
        assert daemon.status()["quiet:0"]["state"] == "RUNNING"
        ooms = [e for e in daemon.events() if "OOM" in str(e["data"].get("reason", ""))]
        assert len(ooms) >= 2


def test_a_double_forked_daemon_inside_a_program_dies_on_stop(tmp_path: Path) -> None:
    programs = f"""
        [programs.forker]
        command = {helper("double_fork")}
        start_seconds = 0
        logs = {{ timestamps = false }}
        [programs.forker.sandbox]
        pids = 100
    """
    with running_daemon(tmp_path, programs) as daemon:
        text = wait_until(
            lambda: t if "ready" in (t := _text(daemon.log_path("forker:0"))) else "",
            what="the grandchild's pid",
        )
        grandchild = int(text.split()[-2])
        with watch([grandchild]) as deaths:
            daemon.call("POST", "/stop", {"targets": ["forker"]})
            deaths.assert_dead()


def _cgroup_version() -> int | None:
    driver = detect()
    return None if driver is None else driver.version


@pytest.mark.skipif(
    _cgroup_version() != 1, reason="needs cgroup v1 memory, which lacks memory.high"
)
def test_a_sandbox_the_machine_cannot_give_is_fatal_naming_the_feature(tmp_path: Path) -> None:
    programs = f"""
        [programs.picky]
        command = {SLEEP_FOREVER}
        [programs.picky.sandbox.cgroup]
        memory_high = "64M"
        [programs.quiet]
        command = {SLEEP_FOREVER}
        start_seconds = 0
    """
    with running_daemon(tmp_path, programs) as daemon:
        assert daemon.wait_state("quiet:0", "RUNNING")["pid"] is not None
        row = daemon.wait_state("picky:0", "FATAL")
        assert "memory" in row["reason"]
        assert "needs" in row["reason"]


@pytest.mark.requires(Feature.CGROUP_PIDS)
def test_killing_what_only_the_cgroup_finds_never_blocks_the_daemons_loop(
    tmp_path: Path,
) -> None:
    programs = f"""
        [programs.leaky]
        command = {helper("escapee")}
        start_seconds = 0
        logs = {{ timestamps = false }}
        [programs.leaky.sandbox]
        pids = 16
        [programs.quiet]
        command = {SLEEP_FOREVER}
        start_seconds = 0
    """
    # The cgroup kill's waits run on a thread: the loop guard reports any that reach the loop.
    with running_daemon(tmp_path, programs) as daemon:
        text = wait_until(
            lambda: t if "ready" in (t := _text(daemon.log_path("leaky:0"))) else "",
            what="the escapees' pids",
        )
        escapees = [int(word) for word in text.splitlines()[0].split()]
        with watch(escapees) as deaths:
            reply = daemon.call("POST", "/stop", {"targets": ["leaky"]})
            assert reply["results"][0]["state"] == "STOPPED"
            deaths.assert_dead()
        assert daemon.state("quiet:0") == "RUNNING"
