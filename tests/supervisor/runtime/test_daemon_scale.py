"""`corral scale NAME N`: start new instances or stop the highest; kept across reloads, restarts."""

from __future__ import annotations

import contextlib
import json
import os
import signal
from pathlib import Path

import pytest

import corral
from corral._errors import ApiError
from tests.support.daemon import SLEEP_FOREVER, Daemon, running_daemon
from tests.support.pids import watch
from tests.support.waiting import wait_until


def _programs(numprocs: int = 1, other: str = "300") -> str:
    return f"""
        [programs.web]
        command = {SLEEP_FOREVER}
        numprocs = {numprocs}
        start_seconds = 0
        [programs.other]
        command = ["sleep", "{other}"]
        start_seconds = 0
    """


def _web(daemon: Daemon) -> dict[str, int]:
    return {n: row["pid"] for n, row in daemon.status().items() if n.startswith("web:")}


def _scale(daemon: Daemon, count: int, program: str = "web") -> list[dict[str, object]]:
    reply = daemon.call("POST", "/scale", {"program": program, "count": count})
    return list(reply["results"])


def test_scale_up_starts_the_new_instances_and_leaves_the_running_one(tmp_path: Path) -> None:
    with running_daemon(tmp_path, _programs()) as daemon:
        first = daemon.wait_state("web:0", "RUNNING")["pid"]
        results = _scale(daemon, 3)
        assert [(r["name"], r["ok"], r["state"]) for r in results] == [
            ("web:1", True, "RUNNING"), ("web:2", True, "RUNNING"),
        ]  # fmt: skip
        pids = _web(daemon)
        assert list(pids) == ["web:0", "web:1", "web:2"]
        assert pids["web:0"] == first


def test_scale_down_stops_the_highest_numbered_first_and_forgets_them(tmp_path: Path) -> None:
    with running_daemon(tmp_path, _programs(numprocs=4)) as daemon:
        pids = {f"web:{i}": daemon.wait_state(f"web:{i}", "RUNNING")["pid"] for i in range(4)}
        with daemon.watch() as events, watch([pids["web:2"], pids["web:3"]]) as deaths:
            results = _scale(daemon, 2)
            deaths.assert_dead()
            for name in ("web:2", "web:3"):
                events.wait_state(name, "STOPPED", start=0)
        assert [(r["name"], r["state"]) for r in results] == [
            ("web:2", "STOPPED"), ("web:3", "STOPPED"),
        ]  # fmt: skip
        stopping = [e["subject"] for e in events.seen if e["data"]["new"] == "STOPPING"]
        assert stopping == ["web:3", "web:2"]
        assert _web(daemon) == {"web:0": pids["web:0"], "web:1": pids["web:1"]}


@pytest.mark.parametrize(
    ("program", "count", "status", "says"),
    [
        (
            "web:0",
            2,
            400,
            "scale takes a program, not an instance ('web:0'): name one program, such as 'web'",
        ),
        ("all", 2, 400, "scale takes a program, not all ('all')"),
        ("web", 0, 400, "scale takes a number of instances from 1 to 10000, got 0"),
        ("web", 10001, 400, "from 1 to 10000, got 10001"),
        ("wbe", 2, 404, "no program or instance named 'wbe'; did you mean 'web'"),
    ],
)
def test_scale_refuses_an_instance_all_a_count_out_of_bounds_or_an_unknown_name(
    tmp_path: Path, program: str, count: int, status: int, says: str
) -> None:
    with running_daemon(tmp_path, _programs()) as daemon:
        daemon.wait_state("web:0", "RUNNING")
        with pytest.raises(ApiError) as caught:
            _scale(daemon, count, program)
        assert caught.value.status == status
        assert says in str(caught.value)
        assert list(_web(daemon)) == ["web:0"]


def test_the_cli_scales_and_says_why_an_instance_cannot_be_scaled(tmp_path: Path) -> None:
    with running_daemon(tmp_path, _programs()) as daemon:
        daemon.wait_state("web:0", "RUNNING")
        refused = daemon.cli("scale", "web:0", "2")
        assert refused.exit_code == 2
        assert "scale takes a program, not an instance ('web:0')" in refused.stderr_text
        done = daemon.cli("--json", "scale", "web", "2")
        assert done.exit_code == 0, done.stderr_text
        assert [r["name"] for r in json.loads(done.stdout)["results"]] == ["web:1"]


def test_a_reload_keeps_the_scale_unless_the_config_changed_numprocs(tmp_path: Path) -> None:
    with running_daemon(tmp_path, _programs()) as daemon:
        daemon.wait_state("web:0", "RUNNING")
        _scale(daemon, 3)
        pids = _web(daemon)
        daemon.write_config(_programs(other="301"))
        reply = daemon.call("POST", "/reload")
        assert (reply["changed"], reply["unchanged"]) == (["other"], ["web"])
        assert _web(daemon) == pids
        daemon.write_config(_programs(numprocs=2, other="301"))
        reply = daemon.call("POST", "/reload")
        assert reply["changed"] == ["web"]
        assert list(_web(daemon)) == ["web:0", "web:1"]


def test_a_scale_outlives_a_daemon_restart_on_the_same_config(tmp_path: Path) -> None:
    state_file = tmp_path / "corral.state"  # not beside the socket: its directory goes at stop
    keys = f'state_file = "{state_file}"\n'
    daemon = Daemon(tmp_path, _programs(), keys)
    daemon.start()
    try:
        daemon.wait_state("web:0", "RUNNING")
        _scale(daemon, 3)
    finally:
        daemon.stop()
    left = json.loads(state_file.read_text()) if state_file.exists() else None
    assert left is not None, "the scale was not kept in the state file"
    assert (left["clean"], left["instances"]) == (True, [])
    assert left["scales"] == {"web": {"count": 3, "base": 1}}
    with running_daemon(tmp_path, _programs(), keys) as again:
        for index in range(3):
            again.wait_state(f"web:{index}", "RUNNING")
        assert list(_web(again)) == ["web:0", "web:1", "web:2"]


def test_after_a_crash_the_next_daemon_ends_the_leftovers_and_keeps_the_scale(
    tmp_path: Path,
) -> None:
    state_file = tmp_path / "corral.state"
    keys = f'state_file = "{state_file}"\n'
    old = Daemon(tmp_path, _programs(), keys)
    old.start()
    try:
        old.wait_state("web:0", "RUNNING")
        _scale(old, 2)
        pids = [row["pid"] for row in old.status().values()]  # web:0, web:1 and other:0
        wait_until(
            lambda: len(json.loads(state_file.read_text())["instances"]) == 3,
            what="the state file names web:0, web:1 and other:0",
        )
        assert old.process is not None
        deaths = watch(pids)
        os.kill(old.process.pid, signal.SIGKILL)
        with pytest.raises(corral.KilledBySignal):
            old.stop()  # nothing answers any more: this only waits and cleans up
    except BaseException:
        old.kill()
        raise
    with deaths, running_daemon(tmp_path, _programs(), keys) as new:
        deaths.assert_dead()
        for pid in pids:  # re-parented to the test process (a subreaper) when they died
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        for index in range(2):
            new.wait_state(f"web:{index}", "RUNNING")
        assert not set(_web(new).values()) & set(pids)
