"""supervisord as a peer: an ini file, `supervisord -n`, `supervisorctl`, XML-RPC.

Fastest restart it allows: `startsecs = 0` (an exit is never a failed start, so no
backoff), `autorestart = true`, `startretries` high. Its main loop still wakes only
once a second (a 1 s select timeout, not configurable), which bounds how soon it
notices an exit. Logs: `*_logfile_maxbytes = 0` (rotation off).
"""

from __future__ import annotations

import http.client
import shlex
import socket
import time
import xmlrpc.client
from collections.abc import Sequence
from pathlib import Path

from bench.peers.install import VENV
from bench.peers.peer import Program

BIN = VENV / "bin"


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=60)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(60)
        sock.connect(self._path)
        self.sock = sock


class _UnixTransport(xmlrpc.client.Transport):
    """XML-RPC over supervisord's unix socket, keeping one connection (HTTP/1.1)."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self._path = path

    def make_connection(self, host: object) -> http.client.HTTPConnection:
        if self._connection[1] is None:
            self._connection = ("localhost", _UnixConnection(self._path))
        conn = self._connection[1]
        assert conn is not None
        return conn


class Supervisord:
    """supervisor from PyPI, in bench/.peers/venv."""

    name = "supervisord"
    label = "supervisord"

    def __repr__(self) -> str:
        return "<Supervisord>"

    def _conf(self, run: Path) -> Path:
        return run / "supervisord.conf"

    def config_files(self, run: Path, programs: Sequence[Program]) -> dict[Path, str]:
        sock = run / "supervisor.sock"
        logs = run / "logs"
        text = [
            "[unix_http_server]",
            f"file = {sock}",
            "",
            "[supervisord]",
            f"logfile = {run / 'supervisord.log'}",
            "logfile_maxbytes = 0",
            f"pidfile = {run / 'supervisord.pid'}",
            f"childlogdir = {logs}",
            "nodaemon = true",
            "",
            "[rpcinterface:supervisor]",
            "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
            "",
            "[supervisorctl]",
            f"serverurl = unix://{sock}",
        ]
        for p in programs:
            text += [
                "",
                f"[program:{p.name}]",
                f"command = {shlex.join(p.argv)}",
                "process_name = %(program_name)s_%(process_num)d",
                f"numprocs = {p.numprocs}",
                "autostart = false",
                f"autorestart = {'true' if p.restart else 'false'}",
                "startsecs = 0",
                "startretries = 1000000",
                f"stdout_logfile = {logs}/%(program_name)s_%(process_num)d.out",
                "stdout_logfile_maxbytes = 0",
                "stdout_logfile_backups = 0",
                f"stderr_logfile = {logs}/%(program_name)s_%(process_num)d.err",
                "stderr_logfile_maxbytes = 0",
                "stderr_logfile_backups = 0",
            ]
        return {self._conf(run): "\n".join(text) + "\n"}

    def launch_argv(self, run: Path) -> list[str] | None:
        return [str(BIN / "supervisord"), "-n", "-c", str(self._conf(run))]

    def _ctl(self, run: Path, *args: str) -> list[str]:
        return [str(BIN / "supervisorctl"), "-c", str(self._conf(run)), *args]

    def ready_argv(self, run: Path) -> list[str]:
        return self._ctl(run, "pid")

    def daemon_pids(self, run: Path, launched: int | None) -> list[int]:
        return [] if launched is None else [launched]

    def stdout_log(self, run: Path, program: Program) -> Path:
        return run / "logs" / f"{program.name}_0.out"

    def start_argv(self, run: Path, program: Program) -> list[str]:
        return self._ctl(run, "start", f"{program.name}:*")

    def stop_all_argv(self, run: Path) -> list[str]:
        return self._ctl(run, "stop", "all")

    def status_argv(self, run: Path) -> list[str]:
        return self._ctl(run, "status")

    def shutdown_argv(self, run: Path) -> list[str]:
        return self._ctl(run, "shutdown")

    def env(self, run: Path) -> dict[str, str]:
        return {}

    def api_status(self, run: Path, calls: int) -> list[float]:
        """supervisor.getAllProcessInfo over XML-RPC on the unix socket."""
        transport = _UnixTransport(str(run / "supervisor.sock"))
        proxy = xmlrpc.client.ServerProxy("http://localhost/RPC2", transport=transport)
        times: list[float] = []
        with proxy:
            for _ in range(calls):
                start = time.perf_counter()
                proxy.supervisor.getAllProcessInfo()
                times.append(time.perf_counter() - start)
        return times
