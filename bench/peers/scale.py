"""Workload 3, scale: N instances of `sleep 3600` under one daemon (N = 200 and 1,000).

Per daemon, already up and idle with the program defined but not started:

- **all up**: from running the CLI's start command until the daemon has N children
  that have exec'd `sleep` (read from /proc; the same test for every peer).
- **RSS**: VmRSS summed over the supervisor's own processes (corral, supervisord and
  circusd are one process each; PM2's is its node God daemon), after the idle period.
- **idle CPU**: the same processes' CPU time over the idle period, as a percentage.
- **status CLI**: wall time of the CLI's status command (median of several runs).
- **stop all**: from running the CLI's stop command until it has returned and the
  daemon has reaped every `sleep`.

Floors, measured in the same run: the harness spawning N sleeps itself
(os.posix_spawn, until all have exec'd), then SIGTERM + waitpid for each; and the
venv's `python -c pass` for a CLI's start-up.
"""

from __future__ import annotations

import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.peers import control, procfs
from bench.peers.install import ROOT
from bench.peers.peer import Adapter, Program, RunOptions, Session, SessionError, clean_env
from bench.peers.report import Metric, Results, Target, fixed, times

SETTLE = 0.5
UP_DEADLINE = 300.0
"""A peer that cannot bring all instances up within this is capped (and noted)."""
PYTHON = Path(sys.executable)
"""The interpreter running the benchmark (the project's venv)."""


def metrics(sizes: tuple[int, ...]) -> list[Metric]:
    found = []
    for n in sizes:
        found += [
            Metric(f"scale{n}.up", f"{n} x sleep: all up", "s", 3, "floor", "posix_spawn loop"),
            Metric(f"scale{n}.rss", f"{n} x sleep: supervisor RSS", "MB", 1),
            Metric(f"scale{n}.idle", f"{n} x sleep: supervisor idle CPU", "%", 2),
            Metric(
                f"scale{n}.status", f"{n} x sleep: status CLI", "ms", 0, "floor", "python -c pass"
            ),
            Metric(
                f"scale{n}.stop", f"{n} x sleep: stop all", "s", 3, "floor", "SIGTERM + waitpid"
            ),
        ]
    return found


def targets(sizes: tuple[int, ...]) -> list[Target]:
    found = []
    if 200 in sizes:
        found += [
            Target("scale200.up", "corral", "<= 0.5 s", fixed(0.5)),
            Target(
                "scale200.rss",
                "corral",
                "<= supervisord",
                times(1.0, "scale200.rss", "supervisord"),
            ),
            Target("scale200.idle", "corral", "<= 0.2 %", fixed(0.2)),
            Target("scale200.status", "corral", "<= 120 ms", fixed(120.0)),
            Target("scale200.stop", "corral", "<= 0.3 s", fixed(0.3)),
        ]
    if 1000 in sizes:
        found += [
            Target("scale1000.up", "corral", "<= 2 s", fixed(2.0)),
            Target(
                "scale1000.rss",
                "corral",
                "<= supervisord",
                times(1.0, "scale1000.rss", "supervisord"),
            ),
        ]
    return found


def _wait_count(counter: procfs.ChildCounter, want: int, deadline: float) -> bool:
    while counter.count() != want:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def _status_ms(argv: list[str], env: dict[str, str], cwd: Path, runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, cwd=cwd, env=env, capture_output=True, check=False, timeout=600)
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def floor(opts: RunOptions, n: int) -> dict[str, float]:
    """The harness itself spawning and ending N sleeps; python start-up."""
    sleep = shutil.which("sleep") or "/bin/sleep"
    counter = procfs.ChildCounter([os.getpid()], "sleep")
    start = time.perf_counter()
    pids = [os.posix_spawn(sleep, [sleep, "3600"], os.environ) for _ in range(n)]
    try:
        _wait_count(counter, n, time.monotonic() + UP_DEADLINE)
        up = time.perf_counter() - start
    finally:
        start = time.perf_counter()
        for pid in pids:
            os.kill(pid, signal.SIGTERM)
        for pid in pids:
            os.waitpid(pid, 0)
        stop = time.perf_counter() - start
    status = _status_ms([str(PYTHON), "-c", "pass"], clean_env(), ROOT, opts.status_runs)
    return {"up": up, "stop": stop, "status": status}


def supervised(
    adapter: Adapter, opts: RunOptions, n: int, *, scale: bool, api: bool
) -> dict[str, float | None]:
    """N sleeps under `adapter`'s daemon: the figures in the module docstring."""
    run = opts.runs / adapter.name
    program = Program(
        name="sleep", argv=(shutil.which("sleep") or "/bin/sleep", "3600"), numprocs=n, restart=True
    )
    figures: dict[str, float | None] = {}
    with Session(adapter, [program], run) as session:
        opts.keep_config(session, f"scale-{n}")
        time.sleep(SETTLE)
        counter = procfs.ChildCounter(session.pids, "sleep")
        start = time.perf_counter()
        cli = session.start_async(program)
        all_up = _wait_count(counter, n, time.monotonic() + UP_DEADLINE)
        figures["up"] = time.perf_counter() - start if all_up else None
        cli.wait(timeout=UP_DEADLINE)
        if not all_up:
            opts.results.note(
                f"{adapter.name}: {n} instances not all up within {UP_DEADLINE:.0f} s "
                f"({counter.count()} were)"
            )
        if scale:
            time.sleep(1.0)
            cpu = session.cpu_seconds()
            time.sleep(opts.idle)
            figures["idle"] = (session.cpu_seconds() - cpu) / opts.idle * 100
            figures["rss"] = session.rss_bytes() / 1e6
            argv = adapter.status_argv(run)
            figures["status"] = _status_ms(argv, session.env, run, opts.status_runs)
        if api:
            figures.update(control.measure(adapter, run, opts.api_calls))
        session.check_alive()
        start = time.perf_counter()
        session.cli(adapter.stop_all_argv(run), timeout=UP_DEADLINE)
        all_down = _wait_count(counter, 0, time.monotonic() + UP_DEADLINE)
        figures["stop"] = time.perf_counter() - start if all_down else None
    return figures


def run_round(adapters: list[Adapter], opts: RunOptions, *, scale: bool, api: bool) -> None:
    """Every variant once per size, shuffled; `scale` and `api` pick the figures kept."""
    sizes = opts.sizes if scale else (max(opts.sizes),)
    for n in sizes:
        variants: list[str | Adapter] = ["floor", *adapters] if scale else list(adapters)
        opts.rng.shuffle(variants)
        for variant in variants:
            if isinstance(variant, str):
                name, found = variant, dict[str, float | None](floor(opts, n))
            else:
                name, with_api = variant.name, api and n == max(opts.sizes)
                try:
                    found = supervised(variant, opts, n, scale=scale, api=with_api)
                except SessionError as exc:
                    opts.failed(variant, f"scale-{n}", exc)
                    keys = ["up", "stop"] + (["idle", "rss", "status"] if scale else [])
                    found = dict.fromkeys(keys + (["api_p50", "api_p99"] if with_api else []))
            _record(opts.results, n, name, found, scale=scale)
            shown = ", ".join(
                f"{k} {v:.3g}" if v is not None else f"{k} -" for k, v in found.items()
            )
            opts.progress(f"scale {n} {name}: {shown}")


def _record(
    results: Results, n: int, name: str, found: dict[str, float | None], *, scale: bool
) -> None:
    for key, value in found.items():
        if key.startswith("api"):
            results.add(f"control{n}.{key}", name, value)
        elif scale:
            results.add(f"scale{n}.{key}", name, value)
