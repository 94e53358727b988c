"""Restart latency: a program that exits 1 at once, restarted by the daemon with no delay.

The program (`stamp`, C, built into the scratch directory) appends one line to a
file, `PID MONOTONIC_NS REALTIME_NS`, and exits 1. The gap between consecutive
starts is the difference of consecutive CLOCK_MONOTONIC stamps. Three variants,
each producing bursts of `burst` starts, interleaved in shuffled rounds:

- the daemon: config with start_seconds = 0, zero backoff, no jitter and a start
  limit of 1000 per second; `POST /v1/start`, wait for `burst` lines, `POST /v1/stop`;
- a plain shell loop, `while [ $i -lt N ]; do stamp FILE; i=$((i+1)); done`;
- a Python loop of os.posix_spawn + os.waitpid.

The daemon's own "state" events (wall-clock times, the same CLOCK_REALTIME the
program stamps) split each daemon cycle into: program start -> exit noticed
(RUNNING -> BACKOFF), exit noticed -> restart timer fired (BACKOFF -> STARTING),
the spawn call (STARTING -> RUNNING), and that event -> the new program's stamp.
"""

from __future__ import annotations

import itertools
import math
import os
import random
import shutil
import subprocess
import time
from dataclasses import dataclass

from bench.daemon.harness import Daemon, StateEvent, write_config
from bench.daemon.report import Figure, Target, sampled

STAMP_C = r"""
#include <fcntl.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    struct timespec mono, real;
    clock_gettime(CLOCK_MONOTONIC, &mono);
    clock_gettime(CLOCK_REALTIME, &real);
    if (argc < 2) return 2;
    char line[96];
    int n = snprintf(line, sizeof line, "%d %lld %lld\n", (int)getpid(),
                     (long long)mono.tv_sec * 1000000000LL + mono.tv_nsec,
                     (long long)real.tv_sec * 1000000000LL + real.tv_nsec);
    int fd = open(argv[1], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, line, n) != n) return 3;
    close(fd);
    return 1;
}
"""

SHELL_LOOP = 'i=0; while [ "$i" -lt "$1" ]; do "$2" "$3"; i=$((i+1)); done'
GAP_TARGET = Target(5.0, "<= 5 ms (half of PM2's ~10)")
BURST_TIMEOUT = 30.0
SEED = 1


@dataclass(frozen=True, slots=True)
class Stamp:
    pid: int
    mono_ns: int
    real_ns: int


