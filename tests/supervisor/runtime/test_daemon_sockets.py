"""Sockets the daemon owns: handed over as systemd does, open across restarts and reloads."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
from pathlib import Path
from typing import Any

import pytest

import corral
from tests.support.daemon import Daemon, daemon_argv, helper, running_daemon
from tests.support.pids import watch
from tests.support.waiting import wait_until

SERVER = helper("listen_http")
REQUEST = b"GET / HTTP/1.0\r\nHost: corral\r\n\r\n"


def _programs(
    listen: str = "127.0.0.1:0",
    *,
    admin: str | None = "./admin.sock",
    numprocs: int = 2,
    admin_backlog: int = 128,
) -> str:
    """A web program served on `listen` and, if `admin` is a path, on that unix socket too."""
    tables = f"""
        [sockets.web]
        listen = "{listen}"
        backlog = 16
    """
    if admin is not None:
        tables += f"""
        [sockets.admin]
        listen = "{admin}"
        mode = "600"
        backlog = {admin_backlog}
    """
    names = '["web", "admin"]' if admin is not None else '["web"]'
    return (
        tables
        + f"""
        [programs.web]
        command = {SERVER}
        sockets = {names}
        numprocs = {numprocs}
        start_seconds = 0
        stop_timeout = 5
    """
    )


def _socket(daemon: Daemon, name: str) -> dict[str, Any]:
    views = daemon.call("GET", "/status")["daemon"]["sockets"]
    return next(view for view in views if view["name"] == name)


def _connect(address: str) -> socket.socket:
    """A connected client socket to a bound TCP "host:port" or a unix path."""
    if address.startswith("/"):
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.settimeout(60)
        client.connect(address)
        return client
    host, _, port = address.rpartition(":")
    return socket.create_connection((host.strip("[]"), int(port)), timeout=60)


def _answer(client: socket.socket) -> dict[str, Any]:
    """The JSON body of the reply to a request already sent on `client`."""
    chunks = []
    while chunk := client.recv(65536):
        chunks.append(chunk)
    client.close()
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200"), head
    return dict(json.loads(body))


def _ask(address: str) -> dict[str, Any]:
    client = _connect(address)
    client.sendall(REQUEST)
    return _answer(client)


def test_each_instance_gets_the_sockets_as_fds_from_3_with_its_own_listen_pid(
    tmp_path: Path,
) -> None:
    with running_daemon(tmp_path, _programs()) as daemon:
        pids = {daemon.wait_state(f"web:{i}", "RUNNING")["pid"] for i in (0, 1)}
        for pid in pids:
            fds = Path(f"/proc/{pid}/fd")
            assert (fds / "3").readlink().name.startswith("socket:")
            assert (fds / "4").readlink().name.startswith("socket:")
        seen = _ask(_socket(daemon, "web")["bound"])
        assert seen["pid"] in pids
        assert seen["listen_pid"] == str(seen["pid"])
        assert seen["fds"] == [0, 1, 2, 3, 4]  # stdio and the two sockets, nothing else
        assert (seen["listen_fds"], seen["listen_fdnames"]) == ("2", "web:admin")
        assert _ask(_socket(daemon, "admin")["bound"])["pid"] in pids


def test_status_shows_every_socket_and_who_uses_it(tmp_path: Path) -> None:
    with running_daemon(tmp_path, _programs()) as daemon:
        web, admin = _socket(daemon, "web"), _socket(daemon, "admin")
        assert web["listen"] == "127.0.0.1:0"
        assert web["bound"].startswith("127.0.0.1:")
        assert web["bound"] != "127.0.0.1:0"
        assert (web["kind"], web["backlog"], web["mode"], web["programs"]) == (
            "tcp", 16, None, ["web"]
        )  # fmt: skip
        assert admin["listen"] == str(tmp_path / "admin.sock")
        assert (admin["kind"], admin["mode"]) == ("unix", "600")
        assert (tmp_path / "admin.sock").stat().st_mode & 0o777 == 0o600
        shown = daemon.cli("status", check=True).stdout_text.splitlines()
        assert "SOCKET  BOUND" in shown[-3]
        assert shown[-1].split() == ["web", web["bound"], "web"]


def test_a_connection_made_while_no_instance_runs_is_answered_by_the_next(
    tmp_path: Path,
) -> None:
    with running_daemon(tmp_path, _programs(numprocs=1)) as daemon:
        old = daemon.wait_state("web:0", "RUNNING")["pid"]
        address = _socket(daemon, "web")["bound"]
        with daemon.watch() as events:
            daemon.call("POST", "/stop", {"targets": ["web"]})
            events.wait_state("web:0", "STOPPED")
        client = _connect(address)  # the daemon's socket is still listening: it connects
        client.sendall(REQUEST)
        with daemon.watch() as events:
            daemon.call("POST", "/start", {"targets": ["web"]})
            events.wait_state("web:0", "RUNNING")
        seen = _answer(client)
        assert seen["pid"] == daemon.status()["web:0"]["pid"]
        assert seen["pid"] != old


def test_an_address_in_use_stops_the_daemon_at_start_naming_the_key(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        daemon = Daemon(tmp_path, _programs(f"127.0.0.1:{port}"))
        result = corral.run(daemon_argv(daemon.config), check=False, timeout=120)
    assert result.exit_code == 2
    lines = daemon.config.read_text().splitlines()
    line = next(n for n, text in enumerate(lines, 1) if f"127.0.0.1:{port}" in text)
    assert (
        f"corral.toml:{line}: sockets.web.listen: expected an address no other socket listens "
        f"on; got 127.0.0.1:{port}: Address already in use [EADDRINUSE]"
    ) in result.stderr_text


def test_reload_keeps_an_unchanged_socket_and_closes_a_removed_one(tmp_path: Path) -> None:
    with running_daemon(tmp_path, _programs()) as daemon:
        pids = {daemon.wait_state(f"web:{i}", "RUNNING")["pid"] for i in (0, 1)}
        address = _socket(daemon, "web")["bound"]
        admin = str(tmp_path / "admin.sock")
        daemon.write_config(_programs(admin_backlog=8))
        reply = daemon.call("POST", "/reload")
        assert reply["unchanged"] == ["web"]  # a new backlog is applied to the open socket
        assert _socket(daemon, "admin")["backlog"] == 8
        assert {row["pid"] for row in daemon.status().values()} == pids
        daemon.write_config(_programs(admin=None))
        reply = daemon.call("POST", "/reload")
        assert reply["changed"] == ["web"]  # its sockets list changed
        assert not Path(admin).exists()
        assert [view["name"] for view in daemon.call("GET", "/status")["daemon"]["sockets"]] == [
            "web"
        ]
        assert _socket(daemon, "web")["bound"] == address
        assert _ask(address)["pid"] not in pids


def test_a_reload_whose_socket_cannot_be_bound_is_refused_and_nothing_changes(
    tmp_path: Path,
) -> None:
    with running_daemon(tmp_path, _programs()) as daemon:
        pids = {daemon.wait_state(f"web:{i}", "RUNNING")["pid"] for i in (0, 1)}
        address = _socket(daemon, "web")["bound"]
        with socket.create_server(("127.0.0.1", 0)) as taken:
            port = taken.getsockname()[1]
            daemon.write_config(_programs(f"127.0.0.1:{port}"))
            result = daemon.cli("reload")
        assert result.exit_code == 2
        assert "sockets.web.listen: expected an address no other socket listens on" in (
            result.stderr_text
        )
        assert _socket(daemon, "web")["bound"] == address
        assert {row["pid"] for row in daemon.status().values()} == pids
        assert _ask(address)["pid"] in pids


def test_a_reload_that_moves_a_socket_restarts_its_programs_on_the_new_one(
    tmp_path: Path,
) -> None:
    with running_daemon(tmp_path, _programs()) as daemon:
        pids = {daemon.wait_state(f"web:{i}", "RUNNING")["pid"] for i in (0, 1)}
        moved = _programs().replace('listen = "./admin.sock"', 'listen = "./admin2.sock"')
        daemon.write_config(moved)
        reply = daemon.call("POST", "/reload")
        assert reply["changed"] == ["web"]
        assert not (tmp_path / "admin.sock").exists()
        seen = _ask(str(tmp_path / "admin2.sock"))
        assert seen["pid"] not in pids


def test_after_a_crash_the_next_daemon_ends_the_leftovers_then_binds_what_they_held(
    tmp_path: Path,
) -> None:
    keys = f'state_file = "{tmp_path / "corral.state"}"\n'
    old = Daemon(tmp_path, _programs(numprocs=1), keys)
    old.start()
    try:
        pid = old.wait_state("web:0", "RUNNING")["pid"]
        admin = _socket(old, "admin")["bound"]
        assert _ask(admin)["pid"] == pid  # the leftover will hold the socket and answer on it
        wait_until(
            lambda: '"web:0"' in (tmp_path / "corral.state").read_text(),
            what="the state file names web:0",
        )
        assert old.process is not None
        deaths = watch([pid])
        os.kill(old.process.pid, signal.SIGKILL)
        with pytest.raises(corral.KilledBySignal):
            old.stop()  # nothing answers any more: this only waits and cleans up
    except BaseException:
        old.kill()
        raise
    with deaths, running_daemon(tmp_path, _programs(numprocs=1), keys) as new:
        deaths.assert_dead()
        with contextlib.suppress(ChildProcessError):  # re-parented to the test (a subreaper)
            os.waitpid(pid, 0)
        fresh = new.wait_state("web:0", "RUNNING")["pid"]
        assert _ask(admin)["pid"] == fresh


def test_a_notification_fd_is_numbered_after_the_sockets(tmp_path: Path) -> None:
    programs = _programs(numprocs=1) + '        notify = "fd"\n'
    with running_daemon(tmp_path, programs) as daemon:
        with daemon.watch(since=0) as events:
            running = events.wait_state("web:0", "RUNNING")
        assert running["data"]["reason"] == "said it is ready: running"
        seen = _ask(_socket(daemon, "web")["bound"])
        assert (seen["listen_fds"], seen["notify_fd"]) == ("2", "5")
        assert seen["fds"] == [0, 1, 2, 3, 4, 5]
