"""Re-adoption: what a keeper costs the restart path, and how long adopting takes.

Run from the repository root (raise `ulimit -n` for 1,000 instances):

    .venv/bin/python -m bench.adoption [--instances 200 1000] [--rounds 10] [--burst 20]

1. Restart gap with and without a keeper, in one run: two daemons on the restart
   config of `bench.daemon.restart` (a C program that stamps the time and exits 1,
   restarted with no backoff), one plain, one run by `python -m corral._keeper`;
   bursts of `burst` restarts alternate between them in shuffled rounds. The gap is
   the difference of consecutive CLOCK_MONOTONIC stamps; the daemon's STARTING ->
   RUNNING phase is the spawn call, which under a keeper includes the handover
   (a `put` and the staging pipes).
2. Adoption at N instances: a kept daemon runs N `sleep` instances; it is killed with
   SIGKILL and started again through the keeper; the figure is the `seconds` of the
   adoption event (greeting the keeper and adopting every instance, measured by the
   daemon), and the time from the new daemon's spawn to its API answering.

The machine is shared: the ratios within one run are what bind.
"""

from __future__ import annotations

import argparse
import os
import random
import select
import signal
import statistics
import sys

from bench.daemon.harness import Daemon, scratch_dir, write_config
from bench.daemon.restart import RestartBench, _gaps_ms, build_stamp, phases_ms, restart_config

SEED = 1
SPAWN_PHASE = "timer fired -> spawned (launch)"


def keeper_command(directory: str) -> tuple[str, ...]:
    socket = os.path.join(directory, "k.sock")
    keeper = (sys.executable, "-m", "corral._keeper", "--socket", socket, "--")
    return (*keeper, sys.executable, "-m", "corral", "daemon")


def _p(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(len(values) * q))]


def restart_gaps(rounds: int, burst: int) -> dict[str, dict[str, list[float]]]:
    """Gap and spawn-phase samples for the plain and the kept daemon, interleaved."""
    found: dict[str, dict[str, list[float]]] = {}
    with scratch_dir() as plain_dir, scratch_dir() as kept_dir:
        daemons: dict[str, RestartBench] = {}
        opened: list[Daemon] = []
        try:
            for key, directory, command in (
                ("without keeper", plain_dir, None),
                ("with keeper", kept_dir, keeper_command(kept_dir)),
            ):
                stamp = build_stamp(directory)
                config = write_config(directory, restart_config(stamp, f"{directory}/starts"))
                daemon = Daemon(config, command)
                daemon.start()
                opened.append(daemon)
                daemons[key] = RestartBench(daemon, stamp, burst)
                found[key] = {"gap": [], "spawn": []}
            order = list(daemons)
            shuffle = random.Random(SEED).shuffle
            for round_ in range(rounds + 1):  # the first round warms up
                shuffle(order)
                for key in order:
                    stamps, events = daemons[key].daemon_burst()
                    if round_:
                        found[key]["gap"].extend(_gaps_ms(stamps))
                        found[key]["spawn"].extend(phases_ms(stamps, events).get(SPAWN_PHASE, []))
        finally:
            for daemon in opened:
                daemon.shutdown()
    return found


def adoption(instances: int) -> tuple[float, float]:
    """(adoption seconds per the daemon, spawn -> API answering seconds) at `instances`."""
    programs = (
        f'[programs.calm]\ncommand = ["sleep", "600"]\nnumprocs = {instances}\nstart_seconds = 0\n'
    )
    with scratch_dir() as directory:
        config = write_config(directory, programs)
        daemon = Daemon(config, keeper_command(directory))
        daemon.start()
        keeper = daemon.proc
        try:
            daemon.wait_states(instances, "RUNNING", 0, 120)
            dead = int(daemon.request("GET", "/status")["daemon"]["pid"])
            fd = os.pidfd_open(dead)
            os.kill(dead, signal.SIGKILL)
            select.select([fd], [], [], 60)  # that very process has exited
            os.close(fd)
            daemon._close_client()
            daemon.start()  # the same command: the keeper spawns the new daemon
            up = daemon.listening_at() - daemon.spawned_at
            rows, _ = daemon.events(0)
            took = next(
                r["data"]["seconds"]
                for r in rows
                if r["kind"] == "daemon" and "adopted" in str(r["data"].get("message"))
            )
            adopted = len(daemon.pids())
            if adopted != instances:
                raise RuntimeError(f"{adopted} of {instances} instances after adoption")
        finally:
            daemon.shutdown()
            if keeper is not None:
                keeper.wait(60)
    return float(took), up


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--instances", type=int, nargs="+", default=[200, 1000])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--burst", type=int, default=20)
    args = parser.parse_args()
    print(f"# {' '.join(sys.orig_argv)}; {os.cpu_count()} cpus, {os.uname().release}")
    for key, figures in restart_gaps(args.rounds, args.burst).items():
        gaps, spawn = figures["gap"], figures["spawn"]
        print(
            f"restart gap {key}: p50 {statistics.median(gaps):.2f} ms, p99 {_p(gaps, 0.99):.2f}"
            f" ms ({len(gaps)} gaps); spawn call p50 {statistics.median(spawn):.3f} ms"
            if spawn
            else f"restart gap {key}: p50 {statistics.median(gaps):.2f} ms ({len(gaps)} gaps)"
        )
    for count in args.instances:
        took, up = adoption(count)
        print(
            f"adoption of {count} instances: {took * 1000:.1f} ms (greeting + adopting);"
            f" new daemon spawned -> API answering {up * 1000:.0f} ms"
        )


if __name__ == "__main__":
    main()
