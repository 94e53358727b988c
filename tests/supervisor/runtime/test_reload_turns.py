"""Operations against a reload in flight, on a real daemon, ordered by events, not by time.

The program's stop is held open by the test (tests/helpers/slow_stop.py waits for a
file), so a reload is provably under way while the other request is sent; the
daemon's "waits for" event proves that request arrived before the stop is released.
Every request is answered, and after shutdown no process the daemon started is left.
"""

from __future__ import annotations

import contextlib
import os
import resource
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from corral._errors import ApiError
from tests.support.daemon import SLEEP_FOREVER, Daemon, helper, running_daemon
from tests.support.events import EventWatch
from tests.support.pids import watch
from tests.support.waiting import DEADLINE, wait_until


class _Call(threading.Thread):
    """One API request on its own thread; `answer()` is its reply or its ApiError."""

    def __init__(self, daemon: Daemon, method: str, path: str, body: object = None) -> None:
        super().__init__(daemon=True)
        self._request: Callable[[], Any] = lambda: daemon.call(method, path, body)
        self._reply: Any = None

    def run(self) -> None:
        try:
            self._reply = self._request()
        except ApiError as exc:
            self._reply = exc

    def answer(self) -> Any:
        self.join(DEADLINE)
        assert not self.is_alive(), "the request was never answered"
        return self._reply


def _programs(tmp_path: Path, version: str, extra: str = "") -> str:
    stop = helper("slow_stop", str(tmp_path / "stopping"), str(tmp_path / "release"))
    return f"""
        [programs.slow]
        command = {stop}
        start_seconds = 0
        environment = {{ VERSION = "{version}" }}
        {extra}
    """


def _said(events: EventWatch, message: str) -> None:
    events.wait_for(
        lambda e: e["kind"] == "daemon" and e["data"].get("message") == message, what=message
    )


def _ready(daemon: Daemon) -> int:
    """The pid of slow:0 once it is RUNNING and has said `ready`: its SIGTERM handler is
    in place (RUNNING alone means spawned, and a TERM before the handler ends it)."""
    pid = int(daemon.wait_state("slow:0", "RUNNING")["pid"])
    log = daemon.log_path("slow:0")
    wait_until(lambda: log.exists() and "ready" in log.read_text(), what="slow:0 ready")
    return pid


def _stop_begun(tmp_path: Path) -> None:
    wait_until((tmp_path / "stopping").exists, what="the slow stop to begin")


def _release(tmp_path: Path) -> None:
    (tmp_path / "release").touch()


def test_a_start_during_a_reload_waits_and_starts_the_new_instance(tmp_path: Path) -> None:
    with running_daemon(tmp_path, _programs(tmp_path, "1")) as daemon:
        old = _ready(daemon)
        daemon.write_config(_programs(tmp_path, "2"))
        with daemon.watch() as events, watch([old]) as first:
            reload = _Call(daemon, "POST", "/reload")
            reload.start()
            _stop_begun(tmp_path)
            start = _Call(daemon, "POST", "/start", {"targets": ["slow"]})
            start.start()
            _said(events, "start slow waits for the reload under way")
            _release(tmp_path)
            assert reload.answer()["changed"] == ["slow"]
            [outcome] = start.answer()["results"]
            first.assert_dead()
        assert (outcome["ok"], outcome["state"]) == (True, "RUNNING")
        new = daemon.status()["slow:0"]["pid"]
        assert new != old
        assert list(daemon.status()) == ["slow:0"]
    _assert_gone(new)


def test_a_restart_under_way_finishes_before_the_reload_replaces_the_instance(
    tmp_path: Path,
) -> None:
    with running_daemon(tmp_path, _programs(tmp_path, "1")) as daemon:
        first = _ready(daemon)
        daemon.write_config(_programs(tmp_path, "2"))
        with daemon.watch() as events:
            restart = _Call(daemon, "POST", "/restart", {"targets": ["slow:0"]})
            restart.start()
            _stop_begun(tmp_path)
            reload = _Call(daemon, "POST", "/reload")
            reload.start()
            _said(events, "reload waits for the operations under way")
            _release(tmp_path)
            [outcome] = restart.answer()["results"]
            assert reload.answer()["changed"] == ["slow"]
            restarted = events.wait_state("slow:0", "RUNNING")["data"]["pid"]
        assert outcome["ok"]
        final = daemon.wait_state("slow:0", "RUNNING")["pid"]
        with watch([p for p in (first, restarted) if p != final], must_be_alive=False) as older:
            older.assert_dead()  # the restart's own process went with the reload, not astray
        assert final not in (first, restarted)
    _assert_gone(final)


