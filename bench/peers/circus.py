"""circus as a peer: an ini file, `circusd` in the foreground, `circusctl` over zmq ipc.

Fastest restart: `warmup_delay = 0` (arbiter and watcher), `respawn = true`,
`max_retry = -1`. circus notices an exit only when its controller polls, every
`check_delay` seconds; an ini file defaults to 5 s, and we set 1 s (the Arbiter's
own default, and the figure the issue quotes). Lower values trade idle CPU for
restart speed. Logs: `FileStream`, which never rotates by default; no time format.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from collections.abc import Sequence
from pathlib import Path

from bench.peers.install import VENV
from bench.peers.peer import Program, clean_env

BIN = VENV / "bin"
CHECK_DELAY = 1.0

_API_SCRIPT = """
import json, sys, time
from circus.client import CircusClient
client = CircusClient(endpoint=sys.argv[1], timeout=60)
times = []
for _ in range(int(sys.argv[2])):
    start = time.perf_counter()
    client.call({"command": "status", "properties": {}})
    times.append(time.perf_counter() - start)
client.stop()
print(json.dumps(times))
"""


class Circus:
    """circus from PyPI, in bench/.peers/venv."""

    name = "circus"
    label = "circus"

    def __repr__(self) -> str:
        return "<Circus>"

    def _endpoint(self, run: Path) -> str:
        return f"ipc://{run}/endpoint.ipc"

    def config_files(self, run: Path, programs: Sequence[Program]) -> dict[Path, str]:
        text = [
            "[circus]",
            f"endpoint = {self._endpoint(run)}",
            f"pubsub_endpoint = ipc://{run}/pubsub.ipc",
            f"stats_endpoint = ipc://{run}/stats.ipc",
            "statsd = false",
            f"check_delay = {CHECK_DELAY}",
            "warmup_delay = 0",
            f"logoutput = {run / 'circusd.log'}",
        ]
        for p in programs:
            logs = run / "logs" / p.name
            text += [
                "",
                f"[watcher:{p.name}]",
                f"cmd = {shlex.quote(p.argv[0])}",
                f"args = {shlex.join(p.argv[1:])}",
                f"numprocesses = {p.numprocs}",
                "autostart = false",
                f"respawn = {'true' if p.restart else 'false'}",
                "warmup_delay = 0",
                "max_retry = -1",
                "copy_env = true",
                "stdout_stream.class = FileStream",
                f"stdout_stream.filename = {logs}.out",
                "stderr_stream.class = FileStream",
                f"stderr_stream.filename = {logs}.err",
            ]
        return {run / "circus.ini": "\n".join(text) + "\n"}

    def launch_argv(self, run: Path) -> list[str] | None:
        return [str(BIN / "circusd"), str(run / "circus.ini")]

    def _ctl(self, run: Path, *args: str) -> list[str]:
        return [
            str(BIN / "circusctl"),
            "--endpoint",
            self._endpoint(run),
            "--timeout",
            "600",
            *args,
        ]

    def ready_argv(self, run: Path) -> list[str]:
        return self._ctl(run, "status")

    def daemon_pids(self, run: Path, launched: int | None) -> list[int]:
        return [] if launched is None else [launched]

    def stdout_log(self, run: Path, program: Program) -> Path:
        return run / "logs" / f"{program.name}.out"

    def start_argv(self, run: Path, program: Program) -> list[str]:
        return self._ctl(run, "start", program.name)

    def stop_all_argv(self, run: Path) -> list[str]:
        return self._ctl(run, "stop")

    def status_argv(self, run: Path) -> list[str]:
        return self._ctl(run, "status")

    def shutdown_argv(self, run: Path) -> list[str]:
        return self._ctl(run, "quit")

    def env(self, run: Path) -> dict[str, str]:
        return {}

    def api_status(self, run: Path, calls: int) -> list[float]:
        """The zmq `status` command through circus.client, in circus's own venv."""
        done = subprocess.run(
            [str(BIN / "python"), "-c", _API_SCRIPT, self._endpoint(run), str(calls)],
            env=clean_env(),
            capture_output=True,
            check=True,
            timeout=600,
        )
        return [float(t) for t in json.loads(done.stdout)]
