"""Cost of one metrics tick: TreeSampler over N process trees, and what it means as CPU share.

N `sleep` processes are started, each in its own session (the daemon's instances
are process-group leaders too) and with its own CORRAL_TREE marker, and each is
named to the sampler as the daemon names its trees (root, group, marker). The
bench makes itself a child subreaper first, as the daemon is one, so a full pass
looks for markers only among its own descendants, as the daemon's does. Then,
interleaved per round, these variants are timed, each one call:

- `full pass`: a tick that walks all of /proc (what every tick is on a machine
  with few processes, given the sampler's budget);
- `full pass + fds`: the same with open fds counted (one /proc/PID/fd read per
  member: what the daemon does when a rule watches `fds`);
- `known members`: a tick between full passes, reading only the trees' pids;
- `history record`: keeping that tick's samples in the History ring;
- `state file write`: the daemon's checkpoint of N trees (encode, write, rename),
  which it makes at most once per event-loop turn in which a state changed.

The CPU share at an interval is (full pass + record) / interval: the sampler's
steady cost when every tick is a full pass. Every process started is killed by
pid and reaped at the end. Run:

    .venv/bin/python -m bench.metrics [--sizes 200,1000] [--rounds 200]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence

from bench.machine import machine
from bench.spawn import percentile
from corral._observe.metrics.history import History
from corral._observe.metrics.sampler import TreeSampler
from corral._platform import become_subreaper
from corral._process.tree import Tree
from corral._supervisor.runtime import checkpoint

SEED = 1
INTERVALS = (1.0, 5.0)


def measure(size: int, rounds: int) -> dict[str, list[int]]:
    """Nanoseconds per call of each variant, `rounds` samples each."""
    sleep = shutil.which("sleep")
    if sleep is None:
        raise RuntimeError("`sleep` is not on PATH")
    procs: list[subprocess.Popen[bytes]] = []
    state_path = os.path.join(tempfile.mkdtemp(prefix="bench-metrics-"), "corral.state")
    try:
        for i in range(size):
            env = dict(os.environ, CORRAL_TREE=f"bench-{os.getpid()}-{i}")
            procs.append(subprocess.Popen([sleep, "600"], env=env, start_new_session=True))
        roots = {f"sleep:{i}": p.pid for i, p in enumerate(procs)}
        trees = {
            name: Tree(pid, pid, f"CORRAL_TREE=bench-{os.getpid()}-{i}".encode())
            for i, (name, pid) in enumerate(roots.items())
        }
        full = TreeSampler(budget=1.0, max_gap=0.0)  # every tick a full pass
        with_fds = TreeSampler(budget=1.0, max_gap=0.0, fds=True)
        known = TreeSampler(budget=1e-12, max_gap=1e9)  # one full pass, then known pids
        history = History(120)
        state = _state_record(roots)
        full.sample(trees)
        with_fds.sample(trees)
        known.sample(trees)
        variants: dict[str, Callable[[], object]] = {
            "full pass": lambda: full.sample(trees),
            "full pass + fds": lambda: with_fds.sample(trees),
            "known members": lambda: known.sample(trees),
            "history record": lambda: history.record(time.time(), full.sample(trees)),
            "state file write": lambda: checkpoint.write(state_path, state),
        }
        samples: dict[str, list[int]] = {name: [] for name in variants}
        order = list(variants)
        shuffle = random.Random(SEED).shuffle
        for _ in range(rounds):
            shuffle(order)
            for name in order:
                began = time.perf_counter_ns()
                variants[name]()
                samples[name].append(time.perf_counter_ns() - began)
        # "history record" timed a full pass plus the record; keep only the record's share.
        full_sorted = sorted(samples["full pass"])
        median_full = full_sorted[len(full_sorted) // 2]
        samples["history record"] = [max(0, n - median_full) for n in samples["history record"]]
        return samples
    finally:
        shutil.rmtree(os.path.dirname(state_path), ignore_errors=True)
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()


def _state_record(roots: dict[str, int]) -> checkpoint.DaemonRecord:
    """What the daemon's state file holds for these trees (a made-up marker per tree)."""
    trees = tuple(
        checkpoint.TreeRecord(
            name, pid, pid, checkpoint.start_time(pid), f"CORRAL_TREE={pid}-x", ()
        )
        for name, pid in roots.items()
    )
    me = os.getpid()
    return checkpoint.DaemonRecord(
        me, checkpoint.start_time(me) or 0.0, checkpoint.booted_at(), trees
    )


def report(size: int, samples: dict[str, list[int]]) -> list[str]:
    lines = [f"{size} trees ({os.cpu_count()} cores)"]
    medians: dict[str, float] = {}
    for name, values in samples.items():
        ordered = sorted(values)
        p50, p99 = percentile(ordered, 0.5) / 1e3, percentile(ordered, 0.99) / 1e3  # us -> ms
        medians[name] = p50
        lines.append(f"  {name:<16} p50 {p50:7.3f} ms   p99 {p99:7.3f} ms")
    tick = medians["full pass"] + medians["history record"]
    for interval in INTERVALS:
        share = 100 * tick / 1000 / interval
        lines.append(f"  CPU share at a {interval:g} s interval: {share:.3f} % of one core")
    return lines


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.metrics", description=__doc__)
    parser.add_argument("--sizes", default="200,1000", help="trees per run (200,1000)")
    parser.add_argument("--rounds", type=int, default=200, help="samples per variant (200)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    become_subreaper()  # as the daemon is: orphans stay below us, markers are sought there
    print("command:", " ".join(sys.orig_argv))
    print("machine:", ", ".join(f"{k} {v}" for k, v in machine().items()))
    print("processes on the machine:", sum(1 for n in os.listdir("/proc") if n.isdigit()))
    for size in (int(s) for s in args.sizes.split(",") if s):
        print("\n".join(report(size, measure(size, args.rounds))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
