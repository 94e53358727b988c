"""Workload 2, restart latency: how soon a supervisor restarts a program that exits 1 at once.

`writer stamp FILE` appends its start time (CLOCK_REALTIME ns) to FILE and exits 1.
Each supervisor restarts it as fast as its configuration allows; the figure is the
gap between consecutive starts, p50 and p90 over 40 restarts. The floor is a loop
that spawns the same program and waits for it (os.posix_spawn + os.waitpid), which
is what any restart costs before a supervisor adds its own delay.
"""

from __future__ import annotations

import itertools
import os
import time
from pathlib import Path

from bench.peers.peer import Adapter, Program, RunOptions, Session, SessionError
from bench.peers.report import Metric, Target, percentile, times

RESTARTS = 40
DEADLINE = 180.0

METRICS = [
    Metric(
        "restart.p50", f"restart gap, p50 of {RESTARTS} restarts", "ms", 1, "floor", "spawn loop"
    ),
    Metric(
        "restart.p90", f"restart gap, p90 of {RESTARTS} restarts", "ms", 1, "floor", "spawn loop"
    ),
]
TARGETS = [
    Target("restart.p50", "corral", "<= 0.5x PM2", times(0.5, "restart.p50", "pm2")),
]


def _stamps(path: Path) -> list[int]:
    try:
        return [int(x) for x in path.read_text().split()]
    except (OSError, ValueError):
        return []


def _gaps_ms(stamps: list[int]) -> list[float]:
    starts = stamps[: RESTARTS + 1]
    return [(b - a) / 1e6 for a, b in itertools.pairwise(starts)]


def floor(opts: RunOptions) -> list[float]:
    """Spawn the program and reap it, RESTARTS + 1 times in a row."""
    run = opts.runs / "floor"
    run.mkdir(parents=True, exist_ok=True)
    file = run / "stamps"
    file.unlink(missing_ok=True)
    argv = [str(opts.writer), "stamp", str(file)]
    for _ in range(RESTARTS + 1):
        os.waitpid(os.posix_spawn(argv[0], argv, os.environ), 0)
    return _gaps_ms(_stamps(file))


def supervised(adapter: Adapter, opts: RunOptions) -> list[float]:
    """Start the crashing program under `adapter`; the gaps of its first RESTARTS restarts."""
    run = opts.runs / adapter.name
    file = run / "stamps"
    program = Program(name="crash", argv=(str(opts.writer), "stamp", str(file)), restart=True)
    with Session(adapter, [program], run) as session:
        opts.keep_config(session, "restart")
        session.cli(adapter.start_argv(run, program))
        deadline = time.monotonic() + DEADLINE
        while len(_stamps(file)) <= RESTARTS and time.monotonic() < deadline:
            time.sleep(0.01)
        session.check_alive()
        session.cli(adapter.stop_all_argv(run))
        stamps = _stamps(file)
    if len(stamps) <= RESTARTS:
        opts.results.note(
            f"{adapter.name}: only {len(stamps)} starts within {DEADLINE:.0f} s (restart workload)"
        )
    return _gaps_ms(stamps)


def run_round(adapters: list[Adapter], opts: RunOptions) -> None:
    variants: list[str | Adapter] = ["floor", *adapters]
    opts.rng.shuffle(variants)
    for variant in variants:
        if isinstance(variant, str):
            name, gaps = variant, floor(opts)
        else:
            name = variant.name
            try:
                gaps = supervised(variant, opts)
            except SessionError as exc:
                opts.failed(variant, "restart", exc)
                gaps = []
        p50 = percentile(gaps, 0.5) if gaps else None
        p90 = percentile(gaps, 0.9) if gaps else None
        opts.results.add("restart.p50", name, p50)
        opts.results.add("restart.p90", name, p90)
        shown = "-" if p50 is None or p90 is None else f"p50 {p50:.1f} ms, p90 {p90:.1f} ms"
        opts.progress(f"restart {name}: {shown} over {len(gaps)} gaps")
