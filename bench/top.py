"""Cost of `corral top` watching 1,000 instances: the app's CPU share of one core.

A real daemon runs N `sleep` instances (numprocs = N) with the sampler at
`--interval`; the app runs headless in this process (textual's `run_test`, which
lays out and renders every frame as a terminal would, to a null driver) for
`--seconds` after its table is filled, the first metrics message has arrived and
the history of the rows in view is in (a one-off at start: the window measures the
steady cost).
Measured over that window, beside each other:

- the app: this process's CPU time (every thread: the event feed's decoding, the
  model, the table, the renders) over the wall time, as a % of one core; the bound
  is 2 %;
- the daemon: its CPU time over the same window, and over a window of the same
  length before the app connected (what the metrics message costs it to encode).

The machine is shared with other work: absolute figures are noisy; the ratio of
the app's share to its bound and the daemon's with/without are the figures that
bind. Run:

    .venv/bin/python -m bench.top [--instances 1000] [--seconds 20] [--interval 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import time

from bench.daemon.harness import Daemon, scratch_dir, write_config
from bench.machine import machine
from corral._control.client import Client
from corral._control.top.app import TopApp
from corral._platform import read_stats

BOUND = 2.0
"""% of one core the app may use with 1,000 instances."""


def _cpu(pid: int) -> float:
    stat = read_stats([pid]).get(pid)
    return 0.0 if stat is None else stat.cpu_seconds


async def _watch(socket: str, size: int, seconds: float, daemon_pid: int) -> dict[str, float]:
    app = TopApp(lambda: Client(socket, timeout=None))
    async with app.run_test(size=(160, 50)) as pilot:
        deadline = time.monotonic() + 120
        while not (app.settled and len(app.order) == size):
            if time.monotonic() > deadline:
                raise TimeoutError("the app did not fill its table and settle in 120 s")
            await pilot.pause(0.1)
        samples, events = app.fleet.header.samples, app.events_applied
        wall, cpu, daemon = time.monotonic(), time.process_time(), _cpu(daemon_pid)
        await asyncio.sleep(seconds)  # the app runs meanwhile: this is the measured window
        wall, cpu = time.monotonic() - wall, time.process_time() - cpu
        daemon = _cpu(daemon_pid) - daemon
        return {
            "app_percent": 100.0 * cpu / wall,
            "daemon_percent": 100.0 * daemon / wall,
            "samples": app.fleet.header.samples - samples,
            "messages": app.events_applied - events,
            "rows": len(app.order),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--interval", type=float, default=5.0, help="[metrics] interval")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sleep = shutil.which("sleep")
    if sleep is None:
        raise SystemExit("`sleep` is not on PATH")
    programs = (
        f"[metrics]\ninterval = {args.interval}\n\n"
        f'[programs.sleep]\ncommand = ["{sleep}", "3600"]\nstart_seconds = 0\n'
        f"numprocs = {args.instances}\n"
    )
    with scratch_dir() as directory, Daemon(write_config(directory, programs)) as daemon:
        daemon.wait_states(args.instances, "RUNNING", 0, 300)
        before = _cpu(daemon.pid)
        time.sleep(args.seconds)  # the daemon alone, for the same length of window
        idle = 100.0 * (_cpu(daemon.pid) - before) / args.seconds
        figures = asyncio.run(_watch(daemon.socket, args.instances, args.seconds, daemon.pid))
    figures["daemon_percent_without_app"] = idle
    figures["ratio_to_bound"] = figures["app_percent"] / BOUND
    report = {"figures": figures, "args": vars(args), "machine": machine()}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"corral top, {args.instances} instances, sampler every {args.interval:g} s,")
    print(f"{args.seconds:g} s window (machine shared with other work: figures are noisy)")
    print(f"  app CPU            {figures['app_percent']:6.2f} % of one core")
    print(f"  bound              {BOUND:6.2f} %   ratio {figures['ratio_to_bound']:.2f}", end="")
    print("  (met)" if figures["app_percent"] <= BOUND else "  (NOT met)")
    print(f"  daemon CPU         {figures['daemon_percent']:6.2f} % with the app", end="")
    print(f", {idle:.2f} % without")
    print(
        f"  metrics messages   {figures['samples']:6.0f}   all messages {figures['messages']:.0f}"
    )
    for key, value in report["machine"].items():
        print(f"  {key}: {value}")


if __name__ == "__main__":
    main()
