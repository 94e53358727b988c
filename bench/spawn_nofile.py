"""What a daemon's raised RLIMIT_NOFILE costs a spawn: corral.run of `true`, both ways.

A daemon raises its soft limit to the hard one and still starts its programs at the
soft limit it was given (src/corral/_platform/posix/rlimits.py). While every fd the
child gets is below that limit, os.posix_spawn runs with our limit lowered for the call;
an fd above it (glibc refuses its dup2 when the call builds its file actions) takes
the spawn through libc with ctypes, the actions built before the limit is lowered.
This compares the three in one process (soft limit set to 1024, then raised),
interleaved in shuffled rounds, `true` by full path, output to /dev/null (an fd above
1024 for the third). Run from the repository root:

    .venv/bin/python -m bench.spawn_nofile [--iterations 1000]
"""

from __future__ import annotations

import argparse
import fcntl
import os
import random
import resource
import shutil
import sys
import time
from collections.abc import Sequence

import corral
from bench.machine import machine
from corral._platform.posix import rlimits

VARIANTS = (
    "os.posix_spawn (limit as it is)",
    "raised: os.posix_spawn, limit lowered for the call",
    "raised, an fd above 1024: libc posix_spawn",
)


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
    high = fcntl.fcntl(corral_devnull(), fcntl.F_DUPFD_CLOEXEC, 1100)
    rounds = random.Random(1)
    try:
        for _ in range(iterations):
            for name in rounds.sample(VARIANTS, len(VARIANTS)):
                if name == VARIANTS[0]:
                    rlimits._children.pop("nofile", None)  # as if it had never been raised
                else:
                    rlimits._children["nofile"] = inherited
                began = time.perf_counter()
                if name == VARIANTS[2]:
                    corral.run([true], stdout=high, stderr="devnull")
                else:
                    corral.run([true], stdout="devnull", stderr="devnull")
                samples[name].append(time.perf_counter() - began)
    finally:
        os.close(high)
    return samples


def corral_devnull() -> int:
    """corral's shared /dev/null fd (the one stdout="devnull" passes)."""
    from corral._platform import devnull_fd

    return devnull_fd()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.spawn_nofile", description=__doc__)
    parser.add_argument("--iterations", type=int, default=1000)
    args = parser.parse_args(argv)
    print("command:", " ".join(sys.orig_argv))
    print("machine:", ", ".join(f"{k} {v}" for k, v in machine().items()))
    for name, values in run(args.iterations).items():
        values.sort()
        p50, p90 = values[len(values) // 2], values[int(len(values) * 0.9)]
        print(f"{name:<52}p50 {p50 * 1e6:7.0f} µs   p90 {p90 * 1e6:7.0f} µs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
