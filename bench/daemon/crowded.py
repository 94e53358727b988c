"""Stopping programs on a crowded machine: `python -m bench.daemon.crowded`.

A tree scan reads /proc once for every process on the machine, so its cost grows
with processes that have nothing to do with corral. This benchmark measures that
twice, first on the machine as it is and then with a crowd of `--crowd` unrelated
`sleep` processes (crowd.py) beside it:

1. tree scans: a child process (scanner.py) starts `--trees` marked trees and times
   one `find_trees` pass for all of them, as a library caller and as a child
   subreaper (the daemon's role), beside the stat-only floor;
2. `corral stop all` then `corral start all` (CLI wall time, `--rounds` times) on
   one daemon running `--programs` programs of one `sleep 3600` each.

The crowd is the benchmark's own children, so neither the scanner nor the daemon
descends from it. Every crowd process is killed by pid and reaped, on errors too.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Sequence

import corral
from bench.daemon.crowd import CROWD_MAX, crowd
from bench.daemon.harness import Daemon, scratch_dir, write_config
from bench.daemon.report import Figure, Report, as_json, as_text, sampled
from bench.daemon.scale import UP_TIMEOUT, lifecycle, process_count, scale_config
from bench.machine import machine

SCANNER_TIMEOUT = 300.0
SCANNER_GRACE = 10.0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.daemon.crowded", description=__doc__)
    add = parser.add_argument
    add("--crowd", type=int, default=CROWD_MAX, help=f"unrelated processes (at most {CROWD_MAX})")
    add("--trees", type=int, default=200, help="trees per scan (200)")
    add("--scans", type=int, default=20, help="timed scans per role (20)")
    add("--programs", type=int, default=200, help="programs under the daemon (200; 0 skips)")
    add("--rounds", type=int, default=3, help="stop all / start all rounds (3)")
    add("--keep", action="store_true", help="keep the scratch directory (daemon output, logs)")
    add("--json", action="store_true", help="print JSON instead of the table")
    args = parser.parse_args(argv)
    if not 0 <= args.crowd <= CROWD_MAX:
        parser.error(f"--crowd must be 0 to {CROWD_MAX}")
    return args


def scan_figures(group: str, trees: int, scans: int) -> list[Figure]:
    """One scanner child's timings, as figures."""
    argv = [sys.executable, "-m", "bench.daemon.scanner", str(trees), str(scans)]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, text=True) as child:
        try:
            out, _ = child.communicate(timeout=SCANNER_TIMEOUT)
        except subprocess.TimeoutExpired:
            child.send_signal(signal.SIGTERM)  # it ends its trees, then exits
            try:
                child.wait(SCANNER_GRACE)
            finally:
                child.kill()
            raise
    if child.returncode != 0:
        raise RuntimeError(f"the scanner exited {child.returncode}")
    times: dict[str, list[float]] = json.loads(out)
    return [
        sampled(group, f"find_trees of {trees} trees, {role}", "ms", values)
        for role, values in times.items()
    ]


def measure(args: argparse.Namespace, daemon: Daemon | None) -> list[Figure]:
    figures: list[Figure] = []
    for size in (0, args.crowd):
        with crowd(size):
            group = f"crowd {size:,} ({process_count():,} processes)"
            figures += scan_figures(group, args.trees, args.scans)
            if daemon is not None:
                figures += lifecycle(group, args.programs, daemon, args.rounds)
    return figures


def run(args: argparse.Namespace) -> Report:
    report = Report(" ".join(sys.orig_argv), machine())
    report.machine["processes_at_start"] = str(process_count())
    compileall.compile_dir(os.path.dirname(corral.__file__), quiet=1)
    if not args.programs:
        report.figures += measure(args, None)
        return report
    sleep = shutil.which("sleep")
    if sleep is None:
        raise RuntimeError("`sleep` is not on PATH")
    with scratch_dir(keep=args.keep) as directory:
        config = write_config(directory, scale_config(args.programs, "programs", sleep))
        with Daemon(config) as daemon:
            daemon.wait_states(args.programs, "RUNNING", 0, UP_TIMEOUT)
            report.figures += measure(args, daemon)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    report = run(args)
    print(as_json(report) if args.json else as_text(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
