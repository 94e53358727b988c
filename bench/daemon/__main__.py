"""`python -m bench.daemon`: pick workloads and sizes, print the table (or JSON)."""

from __future__ import annotations

import argparse
import compileall
import os
import sys
from collections.abc import Sequence

import corral
from bench.daemon.harness import scratch_dir
from bench.daemon.imports import run_imports
from bench.daemon.report import Report, as_json, as_text
from bench.daemon.restart import ratio_note, run_restart
from bench.daemon.scale import ScaleOptions, process_count, run_scale
from bench.machine import machine

WORKLOADS = ("restart", "scale", "imports")
LAYOUTS = ("numprocs", "programs")


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.daemon", description=__doc__)
    add = parser.add_argument
    add(
        "--workloads",
        default=",".join(WORKLOADS),
        help="comma-separated: restart, scale (with control), imports (default: all)",
    )
    add("--sizes", type=_ints, default=[200, 1000], help="instances per scale run (200,1000)")
    add(
        "--layouts",
        default="numprocs,programs",
        help="numprocs (one program, numprocs = N) and/or programs (N programs)",
    )
    add(
        "--programs-max",
        type=int,
        default=200,
        help="run the `programs` layout only for sizes up to this (200)",
    )
    add("--idle-seconds", type=float, default=20.0, help="idle CPU window (20)")
    add(
        "--metrics-interval",
        type=float,
        help="[metrics] interval for the scale daemons (default: the config default, 5 s)",
    )
    add("--status-runs", type=int, default=10, help="`corral status` runs per size (10)")
    add(
        "--control-calls",
        type=int,
        default=200,
        help="API status calls per variant (200; 0 skips the control figures)",
    )
    add("--control-warmup", type=int, default=10, help="unrecorded API calls first (10)")
    add("--lifecycle-rounds", type=int, default=3, help="stop all / start all rounds (3; 0 skips)")
    add("--restart-burst", type=int, default=41, help="starts per burst (41, so 40 gaps)")
    add("--restart-rounds", type=int, default=6, help="recorded rounds of bursts (6)")
    add("--restart-warmup", type=int, default=1, help="unrecorded rounds first (1)")
    add("--importtime-runs", type=int, default=5, help="`-X importtime` runs (5)")
    add(
        "--quick",
        action="store_true",
        help="a smoke run: size 200, idle 3 s, fewer samples everywhere",
    )
    add("--keep", action="store_true", help="keep the scratch directory (daemon output, logs)")
    add("--json", action="store_true", help="print JSON instead of the table")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.idle_seconds, args.status_runs = [200], 3.0, 3
        args.control_calls, args.lifecycle_rounds = 30, 1
        args.restart_rounds, args.importtime_runs = 2, 2
    args.workloads = [w for w in args.workloads.split(",") if w]
    args.layouts = [layout for layout in args.layouts.split(",") if layout]
    for name in args.workloads:
        if name not in WORKLOADS:
            parser.error(f"unknown workload {name!r}; choose from {', '.join(WORKLOADS)}")
    for name in args.layouts:
        if name not in LAYOUTS:
            parser.error(f"unknown layout {name!r}; choose from {', '.join(LAYOUTS)}")
    return args


def run(args: argparse.Namespace) -> Report:
    report = Report(" ".join(sys.orig_argv), machine())
    report.machine["processes_at_start"] = str(process_count())
    # The CLI's start-up counts only with bytecode compiled, as an installed package has it.
    compileall.compile_dir(os.path.dirname(corral.__file__), quiet=1)
    with scratch_dir(keep=args.keep) as directory:
        if "restart" in args.workloads:
            report.figures += run_restart(
                directory,
                burst=args.restart_burst,
                rounds=args.restart_rounds,
                warmup=args.restart_warmup,
            )
            report.notes.append(ratio_note(report.figures))
        if "scale" in args.workloads:
            opts = ScaleOptions(
                idle_seconds=args.idle_seconds,
                status_runs=args.status_runs,
                control_calls=args.control_calls,
                control_warmup=args.control_warmup,
                lifecycle_rounds=args.lifecycle_rounds,
                metrics_interval=args.metrics_interval,
            )
            for size in args.sizes:
                for layout in args.layouts:
                    if layout == "programs" and size > args.programs_max:
                        continue
                    report.figures += run_scale(directory, size, layout, opts)
        if "imports" in args.workloads:
            figures, note = run_imports(directory, args.importtime_runs)
            report.figures += figures
            report.notes.append(note)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    report = run(args)
    print(as_json(report) if args.json else as_text(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
