"""What one scheduling decision costs with 10,000 tasks queued, per policy.

Usage: python -m bench.scheduling [--queued N] [--decisions N] [--json]

Each policy (`corral._pool.scheduling`) is filled with `--queued` tasks, then each
sample times `--decisions` steady-state decisions, one decision being one `pop` and
one `push` (so the queue stays at its size); the figure is the time per decision.
Priorities, deadlines and tenants are drawn from a fixed seed so the heaps and
rings are mixed. Target (issue 14): <= 5 us per decision at 10,000 queued.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from bench.daemon.report import Target, print_figures, sampled
from corral._pool.scheduling import Edf, FairShare, Fifo, Mlfq, Priority, Scheduler

DECISION = Target(5.0, "<= 5 us at 10,000 queued (issue 14)")
SAMPLES = 15


@dataclass(slots=True, eq=False)
class _Task:
    priority: int
    deadline: float | None
    tenant: str | None
    key: str
    enqueued: float


def _policies() -> dict[str, Callable[[], Scheduler]]:
    return {
        "fifo": Fifo,
        "priority (aging)": Priority,
        "mlfq": Mlfq,
        "fair share (4 tenants)": lambda: FairShare({"a": 4, "b": 2, "c": 1, "d": 0.5}),
        "edf": Edf,
    }


def _tasks(count: int, seed: int) -> list[_Task]:
    draw = random.Random(seed)
    return [
        _Task(
            priority=draw.randrange(10),
            deadline=draw.uniform(0, 1e6) if draw.random() < 0.9 else None,
            tenant=draw.choice("abcd"),
            key=f"f{draw.randrange(50)}",
            enqueued=float(i),
        )
        for i in range(count)
    ]


def _per_decision(make: Callable[[], Scheduler], queued: int, decisions: int) -> list[float]:
    pool = _tasks(queued + decisions, seed=14)
    policy = make()
    for task in pool[:queued]:
        policy.push(task, task.enqueued)
    fresh = iter(pool[queued:])
    samples = []
    per_sample = max(1, decisions // SAMPLES)
    now = float(queued)
    for _ in range(SAMPLES):
        batch = [next(fresh) for _ in range(per_sample)]
        start = time.perf_counter()
        for task in batch:
            policy.pop(now)
            policy.push(task, now)
        samples.append((time.perf_counter() - start) / per_sample * 1e6)
    return samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scheduling")
    parser.add_argument("--queued", type=int, default=10_000)
    parser.add_argument("--decisions", type=int, default=30_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    figures = [
        sampled(
            "decision", name, "us", _per_decision(make, args.queued, args.decisions),
            target=DECISION, note=f"{args.queued:,} queued",
        )
        for name, make in _policies().items()
    ]  # fmt: skip
    return print_figures("bench.scheduling", argv, figures, as_json=args.json)


if __name__ == "__main__":
    raise SystemExit(main())
