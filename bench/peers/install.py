"""The scratch directory bench/.peers/: the peers' installs, the writer binary, run dirs.

supervisor and circus go into their own virtualenv (`bench/.peers/venv`), PM2 into
`bench/.peers/npm`; an install that is already there is used as it is. A peer whose
install fails is reported with the reason, and the run goes on without it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
"""The repository root."""
SCRATCH = ROOT / "bench" / ".peers"
"""Everything the harness installs or writes (gitignored)."""
VENV = SCRATCH / "venv"
NPM = SCRATCH / "npm"
RUNS = SCRATCH / "run"
"""One directory per invocation beneath it, so two runs at once never share a path."""
RESULTS = SCRATCH / "results"
WRITER_SOURCE = Path(__file__).with_name("writer.c")
WRITER = SCRATCH / "writer"


@dataclass(frozen=True, slots=True)
class Installed:
    """Which peers can run, and why the others cannot."""

    ready: dict[str, str]
    """Peer name -> version string."""
    failed: dict[str, str]
    """Peer name -> why it could not be installed."""


def _run(argv: list[str], log: Path) -> str | None:
    """Run an install step, output appended to `log`; the failure reason, or None."""
    with log.open("ab") as out:
        out.write(f"$ {' '.join(argv)}\n".encode())
        out.flush()
        try:
            done = subprocess.run(
                argv, check=False, stdout=out, stderr=subprocess.STDOUT, timeout=600
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"{argv[0]}: {exc}"
    return None if done.returncode == 0 else f"`{' '.join(argv)}` exited {done.returncode}"


def _pip_version(package: str) -> str | None:
    python = VENV / "bin" / "python"
    if not python.exists():
        return None
    done = subprocess.run(
        [str(python), "-c", f"import importlib.metadata as m; print(m.version({package!r}))"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() if done.returncode == 0 else None


def _install_python_peers(log: Path) -> dict[str, str | None]:
    """supervisor and circus into bench/.peers/venv; a failure reason per package, or None."""
    wanted = {"supervisord": "supervisor", "circus": "circus"}
    missing = [pkg for pkg in wanted.values() if _pip_version(pkg) is None]
    if not missing:
        return dict.fromkeys(wanted)
    problem = None
    if not (VENV / "bin" / "python").exists():
        problem = _run([sys.executable, "-m", "venv", str(VENV)], log)
    if problem is None:
        problem = _run([str(VENV / "bin" / "pip"), "install", "-q", *missing], log)
    return {peer: (problem if _pip_version(pkg) is None else None) for peer, pkg in wanted.items()}


def pm2_bin() -> Path:
    return NPM / "node_modules" / ".bin" / "pm2"


def pm2_module() -> Path:
    return NPM / "node_modules" / "pm2"


def _install_pm2(log: Path) -> str | None:
    if pm2_bin().exists():
        return None
    if shutil.which("npm") is None:
        return "npm is not on PATH"
    return _run(["npm", "install", "--prefix", str(NPM), "--no-audit", "--no-fund", "pm2"], log)


def _pm2_version() -> str:
    package = json.loads((pm2_module() / "package.json").read_text())
    return str(package["version"])


def install_peers(peers: list[str]) -> Installed:
    """Install (or find) the requested peers; corral is the project itself."""
    SCRATCH.mkdir(parents=True, exist_ok=True)
    log = SCRATCH / "install.log"
    ready: dict[str, str] = {}
    failed: dict[str, str] = {}
    if {"supervisord", "circus"} & set(peers):
        for peer, problem in _install_python_peers(log).items():
            if peer not in peers:
                continue
            if problem is None:
                ready[peer] = _pip_version("supervisor" if peer == "supervisord" else peer) or "?"
            else:
                failed[peer] = f"{problem} (see {log})"
    if "pm2" in peers:
        problem = _install_pm2(log)
        if problem is None:
            ready["pm2"] = _pm2_version()
        else:
            failed["pm2"] = f"{problem} (see {log})"
    return Installed(ready, failed)


def build_writer() -> Path:
    """Compile writer.c into the scratch dir unless the binary is newer than the source."""
    SCRATCH.mkdir(parents=True, exist_ok=True)
    if WRITER.exists() and WRITER.stat().st_mtime >= WRITER_SOURCE.stat().st_mtime:
        return WRITER
    building = WRITER.with_name(f"writer.{os.getpid()}")
    subprocess.run(
        ["gcc", "-O2", "-Wall", "-Wextra", "-o", str(building), str(WRITER_SOURCE)], check=True
    )
    os.replace(building, WRITER)  # atomic: a concurrent run never sees half a binary
    return WRITER