def build_stamp(directory: str) -> str:
    """Compile the stamp program into `directory`; its path."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise RuntimeError("the restart workload needs a C compiler (cc or gcc) on PATH")
    source = os.path.join(directory, "stamp.c")
    binary = os.path.join(directory, "stamp")
    with open(source, "w", encoding="utf-8") as f:
        f.write(STAMP_C)
    subprocess.run([compiler, "-O2", "-o", binary, source], check=True)
    return binary


def read_stamps(path: str) -> list[Stamp]:
    with open(path, "rb") as f:
        return [Stamp(*map(int, line.split())) for line in f.read().splitlines()]


def _count_lines(path: str) -> int:
    with open(path, "rb") as f:
        return f.read().count(b"\n")


def _gaps_ms(stamps: list[Stamp]) -> list[float]:
    return [(b.mono_ns - a.mono_ns) / 1e6 for a, b in itertools.pairwise(stamps)]


class RestartBench:
    """The three ways of restarting the stamp program, one burst at a time."""

    def __init__(self, daemon: Daemon, stamp: str, burst: int) -> None:
        self.daemon = daemon
        self.stamp = stamp
        self.burst = burst
        self.file = os.path.join(daemon.directory, "starts")

    def _fresh(self) -> None:
        with open(self.file, "wb"):
            pass

    def daemon_burst(self) -> tuple[list[Stamp], list[StateEvent]]:
        self._fresh()
        seq = self.daemon.last_seq()
        self.daemon.request("POST", "/start", {"targets": ["flap"]})
        deadline = time.monotonic() + BURST_TIMEOUT
        while _count_lines(self.file) < self.burst:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.burst} starts not seen; daemon:\n{self.daemon.tail()}")
            time.sleep(0.005)
        self.daemon.request("POST", "/stop", {"targets": ["flap"]})
        events, _ = self.daemon.state_events(seq)
        return read_stamps(self.file)[: self.burst], events

    def shell_burst(self) -> list[Stamp]:
        self._fresh()
        argv = ["/bin/sh", "-c", SHELL_LOOP, "sh", str(self.burst), self.stamp, self.file]
        subprocess.run(argv, check=True)
        return read_stamps(self.file)

    def posix_spawn_burst(self) -> list[Stamp]:
        self._fresh()
        argv = [self.stamp, self.file]
        for _ in range(self.burst):
            os.waitpid(os.posix_spawn(self.stamp, argv, os.environ), 0)
        return read_stamps(self.file)


def phases_ms(stamps: list[Stamp], events: list[StateEvent]) -> dict[str, list[float]]:
    """Each daemon restart cycle split into its four phases (see the module docstring)."""
    real = {s.pid: s.real_ns / 1e9 for s in stamps}
    flap = [e for e in events if e.subject == "flap:0"]
    split: dict[str, list[float]] = {k: [] for k in PHASES}
    for i, run in enumerate(flap):
        tail = flap[i + 1 : i + 4]
        if run.new != "RUNNING" or run.pid not in real or len(tail) < 3:
            continue
        exit_, timer, spawned = tail
        if (exit_.new, timer.new, spawned.new) != ("BACKOFF", "STARTING", "RUNNING"):
            continue
        if spawned.pid not in real:
            continue
        split["start -> exit noticed"].append(exit_.time - real[run.pid])
        split["exit noticed -> timer fired"].append(timer.time - exit_.time)
        split["timer fired -> spawned (launch)"].append(spawned.time - timer.time)
        split["spawned -> new program's stamp"].append(real[spawned.pid] - spawned.time)
        split["exit noticed -> new process running"].append(spawned.time - exit_.time)
    return {k: [v * 1000 for v in values] for k, values in split.items()}


PHASES = (
    "start -> exit noticed",
    "exit noticed -> timer fired",
    "timer fired -> spawned (launch)",
    "spawned -> new program's stamp",
    "exit noticed -> new process running",
)


def restart_config(stamp: str, file: str) -> str:
    return (
        "[programs.flap]\n"
        f'command = ["{stamp}", "{file}"]\n'
        "autostart = false\n"
        "start_seconds = 0\n"
        "backoff = { initial = 0, factor = 1, max = 0, jitter = 0 }\n"
        "start_limit = { burst = 1000, interval = 1 }\n"
    )


def run_restart(directory: str, *, burst: int, rounds: int, warmup: int) -> list[Figure]:
    """Interleaved bursts of the three variants; gap figures and the daemon's phases."""
    stamp = build_stamp(directory)
    config = write_config(directory, restart_config(stamp, os.path.join(directory, "starts")))
    gaps: dict[str, list[float]] = {"daemon": [], "shell": [], "posix_spawn": []}
    phases: dict[str, list[float]] = {k: [] for k in PHASES}
    with Daemon(config) as daemon:
        bench = RestartBench(daemon, stamp, burst)
        order = list(gaps)
        shuffle = random.Random(SEED).shuffle
        for round_ in range(warmup + rounds):
            shuffle(order)
            for key in order:
                if key == "daemon":
                    stamps, events = bench.daemon_burst()
                    split = phases_ms(stamps, events)
                elif key == "shell":
                    stamps, split = bench.shell_burst(), {}
                else:
                    stamps, split = bench.posix_spawn_burst(), {}
                if round_ >= warmup:
                    gaps[key].extend(_gaps_ms(stamps))
                    for phase, values in split.items():
                        phases[phase].extend(values)
    group = "restart"
    figures = [
        sampled(
            group, "gap between starts, corral daemon", "ms", gaps["daemon"], target=GAP_TARGET
        ),
        sampled(group, "gap, floor: sh while loop", "ms", gaps["shell"]),
        sampled(group, "gap, floor: Python posix_spawn+waitpid loop", "ms", gaps["posix_spawn"]),
    ]
    figures += [sampled(group, f"daemon: {k}", "ms", v) for k, v in phases.items()]
    return figures


def ratio_note(figures: list[Figure]) -> str:
    """The daemon's median gap over each floor's."""
    by_name = {f.name: f.median for f in figures if f.group == "restart"}
    daemon = by_name.get("gap between starts, corral daemon")
    if daemon is None:
        return ""
    parts = [
        f"{name.split(': ', 1)[1]} {daemon / value:.2f}x"
        for name, value in by_name.items()
        if name.startswith("gap, floor") and not math.isnan(value) and value > 0
    ]
    return "restart gap, daemon p50 over floor p50: " + ", ".join(parts)
