"""corral as a peer: TOML config, `corral daemon -c` in the foreground, the `corral` CLI.

Fastest restart: `start_seconds = 0`, `backoff = { initial = 0, jitter = 0 }` and a
start limit no run reaches. Logs: rotation off (`max_bytes = 0`); timestamps off
for the `corral` variant, on for `corral-ts`.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from bench.peers.peer import Program

CORRAL = Path(sys.executable).with_name("corral")
"""The console script beside the interpreter running the benchmark (the project's venv,
wherever it is), not a path under the repository."""


METRICS_INTERVAL = 5.0
"""corral's default; the idle-CPU target is "with metrics sampling on"."""


def _toml(value: object) -> str:
    """A TOML value: JSON's strings, numbers, booleans and arrays are TOML too."""
    return json.dumps(value)


class Corral:
    """The project itself, with timestamps off (`corral`) or on (`corral-ts`)."""

    def __init__(self, *, timestamps: bool) -> None:
        self.timestamps = timestamps
        self.name = "corral-ts" if timestamps else "corral"
        self.label = "corral, timestamps on" if timestamps else "corral"

    def __repr__(self) -> str:
        return f"<Corral {self.name}>"

    def _socket(self, run: Path) -> str:
        return str(run / "corral.sock")

    def config_files(self, run: Path, programs: Sequence[Program]) -> dict[Path, str]:
        lines = [
            "[daemon]",
            f"socket = {_toml(self._socket(run))}",
            f"log_dir = {_toml(str(run / 'logs'))}",
            "",
            "[metrics]  # sampling on, as shipped: every program's CPU/RSS every 5 s",
            f"interval = {METRICS_INTERVAL:g}",
        ]
        for p in programs:
            stamps = "true" if self.timestamps else "false"
            lines += [
                "",
                f"[programs.{p.name}]",
                f"command = {_toml(list(p.argv))}",
                f"numprocs = {p.numprocs}",
                "autostart = false",
                f"restart = {_toml('always' if p.restart else 'never')}",
                "start_seconds = 0",
                "backoff = { initial = 0, jitter = 0 }",
                "start_limit = { burst = 1000000, interval = 1 }",
                f"logs = {{ timestamps = {stamps}, max_bytes = 0 }}",
            ]
        return {run / "corral.toml": "\n".join(lines) + "\n"}

    def launch_argv(self, run: Path) -> list[str] | None:
        return [str(CORRAL), "daemon", "-c", str(run / "corral.toml")]

    def _cli(self, run: Path, *args: str) -> list[str]:
        return [str(CORRAL), "--socket", self._socket(run), *args]

    def ready_argv(self, run: Path) -> list[str]:
        return self._cli(run, "status")

    def daemon_pids(self, run: Path, launched: int | None) -> list[int]:
        return [] if launched is None else [launched]

    def stdout_log(self, run: Path, program: Program) -> Path:
        return run / "logs" / f"{program.name}.0.stdout.log"

    def start_argv(self, run: Path, program: Program) -> list[str]:
        return self._cli(run, "start", program.name)

    def stop_all_argv(self, run: Path) -> list[str]:
        return self._cli(run, "stop", "all")

    def status_argv(self, run: Path) -> list[str]:
        return self._cli(run, "status")

    def shutdown_argv(self, run: Path) -> list[str]:
        return self._cli(run, "shutdown")

    def env(self, run: Path) -> dict[str, str]:
        return {}

    def api_status(self, run: Path, calls: int) -> list[float]:
        """GET /v1/status through corral's own client, on one kept connection."""
        from corral._control.client import Client

        times: list[float] = []
        with Client(self._socket(run), timeout=60) as client:
            for _ in range(calls):
                start = time.perf_counter()
                client.request("GET", "/v1/status")
                times.append(time.perf_counter() - start)
        return times
