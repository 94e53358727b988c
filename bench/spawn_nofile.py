"""What a daemon's raised RLIMIT_NOFILE costs a spawn: corral.run of `true`, both ways.

A daemon raises its soft limit to the hard one and still starts its programs at the
soft limit it was given (src/corral/_platform/posix/rlimits.py): os.posix_spawn cannot
(glibc refuses a dup2 of an fd above the soft limit), so the spawn goes through libc
with ctypes and the limit lowered for the call. This compares that path with the plain
os.posix_spawn one in one process (soft limit set to 1024, then raised), interleaved
in shuffled rounds, `true` by full path, output to /dev/null. Run from the repository root:

    .venv/bin/python -m bench.spawn_nofile [--iterations 1000]
"""

from __future__ import annotations

import argparse
import random
import resource
import shutil
import sys
import time
from collections.abc import Sequence

import corral
from bench.machine import machine
from corral._platform.posix import rlimits

VARIANTS = ("os.posix_spawn (limit as it is)", "libc posix_spawn, limit lowered for the call")


def run(iterations: int) -> dict[str, list[float]]:
    """Seconds per corral.run, per variant."""
    true = shutil.which("true") or "/bin/true"
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, hard), hard))
    rlimits.raise_nofile_to_hard()
    inherited = rlimits.children_nofile()
    if inherited is None:
        raise SystemExit("the hard RLIMIT_NOFILE is 1024 or less: nothing to raise")
    samples: dict[str, list[float]] = {name: [] for name in VARIANTS}
    rounds = random.Random(1)
    for _ in range(iterations):
        for name in rounds.sample(VARIANTS, len(VARIANTS)):
            if name == VARIANTS[0]:
                rlimits._children.pop("nofile", None)  # as if it had never been raised
            else:
                rlimits._children["nofile"] = inherited
            began = time.perf_counter()
            corral.run([true], stdout="devnull", stderr="devnull")
            samples[name].append(time.perf_counter() - began)
    return samples


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.spawn_nofile", description=__doc__)
    parser.add_argument("--iterations", type=int, default=1000)
    args = parser.parse_args(argv)
    print("command:", " ".join(sys.orig_argv))
    print("machine:", ", ".join(f"{k} {v}" for k, v in machine().items()))
    for name, values in run(args.iterations).items():
        values.sort()
        p50, p90 = values[len(values) // 2], values[int(len(values) * 0.9)]
        print(f"{name:<48}p50 {p50 * 1e6:7.0f} µs   p90 {p90 * 1e6:7.0f} µs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
