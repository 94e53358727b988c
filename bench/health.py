"""Health probe cost: the daemon's CPU while it runs about 1,000 http or tcp probes a second.

Usage: python -m bench.health [--instances N] [--interval S] [--seconds S] [--json] [--keep]

A real daemon runs N instances of `sleep` (default 100), each with a health check of
`interval` S (default 0.1 s, so N / S probes a second at most: each next probe waits
S after the last one ended). The probes go to one server on loopback, a few lines of
stdlib asyncio written into the scratch directory and run by the bench in its own
process, so its CPU is not counted; it counts the connections it accepted, which
gives the probe rate achieved. For each kind (tcp, http) and for a baseline with no
health check, once every instance is RUNNING and a settling second has passed, the
bench reads the daemon's CPU time (/proc/PID/task/*/schedstat) over `--seconds`
(default 5) windows of 1 s each; a figure is the daemon's CPU in % of one core.

Target (issue 12): 1,000 HTTP or TCP probes per second on loopback cost <= 15 % of
one core.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager

from bench.daemon.harness import Daemon, cpu_ns, scratch_dir, write_config
from bench.daemon.report import Figure, Target, print_figures, sampled

TARGET = Target(15.0, "<= 15 % of one core at ~1,000 probes/s (issue 12)")
WAIT = 60.0

SERVER = """\
import asyncio, sys
count = 0
async def answer(reader, writer):
    global count
    count += 1
    try:
        await reader.readuntil(b"\\r\\n\\r\\n")
        writer.write(b"HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\nConnection: close\\r\\n\\r\\nok")
        await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    writer.close()
async def main():
    server = await asyncio.start_server(answer, "127.0.0.1", 0, backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    loop = asyncio.get_running_loop()
    while await loop.run_in_executor(None, sys.stdin.readline):
        print(count, flush=True)
asyncio.run(main())
"""


@contextmanager
def _server(directory: str) -> Iterator[tuple[int, subprocess.Popen[str]]]:
    """The counting server: (port, its process); ask it for its count with a line."""
    script = f"{directory}/server.py"
    with open(script, "w", encoding="utf-8") as f:
        f.write(SERVER)
    argv = [sys.executable, script]
    with subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            yield int(proc.stdout.readline()), proc
        finally:
            proc.kill()
            proc.wait(timeout=WAIT)


def _count(server: subprocess.Popen[str]) -> int:
    assert server.stdin is not None
    assert server.stdout is not None
    server.stdin.write("count\n")
    server.stdin.flush()
    return int(server.stdout.readline())


def _config(directory: str, kind: str, port: int, instances: int, interval: float) -> str:
    target = {
        "tcp": f'tcp = "127.0.0.1:{port}"',
        "http": f'http = "http://127.0.0.1:{port}/healthz"',
    }
    health = ""
    if kind in target:
        health = textwrap.dedent(
            f"""\
            [programs.probed.health]
            {target[kind]}
            interval = {interval}
            start_interval = {interval}
            timeout = 5
            """
        )
    programs = textwrap.dedent(
        f"""\
        [programs.probed]
        command = ["sleep", "300"]
        numprocs = {instances}
        start_seconds = 0
        stop_timeout = 5
        """
    )
    return write_config(directory, programs + health, name=f"{kind}.toml")


def measure_kind(
    kind: str, *, instances: int, interval: float, seconds: int, keep: bool
) -> tuple[list[float], float]:
    """(CPU % of one core per 1 s window, probes per second achieved)."""
    with scratch_dir(keep=keep) as directory, _server(directory) as (port, server):
        config = _config(directory, kind, port, instances, interval)
        with Daemon(config) as daemon:
            daemon.wait_states(instances, "RUNNING", 0, WAIT)
            time.sleep(1.0)  # settle: the first probes of every instance are under way
            windows: list[float] = []
            first = _count(server)
            started = time.monotonic()
            for _ in range(seconds):
                cpu, wall = cpu_ns(daemon.pid), time.monotonic_ns()
                time.sleep(1.0)
                used = cpu_ns(daemon.pid) - cpu
                windows.append(100.0 * used / (time.monotonic_ns() - wall))
            rate = (_count(server) - first) / (time.monotonic() - started)
    return windows, rate


def measure(instances: int, interval: float, seconds: int, *, keep: bool) -> list[Figure]:
    figures: list[Figure] = []
    for kind in ("none", "tcp", "http"):
        windows, rate = measure_kind(
            kind, instances=instances, interval=interval, seconds=seconds, keep=keep
        )
        group = f"{instances} instances, interval {interval:g} s"
        if kind == "none":
            name = "daemon CPU, no health check (baseline)"
            figures.append(sampled(group, name, "%", windows))
        else:
            name = f"daemon CPU, {kind} probes at {rate:,.0f}/s"
            figures.append(sampled(group, name, "%", windows, target=TARGET))
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--instances", type=int, default=100, help="instances (default 100)")
    parser.add_argument("--interval", type=float, default=0.1, help="probe interval (0.1 s)")
    parser.add_argument("--seconds", type=int, default=5, help="1 s windows (default 5)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directories")
    args = parser.parse_args(argv)
    figures = measure(args.instances, args.interval, args.seconds, keep=args.keep)
    return print_figures("bench.health", argv, figures, as_json=args.json)


if __name__ == "__main__":
    sys.exit(main())
