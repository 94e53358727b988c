"""PM2 as a peer: an ecosystem file, the God daemon under a scratch PM2_HOME, the pm2 CLI.

Every pm2 command runs with PM2_HOME in the session's run dir, so the harness never
sees or touches a user's ~/.pm2. `pm2 ping` starts the daemon; `pm2 kill` ends it.
Fastest restart: `restart_delay: 0`, `min_uptime: 0`, `max_restarts` high, no
exponential backoff. Programs run in fork mode with `interpreter: "none"`, so the
daemon spawns the command itself. Logs: PM2 never rotates without the pm2-logrotate
module; no date prefix (`time: false`); one file per program (`merge_logs`).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from pathlib import Path

from bench.peers.install import pm2_bin, pm2_module
from bench.peers.peer import Program, clean_env

_API_SCRIPT = """
const pm2 = require(process.argv[1]);
const calls = Number(process.argv[2]);
const times = [];
pm2.connect((err) => {
  if (err) { console.error(err); process.exit(1); }
  const one = () => {
    const start = process.hrtime.bigint();
    pm2.list((err2) => {
      if (err2) { console.error(err2); process.exit(1); }
      times.push(Number(process.hrtime.bigint() - start) / 1e9);
      if (times.length < calls) { one(); return; }
      console.log(JSON.stringify(times));
      pm2.disconnect();
    });
  };
  one();
});
"""


class Pm2:
    """PM2 from npm, in bench/.peers/npm."""

    name = "pm2"
    label = "PM2"

    def __repr__(self) -> str:
        return "<Pm2>"

    def _home(self, run: Path) -> Path:
        return run / "home"

    def _ecosystem(self, run: Path) -> Path:
        return run / "ecosystem.config.js"

    def config_files(self, run: Path, programs: Sequence[Program]) -> dict[Path, str]:
        apps = [
            {
                "name": p.name,
                "script": p.argv[0],
                "args": list(p.argv[1:]),
                "interpreter": "none",
                "exec_mode": "fork",
                "instances": p.numprocs,
                "autorestart": p.restart,
                "restart_delay": 0,
                "min_uptime": 0,
                "max_restarts": 1000000,
                "watch": False,
                "time": False,
                "merge_logs": True,
                "out_file": str(run / "logs" / f"{p.name}.out"),
                "error_file": str(run / "logs" / f"{p.name}.err"),
            }
            for p in programs
        ]
        text = "module.exports = " + json.dumps({"apps": apps}, indent=2) + ";\n"
        return {self._ecosystem(run): text}

    def launch_argv(self, run: Path) -> list[str] | None:
        return None

    def _cli(self, *args: str) -> list[str]:
        return [str(pm2_bin()), *args]

    def ready_argv(self, run: Path) -> list[str]:
        return self._cli("ping")

    def daemon_pids(self, run: Path, launched: int | None) -> list[int]:
        return [int((self._home(run) / "pm2.pid").read_text().strip())]

    def stdout_log(self, run: Path, program: Program) -> Path:
        return run / "logs" / f"{program.name}.out"

    def start_argv(self, run: Path, program: Program) -> list[str]:
        return self._cli("start", str(self._ecosystem(run)), "--only", program.name)

    def stop_all_argv(self, run: Path) -> list[str]:
        return self._cli("stop", "all")

    def status_argv(self, run: Path) -> list[str]:
        return self._cli("status")

    def shutdown_argv(self, run: Path) -> list[str]:
        return self._cli("kill")

    def env(self, run: Path) -> dict[str, str]:
        return {"PM2_HOME": str(self._home(run))}

    def api_status(self, run: Path, calls: int) -> list[float]:
        """pm2.list() through PM2's programmatic API (node), one connection."""
        done = subprocess.run(
            ["node", "-e", _API_SCRIPT, str(pm2_module()), str(calls)],
            env=clean_env(self.env(run)),
            capture_output=True,
            check=True,
            timeout=600,
        )
        return [float(t) for t in json.loads(done.stdout)]
