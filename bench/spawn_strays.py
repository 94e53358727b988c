"""What closing stray fds costs a spawn: corral.run of `true` with and without the finder.

Every posix_spawn corral makes first finds the inheritable fds the child must not get
(src/corral/_platform/posix/fds.py): a listing of /proc/self/fd, skipped while the open
fds are provably those of the last listing. This swaps the process's finder between
variants, in shuffled rounds beside the os.posix_spawn floor: the finder as it is, one
that lists at every spawn, one that finds nothing (no hygiene, as before issue #11), and,
with `--crowded`, the finder while more than 64 fds are open (libc's closefrom). `true`
by full path, output captured (the default). Run from the repository root:

    .venv/bin/python -m bench.spawn_strays [--iterations 1500] [--crowded]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import time
from collections.abc import Callable, Collection, Sequence

import corral
import corral._platform as platform
from bench.machine import machine
from corral._platform.posix.fds import MANY, StrayFinder


class _ListingFinder(StrayFinder):
    """The finder without its memory: it lists /proc/self/fd at every spawn."""

    __slots__ = ()

    def find(
        self, keep: Collection[int], *, can_list: bool, can_close_from: bool
    ) -> list[int] | None:
        self.seen = ()
        return super().find(keep, can_list=can_list, can_close_from=can_close_from)


class _NoFinder(StrayFinder):
    """No hygiene: the child gets every inheritable fd (corral before issue #11)."""

    __slots__ = ()

    def find(
        self, keep: Collection[int], *, can_list: bool, can_close_from: bool
    ) -> list[int] | None:
        return []


def variants(true: str) -> dict[str, Callable[[], object]]:
    """Label -> one timed call."""
    argv = [true]
    finders = {"as it is": StrayFinder(), "listing each time": _ListingFinder()}
    finders["none (no hygiene)"] = _NoFinder()

    def floor() -> None:
        os.waitpid(os.posix_spawn(true, argv, os.environ), 0)

    def with_finder(finder: StrayFinder) -> Callable[[], object]:
        def call() -> object:
            platform._strays = finder
            return corral.run(argv)

        return call

    made: dict[str, Callable[[], object]] = {"os.posix_spawn + os.waitpid (floor)": floor}
    for label, finder in finders.items():
        made[f"corral.run, stray finder {label}"] = with_finder(finder)
    return made


def run(iterations: int, warmup: int, crowded: bool) -> dict[str, list[int]]:
    """Nanoseconds per call, per variant."""
    true = shutil.which("true") or "/bin/true"
    made = variants(true)
    held = [os.pipe() for _ in range(MANY)] if crowded else []
    samples: dict[str, list[int]] = {label: [] for label in made}
    shuffle = random.Random(1).shuffle
    order = list(made)
    original = platform._strays
    try:
        for i in range(warmup + iterations):
            shuffle(order)
            for label in order:
                began = time.perf_counter_ns()
                made[label]()
                if i >= warmup:
                    samples[label].append(time.perf_counter_ns() - began)
    finally:
        platform._strays = original
        for pair in held:
            for fd in pair:
                os.close(fd)
    return samples


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.spawn_strays", description=__doc__)
    parser.add_argument("--iterations", type=int, default=1500)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--crowded", action="store_true", help=f"hold {2 * MANY} more fds")
    args = parser.parse_args(argv)
    print("command:", " ".join(sys.orig_argv))
    print("machine:", ", ".join(f"{k} {v}" for k, v in machine().items()))
    samples = run(args.iterations, args.warmup, args.crowded)
    p50 = {label: sorted(ns)[len(ns) // 2] / 1000 for label, ns in samples.items()}
    floor = next(iter(p50.values()))
    for label, ns in samples.items():
        p99 = sorted(ns)[int(len(ns) * 0.99)] / 1000
        print(f"{label:<52}p50 {p50[label]:6.0f} µs  p99 {p99:6.0f} µs  {p50[label] / floor:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