def test_an_operation_on_a_program_the_reload_removes_is_answered_unknown(
    tmp_path: Path,
) -> None:
    with running_daemon(tmp_path, _programs(tmp_path, "1")) as daemon:
        _ready(daemon)
        daemon.write_config(f"[programs.other]\ncommand = {SLEEP_FOREVER}\nstart_seconds = 0\n")
        with daemon.watch() as events:
            reload = _Call(daemon, "POST", "/reload")
            reload.start()
            _stop_begun(tmp_path)
            start = _Call(daemon, "POST", "/start", {"targets": ["slow:0"]})
            start.start()
            _said(events, "start slow:0 waits for the reload under way")
            _release(tmp_path)
            assert reload.answer()["removed"] == ["slow"]
            refused = start.answer()
        assert isinstance(refused, ApiError)
        assert refused.status == 404
        assert "slow" in refused.message
        assert list(daemon.status()) == ["other:0"]


def test_shutdown_during_a_reload_leaves_no_process_and_answers_the_reload(
    tmp_path: Path,
) -> None:
    late = f"[programs.late]\ncommand = {SLEEP_FOREVER}\nstart_seconds = 0\n"
    daemon = Daemon(tmp_path, _programs(tmp_path, "1"))
    daemon.start()
    try:
        old = _ready(daemon)
        daemon.write_config(_programs(tmp_path, "2", late))
        reload = _Call(daemon, "POST", "/reload")
        reload.start()
        _stop_begun(tmp_path)
        assert daemon.call("POST", "/shutdown") == {"ok": True}
        _release(tmp_path)
        assert reload.answer()["added"] == ["late"]
        assert daemon.process is not None
        assert daemon.process.wait(timeout=DEADLINE * 2).exit_code == 0
        _assert_gone(old)
        text = daemon.output.read_text()
        assert "late:0 STOPPED -> STARTING" not in text, text
    finally:
        daemon.kill()
    daemon.assert_loop_never_blocked()


def _assert_gone(pid: int) -> None:
    with watch([pid], must_be_alive=False) as left:
        left.assert_dead()


# -- reload as a transaction ------------------------------------------------------------


def _open_files(pid: int) -> list[str]:
    """What the daemon's fds name, sockets left out (API connections come and go)."""
    names = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(FileNotFoundError):  # an fd closed while listing
            names.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
    return sorted(name for name in names if not name.startswith("socket:"))


def test_a_reload_that_runs_out_of_fds_part_way_closes_what_it_opened_and_changes_nothing(
    tmp_path: Path,
) -> None:
    numprocs = 40  # 80 log files, under a limit of 40 fds more than the daemon has open
    sleeper = f"[programs.sleeper]\ncommand = {SLEEP_FOREVER}\nstart_seconds = 0\n"
    with running_daemon(tmp_path, sleeper + _programs(tmp_path, "1")) as daemon:
        assert daemon.process is not None
        pid = daemon.process.pid
        before_pids = {n: daemon.wait_state(n, "RUNNING")["pid"] for n in ("sleeper:0", "slow:0")}
        many = f"[programs.many]\ncommand = {SLEEP_FOREVER}\nnumprocs = {numprocs}\n"
        daemon.write_config(sleeper + _programs(tmp_path, "2") + many)
        fds = _open_files(pid)
        soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
        resource.prlimit(
            pid, resource.RLIMIT_NOFILE, (len(os.listdir(f"/proc/{pid}/fd")) + numprocs, hard)
        )
        try:
            with pytest.raises(ApiError) as refused:
                daemon.call("POST", "/reload")
            after = _open_files(pid)
        finally:
            resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, hard))
        assert refused.value.status == 409
        assert refused.value.message.startswith("reload refused, the running config is kept: ")
        assert "Too many open files" in refused.value.message
        assert after == fds
        assert any(name.endswith("slow.0.stdout.log") for name in after)
        status = daemon.status()
        assert {n: row["pid"] for n, row in status.items()} == before_pids
        assert not (tmp_path / "stopping").exists()  # the changed program was never stopped
        assert daemon.call("POST", "/stop", {"targets": ["sleeper"]})["results"][0]["ok"]
        _release(tmp_path)  # the shutdown's stop of slow need not wait for its SIGKILL
