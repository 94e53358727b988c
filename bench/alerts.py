"""Cost of the alert engine per metrics tick: N instances, each watched by 10 rules.

The target (issue 17): 1,000 instances x 10 rules in at most 5 ms per tick. Every
round feeds one tick of samples whose values wander (a seeded random walk), so
each tick some rules begin or stop holding, some fire and some resolve, as on a
busy daemon. Variants, interleaved per round in a shuffled order (the samples of every tick are made
first and frozen out of the garbage collector's reach, as a daemon holds no such
heap; the engine's own garbage is collected as usual):

- `10 rules`: ten rules on every instance (`program = "*"`), over five metrics;
- `no rules`: the same tick into an engine without rules (the floor: building
  the samples mapping and the call itself);
- `1 program's rules`: the ten rules name one program of ten: an instance of
  another program touches none of them (the index at work);
- `reference loop`: plain Python reading each instance's five figures and comparing
  each with one constant, no engine: a yardstick of how fast Python runs on the machine
  right now, so that a figure taken on a loaded machine can be judged by its ratio.

Run:

    .venv/bin/python -m bench.alerts [--instances 1000] [--rounds 300]
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import time
from collections.abc import Callable, Sequence

from bench.machine import machine
from bench.spawn import percentile
from corral._observe.alerts.engine import Engine, Samples
from corral._observe.alerts.rules import Rule, parse_condition

SEED = 1
TARGET_MS = 5.0
CONDITIONS = (
    ("cpu > 50%", 0.0),
    ("cpu > 90%", 60.0),
    ("memory > 256M", 0.0),
    ("memory > 512M", 30.0),
    ("memory > 1G", 0.0),
    ("memory_percent > 80", 0.0),
    ("memory_percent >= 95", 0.0),
    ("processes > 50", 0.0),
    ("fds > 500", 0.0),
    ("fds > 1000", 10.0),
)


def rules(program: str) -> list[Rule]:
    """The ten rules, watching `program` ("*": every program)."""
    return [
        Rule(f"r{i}", program, parse_condition(text), hold=hold, repeat=300)
        for i, (text, hold) in enumerate(CONDITIONS)
    ]


class Walk:
    """Samples of N instances whose figures wander a little each tick."""

    def __init__(self, instances: int, seed: int) -> None:
        self.random = random.Random(seed)
        self.names = [(f"p{i % 10}:{i // 10}", f"p{i % 10}") for i in range(instances)]
        self.values = [[50.0, 512.0 * 2**20, 80.0, 40.0, 500.0] for _ in range(instances)]

    def next(self) -> Samples:
        step = self.random.uniform
        samples: dict[str, tuple[str, dict[str, float | None]]] = {}
        for (name, program), v in zip(self.names, self.values, strict=True):
            v[0] = max(0.0, v[0] + step(-5, 5))
            v[1] = max(0.0, v[1] + step(-8, 8) * 2**20)
            v[2] = min(100.0, max(0.0, v[2] + step(-2, 2)))
            v[3] = max(1.0, v[3] + step(-2, 2))
            v[4] = max(0.0, v[4] + step(-20, 20))
            samples[name] = (program, {
                "cpu": v[0], "memory": v[1], "memory_percent": v[2],
                "processes": v[3], "fds": v[4],
            })  # fmt: skip
        return samples


def measure(instances: int, rounds: int) -> tuple[dict[str, list[int]], dict[str, int]]:
    """Nanoseconds per tick of each variant; and transitions each variant produced."""
    engines = {
        "10 rules": Engine(rules("*")),
        "no rules": Engine([]),
        "1 program's rules": Engine(rules("p3")),
    }
    engines["reference loop"] = _Reference()  # type: ignore[assignment]
    walks = {name: Walk(instances, SEED) for name in engines}
    ticks = {name: [walk.next() for _ in range(rounds + 20)] for name, walk in walks.items()}
    gc.collect()
    gc.freeze()  # the samples made ahead (a million dicts) are not the engine's to collect
    samples: dict[str, list[int]] = {name: [] for name in engines}
    moved = dict.fromkeys(engines, 0)
    order = list(engines)
    shuffle = random.Random(SEED).shuffle
    for r in range(rounds + 20):
        shuffle(order)
        for name in order:
            tick: Callable[[float, Samples], list[object]] = engines[name].tick  # type: ignore[assignment]
            began = time.perf_counter_ns()
            out = tick(float(r), ticks[name][r])
            took = time.perf_counter_ns() - began
            if r >= 20:  # warm-up rounds discarded
                samples[name].append(took)
                moved[name] += len(out)
    return samples, moved


class _Reference:
    """Reads every figure and compares it with a constant: the least any engine must do."""

    def tick(self, now: float, samples: Samples) -> list[object]:
        over = 0
        for _, metrics in samples.values():
            for value in metrics.values():
                if value is not None and value > 1e12:
                    over += 1
        return [] if not over else [over]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.alerts", description=__doc__)
    parser.add_argument("--instances", type=int, default=1000, help="instances (1000)")
    parser.add_argument("--rounds", type=int, default=300, help="ticks per variant (300)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    print("command:", " ".join(sys.orig_argv))
    print("machine:", ", ".join(f"{k} {v}" for k, v in machine().items()))
    samples, moved = measure(args.instances, args.rounds)
    medians = {}
    print(f"{args.instances} instances, {len(CONDITIONS)} rules each, {args.rounds} ticks")
    for name, values in samples.items():
        ordered = sorted(values)
        p50, p99 = percentile(ordered, 0.5) / 1e3, percentile(ordered, 0.99) / 1e3  # us -> ms
        medians[name] = p50
        per = moved[name] / args.rounds
        print(f"  {name:<18} p50 {p50:7.3f} ms   p99 {p99:7.3f} ms   {per:6.1f} transitions/tick")
    ratio = medians["10 rules"] / medians["reference loop"]
    print(f"10 rules / reference loop: {ratio:.2f}x (load average {_load()})")
    met = medians["10 rules"] <= TARGET_MS
    print(f"target: 10 rules p50 <= {TARGET_MS:g} ms per tick: {'met' if met else 'NOT met'}")
    return 0


def _load() -> str:
    with open("/proc/loadavg") as stream:
        return stream.read().split()[0]


if __name__ == "__main__":
    raise SystemExit(main())
