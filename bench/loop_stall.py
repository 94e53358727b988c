"""The daemon's worst event-loop stall while it starts, restarts, stops programs and logs a flood.

A real daemon runs N programs (`--programs`, default 20; autostart off). When we
are root and the machine has cgroups, half of them are sandboxed (`pids = 64`,
`memory = "64M"`) and each of those leaves behind a process that only its
cgroup can find (new session, empty environment, SIGTERM ignored), so every
stop ends with the daemon's cgroup kill. One more program floods its log
(`yes`). The phases, each `--rounds` times (default 3), then the flood:

- `start` / `restart` / `stop`: one API call on all N programs (each call
  returns once every instance is RUNNING or STOPPED), plus `--settle` seconds
  (default 0.3) for the work that follows a reply (sweeps, cgroup removal);
- `flood`: `--flood` seconds (default 3) while `yes` writes as fast as it can;
- `idle`: one second before anything starts, the floor.

Two figures per phase:

- **loop lateness (inside)**: the daemon runs under `bench.loop_probe`, whose
  heartbeat is due every millisecond; a beat's lateness is how long the loop
  was stalled when it was due (p50, p99 and max over the phase's beats);
- **API round trip (outside)**: a thread of ours sends `GET /v1/events` for an
  empty range (the cheapest route) every `--ping` seconds (default 0.005) on a
  connection of its own, and times each answer.

Target: none yet in the test suite (timing belongs here). The figure to watch
is `stop` max: a cgroup kill that sleeps on the loop shows there. Run from the
repository root:

    .venv/bin/python -m bench.loop_stall [--programs 20] [--rounds 3] [--json]
    PYTHONPATH=/path/to/other/src .venv/bin/python -m bench.loop_stall   # another tree
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from bench.daemon.harness import Daemon, scratch_dir, write_config
from bench.machine import machine
from corral._control.client import Client
from corral.lowlevel import Feature, features

_LEAKY = "env -i setsid sh -c \"trap '' TERM; exec sleep 300\" & exec sleep 300"
"""A root that ends on SIGTERM, and a child that outlives it where only its cgroup finds it."""

_FLOOD_LINE = "flood " * 8


@dataclass(frozen=True, slots=True)
class Phase:
    """One measured stretch: its name and its CLOCK_MONOTONIC bounds."""

    name: str
    began: float
    ended: float


@dataclass(slots=True)
class Pinger:
    """A thread that times one cheap API request every `period` seconds."""

    socket: str
    period: float
    samples: list[tuple[float, float]] = field(default_factory=list)
    """(when it was sent, round-trip seconds), CLOCK_MONOTONIC."""
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="pinger", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        query = {"since": str(1 << 62)}
        with Client(self.socket, timeout=None) as client:
            due = time.monotonic()
            while not self._stop.is_set():
                sent = time.monotonic()
                client.request("GET", "/v1/events", query=query)
                self.samples.append((sent, time.monotonic() - sent))
                due = max(due + self.period, time.monotonic())
                self._stop.wait(max(0.0, due - time.monotonic()))


def _config(directory: str, programs: int, sandboxed: bool) -> str:
    boxed = programs // 2 if sandboxed else 0
    lines: list[str] = []
    for i in range(programs):
        name = f"p{i:03d}"
        leaky = i < boxed
        command = ["sh", "-c", _LEAKY] if leaky else ["sleep", "300"]
        lines += [
            f"[programs.{name}]",
            f"command = {json.dumps(command)}",
            "autostart = false",
            "start_seconds = 0",
            "stop_timeout = 5",
        ]
        if leaky:
            lines += [f"[programs.{name}.sandbox]", "pids = 64", 'memory = "64M"']
    lines += [
        "[programs.flood]",
        f"command = {json.dumps(['yes', _FLOOD_LINE])}",
        "autostart = false",
        "start_seconds = 0",
        'logs = { timestamps = true, max_bytes = "4M", backups = 1 }',
    ]
    return write_config(directory, "\n".join(lines) + "\n")


def run(args: argparse.Namespace) -> tuple[list[Phase], list[tuple[float, float]], Pinger]:
    """Drive one daemon through every phase; (phases, heartbeat beats, pinger)."""
    sandboxed = args.sandbox and _can_sandbox()
    with scratch_dir(keep=args.keep) as directory:
        config = _config(directory, args.programs, sandboxed)
        beats_path = os.path.join(directory, "beats.jsonl")
        probe = (sys.executable, "-m", "bench.loop_probe", "--out", beats_path)
        phases: list[Phase] = []
        with Daemon(config, command=probe) as daemon:
            pinger = Pinger(daemon.socket, args.ping)
            pinger.start()
            try:
                phases.append(_idle(1.0))
                names = [f"p{i:03d}" for i in range(args.programs)]
                for _ in range(args.rounds):
                    phases.append(_call(daemon, "start", names, args.settle))
                    phases.append(_call(daemon, "restart", names, args.settle))
                    phases.append(_call(daemon, "stop", names, args.settle))
                phases.append(_flood(daemon, args.flood))
            finally:
                pinger.stop()
        with open(beats_path, encoding="utf-8") as f:
            beats = [(float(due), float(late)) for due, late in map(json.loads, f)]
    print(f"programs: {args.programs} ({args.programs // 2 if sandboxed else 0} sandboxed)")
    return phases, beats, pinger


def _can_sandbox() -> bool:
    found = features()
    return os.geteuid() == 0 and all(
        found[f].supported for f in (Feature.CGROUP_PIDS, Feature.CGROUP_MEMORY)
    )


def _idle(seconds: float) -> Phase:
    began = time.monotonic()
    time.sleep(seconds)
    return Phase("idle", began, time.monotonic())


def _call(daemon: Daemon, verb: str, names: list[str], settle: float) -> Phase:
    began = time.monotonic()
    reply = daemon.request("POST", f"/{verb}", {"targets": names})
    wanted = "STOPPED" if verb == "stop" else "RUNNING"
    states = {row["state"] for row in reply["results"]}
    if states != {wanted}:
        raise RuntimeError(f"{verb}: instances ended in {sorted(states)}, not {wanted}")
    time.sleep(settle)  # the work that follows a reply: sweeps, cgroup removal
    return Phase(verb, began, time.monotonic())


def _flood(daemon: Daemon, seconds: float) -> Phase:
    daemon.request("POST", "/start", {"targets": ["flood"]})
    began = time.monotonic()
    time.sleep(seconds)
    ended = time.monotonic()
    daemon.request("POST", "/stop", {"targets": ["flood"]})
    return Phase("flood", began, ended)


# -- reporting ---------------------------------------------------------------------


def summarise(
    phases: Sequence[Phase], samples: Sequence[tuple[float, float]]
) -> dict[str, dict[str, float]]:
    """Per phase name (rounds pooled) and overall: count, p50, p99, max, in ms."""
    pooled: dict[str, list[float]] = {}
    for phase in phases:
        inside = [v for t, v in samples if phase.began <= t <= phase.ended]
        pooled.setdefault(phase.name, []).extend(inside)
    pooled["all"] = [v for values in pooled.values() for v in values]
    return {name: _stats(values) for name, values in pooled.items()}


def _stats(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    if not ordered:
        return {"count": 0, "p50": float("nan"), "p99": float("nan"), "max": float("nan")}

    def rank(fraction: float) -> float:  # nearest rank, in ms
        return ordered[max(1, math.ceil(fraction * len(ordered))) - 1] * 1e3

    return {"count": len(ordered), "p50": rank(0.5), "p99": rank(0.99), "max": ordered[-1] * 1e3}


def render(table: dict[str, dict[str, dict[str, float]]]) -> list[str]:
    lines = [f"{'phase':<9}{'measure':<30}{'n':>7}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}"]
    for measure, rows in table.items():
        for name, row in rows.items():
            lines.append(
                f"{name:<9}{measure:<30}{int(row['count']):>7}"
                f"{row['p50']:>10.2f}{row['p99']:>10.2f}{row['max']:>10.2f}"
            )
    return lines


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.loop_stall", description=__doc__)
    parser.add_argument("--programs", type=int, default=20, help="programs started (20)")
    parser.add_argument("--rounds", type=int, default=3, help="start/restart/stop rounds (3)")
    parser.add_argument("--settle", type=float, default=0.3, help="seconds after a reply (0.3)")
    parser.add_argument("--flood", type=float, default=3.0, help="seconds of flood (3)")
    parser.add_argument("--ping", type=float, default=0.005, help="seconds between pings")
    parser.add_argument("--no-sandbox", dest="sandbox", action="store_false")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    parser.add_argument("--json", action="store_true")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    print("command:", " ".join(sys.orig_argv))
    print("machine:", ", ".join(f"{k} {v}" for k, v in machine().items()))
    with open("/proc/loadavg", encoding="utf-8") as f:
        print("load average before:", " ".join(f.read().split()[:3]))
    phases, beats, pinger = run(args)
    table = {
        "loop lateness (inside)": summarise(phases, beats),
        "API round trip (outside)": summarise(phases, pinger.samples),
    }
    if args.json:
        print(json.dumps(table, indent=2))
    else:
        print("\n".join(render(table)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
