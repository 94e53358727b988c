"""Scale and control: N instances of `sleep 3600` under one daemon.

For each size and layout (one program with numprocs = N, or N programs of one
instance) a fresh daemon is started, and then, in this order:

1. all up: from spawning the daemon process (and from its "listening" event) to
   the last STARTING -> RUNNING event; start_seconds = 0, so RUNNING means spawned;
2. memory: VmRSS (and VmHWM, the peak) of the daemon after a settling second;
3. idle CPU over `idle_seconds` with nothing asking it anything but its own metrics
   sampler (on, at the config's default 5 s interval unless --metrics-interval says
   otherwise): its threads' time on CPU from /proc/PID/task/*/schedstat over the
   wall time (ticks of /proc/PID/stat as a cross-check), then the sampler's own
   last tick as the daemon measured it (`sample_seconds` of GET /v1/metrics);
4. `corral status` as a user runs it (the console script, bytecode compiled,
   output to /dev/null), interleaved with `python -c pass`, the interpreter's floor;
5. control: `GET /v1/status` through `corral._control.client.Client` on a kept
   connection, for all instances and for one by name, interleaved;
6. memory again (after those replies were built);
7. lifecycle rounds: `corral stop all`, then `corral start all` (CLI wall time),
   and memory once more (the event ring has grown by four events per instance
   and round);
8. shutdown through the API (the harness proves every program is gone).
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

from bench.daemon.harness import Daemon, cpu_ns, cpu_seconds, memory_kib, write_config
from bench.daemon.report import Figure, Target, sampled

UP_TARGETS = {200: Target(0.5, "<= 0.5 s"), 1000: Target(2.0, "<= 2 s")}
RSS_TARGET = Target(27.0, "<= 27 MiB (supervisord)")
IDLE_TARGET = Target(0.2, "<= 0.2 %")
STATUS_CLI_TARGETS = {200: Target(120.0, "<= 120 ms")}
STOP_TARGETS = {200: Target(0.3, "<= 0.3 s")}
UP_TIMEOUT = 300.0
SETTLE = 1.0
SEED = 1
MIB = 1024.0


@dataclass(frozen=True, slots=True)
class ScaleOptions:
    idle_seconds: float
    status_runs: int
    control_calls: int
    control_warmup: int
    lifecycle_rounds: int
    metrics_interval: float | None = None
    """[metrics] interval for the daemon; None keeps the default (5 s)."""


def scale_config(size: int, layout: str, sleep: str) -> str:
    """N instances of `sleep 3600`: numprocs = N, or N programs of one instance."""
    body = f'command = ["{sleep}", "3600"]\nstart_seconds = 0\n'
    if layout == "numprocs":
        return f"[programs.sleep]\n{body}numprocs = {size}\n"
    return "".join(f"[programs.s{i:04d}]\n{body}\n" for i in range(size))


def cli_env() -> dict[str, str]:
    """Our environment, without PYTHONDONTWRITEBYTECODE (a user's CLI uses its bytecode)."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def corral_command() -> list[str]:
    """The `corral` console script beside our interpreter, else `python -m corral`."""
    script = os.path.join(os.path.dirname(sys.executable), "corral")
    return [script] if os.access(script, os.X_OK) else [sys.executable, "-m", "corral"]


def time_command(argv: Sequence[str], env: dict[str, str]) -> float:
    """Wall seconds of one run of `argv`, output to /dev/null; raises if it fails."""
    start = time.perf_counter()
    done = subprocess.run(
        argv, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.decode()}")
    return elapsed


def process_count() -> int:
    """Processes on the whole machine now (entries of /proc)."""
    return sum(name.isdigit() for name in os.listdir("/proc"))


def run_scale(directory: str, size: int, layout: str, opts: ScaleOptions) -> list[Figure]:
    """Every figure of one size and layout, measured on one fresh daemon."""
    sleep = shutil.which("sleep")
    if sleep is None:
        raise RuntimeError("`sleep` is not on PATH")
    workdir = os.path.join(directory, f"{layout[0]}{size}")
    os.makedirs(workdir)
    metrics = (
        ""
        if opts.metrics_interval is None
        else f"[metrics]\ninterval = {opts.metrics_interval}\n\n"
    )
    config = write_config(workdir, metrics + scale_config(size, layout, sleep))
    group = f"scale {size} x {'numprocs' if layout == 'numprocs' else 'programs'}"
    figures: list[Figure] = []
    with Daemon(config) as daemon:
        up = daemon.wait_states(size, "RUNNING", 0, UP_TIMEOUT)
        target = UP_TARGETS.get(size)
        figures.append(
            Figure(
                group,
                "all up, from spawning the daemon",
                "s",
                up - daemon.spawned_at,
                target=target,
            )
        )
        figures.append(
            Figure(group, "all up, from its API listening", "s", up - daemon.listening_at())
        )
        time.sleep(SETTLE)
        figures.append(_rss(group, "daemon RSS, all running", daemon.pid))
        figures.append(idle_cpu(group, daemon.pid, opts.idle_seconds))
        figures.append(sampler_tick(group, daemon, up))
        figures += status_cli(group, size, daemon, opts.status_runs)
        if opts.control_calls:
            first = "sleep:0" if layout == "numprocs" else "s0000:0"
            figures += control(group, daemon, first, opts.control_calls, opts.control_warmup)
        figures.append(_rss(group, "daemon RSS, after the status calls", daemon.pid, peak=True))
        figures += lifecycle(group, size, daemon, opts.lifecycle_rounds)
        figures.append(
            _rss(group, "daemon RSS, after the stop/start rounds", daemon.pid, peak=True)
        )
        figures.append(
            Figure(group, "shutdown (API) until the daemon exited", "s", daemon.shutdown())
        )
    return figures


def _rss(group: str, name: str, pid: int, *, peak: bool = False) -> Figure:
    mem = memory_kib(pid)
    note = f"VmHWM {mem['VmHWM'] / MIB:.1f} MiB" if peak else ""
    return Figure(group, name, "MiB", mem["VmRSS"] / MIB, target=RSS_TARGET, note=note)


def idle_cpu(group: str, pid: int, seconds: float) -> Figure:
    """The daemon's CPU use over `seconds` in which nobody calls it."""
    ns, ticks, start = cpu_ns(pid), cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    used_ns, used_ticks = cpu_ns(pid) - ns, cpu_seconds(pid) - ticks
    wall = time.monotonic() - start
    note = f"utime+stime {used_ticks * 1000:.0f} ms over {wall:.1f} s"
    percent = 100 * used_ns / 1e9 / wall
    return Figure(
        group, f"daemon CPU, idle {wall:.0f} s", "%", percent, target=IDLE_TARGET, note=note
    )


def sampler_tick(group: str, daemon: Daemon, since: float) -> Figure:
    """The metrics sampler's first tick after `since` (wall time), as the daemon timed it."""
    reply = daemon.request("GET", "/metrics")
    deadline = time.monotonic() + reply["interval"] + 10.0
    while reply["interval"] and (reply["taken_at"] or 0.0) < since:
        if time.monotonic() > deadline:
            raise RuntimeError("the metrics sampler did not tick")
        time.sleep(0.1)
        reply = daemon.request("GET", "/metrics")
    interval = reply["interval"]
    note = f"every {interval:g} s" if interval else "sampling off"
    tick = reply["sample_seconds"] * 1000
    return Figure(group, "metrics sampler, one tick", "ms", tick, note=note)


def status_cli(group: str, size: int, daemon: Daemon, runs: int) -> list[Figure]:
    """`corral status` wall time, interleaved with the bare interpreter's start-up."""
    env = cli_env()
    variants = {
        "status": [*corral_command(), "status", "--socket", daemon.socket],
        "python": [sys.executable, "-c", "pass"],
    }
    times: dict[str, list[float]] = {k: [] for k in variants}
    order = list(variants)
    shuffle = random.Random(SEED).shuffle
    for i in range(1 + runs):
        shuffle(order)
        for key in order:
            elapsed = time_command(variants[key], env)
            if i:
                times[key].append(elapsed * 1000)
    return [
        sampled(
            group,
            "`corral status` CLI wall time",
            "ms",
            times["status"],
            target=STATUS_CLI_TARGETS.get(size),
        ),
        sampled(group, "floor: `python -c pass`", "ms", times["python"]),
    ]


def control(group: str, daemon: Daemon, one: str, calls: int, warmup: int) -> list[Figure]:
    """`GET /v1/status` round trips through the API client: all instances, and one by name."""
    queries: dict[str, dict[str, str] | None] = {"all": None, "one": {"names": one}}
    times: dict[str, list[float]] = {k: [] for k in queries}
    order = list(queries)
    shuffle = random.Random(SEED).shuffle
    for i in range(warmup + calls):
        shuffle(order)
        for key in order:
            start = time.perf_counter()
            daemon.request("GET", "/status", query=queries[key])
            if i >= warmup:
                times[key].append((time.perf_counter() - start) * 1000)
    return [
        sampled(group, "API /v1/status round trip, all", "ms", times["all"], tail=0.99),
        sampled(group, f"API /v1/status round trip, {one}", "ms", times["one"], tail=0.99),
    ]


def lifecycle(group: str, size: int, daemon: Daemon, rounds: int) -> list[Figure]:
    """`corral stop all` then `corral start all`, `rounds` times (CLI wall time)."""
    if rounds == 0:
        return []
    env = cli_env()
    base = [*corral_command(), "--socket", daemon.socket]
    stops: list[float] = []
    starts: list[float] = []
    machine_processes: list[int] = []
    for _ in range(rounds):
        machine_processes.append(process_count())
        stops.append(time_command([*base, "stop", "all"], env))
        starts.append(time_command([*base, "start", "all"], env))
    # A stop scans /proc once or twice per instance, so it grows with the machine's processes.
    note = f"processes on the machine before each stop: {machine_processes}"
    return [
        sampled(
            group,
            "`corral stop all` wall time",
            "s",
            stops,
            target=STOP_TARGETS.get(size),
            note=note,
        ),
        sampled(
            group,
            "`corral start all` wall time (all RUNNING)",
            "s",
            starts,
            target=UP_TARGETS.get(size),
        ),
    ]
