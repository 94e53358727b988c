"""Running one benchmark of one tree: the tree's own bench code, its src/, the one venv.

`python -m <module>` runs with cwd = the tree (so `bench` is that tree's package) and
PYTHONPATH = the tree's src/ alone (so `corral`, and the daemon and CLI the benchmark
starts, are that tree's), with this interpreter, the project's venv. Its stdout (the
JSON) and stderr are kept in the output directory, one pair of files per run.

Ctrl-C or SIGTERM while a benchmark runs is passed on as SIGINT, so the benchmark's
own cleanup (shutting down its daemons, ending its processes by pid) runs; only a
benchmark that has not exited a minute later is killed.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.compare.suites import Reading, Suite
from bench.compare.trees import Tree, TreeError

RUN_TIMEOUT = 1800.0
"""A benchmark that takes longer has hung; it is interrupted and the run counts as failed."""
CLEANUP_GRACE = 60.0
HELP_TIMEOUT = 120.0


@dataclass(frozen=True, slots=True)
class Run:
    """One benchmark run of one tree in one round: its readings, or why there are none."""

    tree: str
    suite: str
    round: int
    seconds: float
    readings: dict[str, Reading]
    error: str = ""


def python_argv(module: str, args: list[str]) -> list[str]:
    return [sys.executable, "-m", module, *args]


def help_text(tree: Tree, module: str) -> str:
    """`python -m module --help` in the tree, or "" if it fails (every option then counts
    as missing, which skips the suite with a note)."""
    try:
        done = subprocess.run(
            python_argv(module, ["--help"]),
            cwd=tree.root,
            env=tree.env(),
            capture_output=True,
            text=True,
            timeout=HELP_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return ""
    return done.stdout if done.returncode == 0 else ""


def check_imports(tree: Tree) -> None:
    """Make sure a benchmark started in `tree` imports that tree's `bench` and `corral`."""
    code = "import bench, corral; print(bench.__file__); print(corral.__file__)"
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tree.root,
        env=tree.env(),
        capture_output=True,
        text=True,
        timeout=HELP_TIMEOUT,
        check=False,
    )
    found = done.stdout.split()
    if done.returncode != 0 or len(found) != 2:
        raise TreeError(f"{tree.role}: cannot import bench and corral: {done.stderr.strip()}")
    for path in found:
        if not Path(path).resolve().is_relative_to(tree.root.resolve()):
            raise TreeError(f"{tree.role}: {path} is imported from outside {tree.root}")


def _wait(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """Wait for the benchmark; on Ctrl-C, SIGTERM or a hang, SIGINT it and let it clean up."""
    try:
        proc.wait(timeout)
    except (KeyboardInterrupt, subprocess.TimeoutExpired):
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(CLEANUP_GRACE)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        raise


def run_suite(tree: Tree, suite: Suite, args: list[str], round_: int, out: Path) -> Run:
    """Run `suite` once in `tree`; its output files go to `out`."""
    stem = out / f"round{round_}-{suite.name}-{tree.role}"
    stdout, stderr = stem.with_suffix(".json"), stem.with_suffix(".stderr")
    start = time.monotonic()
    with stdout.open("wb") as out_file, stderr.open("wb") as err_file:
        proc = subprocess.Popen(
            python_argv(suite.module, args),
            cwd=tree.root,
            env=tree.env(),
            stdin=subprocess.DEVNULL,
            stdout=out_file,
            stderr=err_file,
        )
        try:
            _wait(proc, RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            return _failed(Run(tree.role, suite.name, round_, RUN_TIMEOUT, {}), "hung", stderr)
    seconds = time.monotonic() - start
    run = Run(tree.role, suite.name, round_, seconds, {})
    if proc.returncode != 0:
        return _failed(run, f"exited {proc.returncode}", stderr)
    try:
        readings = suite.read(json.loads(stdout.read_text()))
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        return _failed(run, f"unreadable output ({type(exc).__name__}: {exc})", stderr)
    return Run(tree.role, suite.name, round_, seconds, {r.key: r for r in readings})


def _failed(run: Run, why: str, stderr: Path) -> Run:
    lines = stderr.read_text(errors="replace").strip().splitlines()
    last = lines[-1] if lines else "no stderr"
    error = f"round {run.round} {run.suite} {run.tree}: {why}: {last} (see {stderr})"
    return Run(run.tree, run.suite, run.round, run.seconds, {}, error)
