"""corral's pool beside Python's and PyPI's pools, in one run: throughput, round trip, map.

Usage: python -m bench.pool_peers [--tasks N] [--trips N] [--items N] [--chunksize N]
                                  [--rounds N] [--json]

Every pool has 2 workers and is warmed up (a round of tasks) before it is timed:
corral's `Pool(2)` (and its one warm spare, idle here), `ProcessPoolExecutor(2)`,
`multiprocessing.Pool(2)` (default start method), pebble's `ProcessPool(2)` and
loky's `get_reusable_executor(2)`. Figures (issue 14 §4):

- one submit per task: `--tasks` submits of a trivial function, then every result
  awaited; tasks/s, the median of `--rounds` rounds (mp.Pool by `apply_async`,
  pebble by `schedule`). Target: corral >= 2x the best peer.
- round trip: one tiny task submitted and its result awaited, `--trips` times;
  p50 and p99. Target: corral's p50 <= 0.6x the best peer's.
- chunked map: `--items` small items, `--chunksize` to a task, against
  `multiprocessing.Pool.map` with the same chunksize (and ProcessPoolExecutor.map);
  items/s, the median of `--rounds` rounds. Target: corral >= 0.67x mp.Pool.map.

The machine is shared, so absolute figures move by 2x between runs: the ratios,
measured in the same run, are what bind.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import importlib
import multiprocessing
import multiprocessing.pool
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from bench.daemon.report import Figure, Target, print_figures, sampled

WORKERS = 2
THROUGHPUT = 2.0
ROUND_TRIP = 0.6
MAP = 0.67


@dataclass(frozen=True, slots=True)
class AtLeast(Target):
    """A lower bound (a ratio that must reach `limit`)."""

    def met(self, value: float) -> bool:
        return value >= self.limit


def add(a: int, b: int) -> int:
    """The tiny task: what is measured is the pool, not the work."""
    return a + b


def square(x: int) -> int:
    return x * x


class Peer:
    """One pool behind three operations: submit many, one round trip, a chunked map."""

    name = ""
    maps = True
    """Timed on the chunked map (pebble's and loky's are left out: only mp.Pool.map binds)."""

    def many(self, count: int) -> None:
        raise NotImplementedError

    def trip(self) -> None:
        raise NotImplementedError

    def map(self, items: int, chunksize: int) -> list[int]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class Futures(Peer):
    """Any concurrent.futures.Executor: corral, ProcessPoolExecutor, loky."""

    def __init__(self, name: str, executor: Any, *, maps: bool = True) -> None:
        self.name = name
        self.maps = maps
        self.executor = executor

    def many(self, count: int) -> None:
        submit = self.executor.submit
        for future in [submit(add, i, 1) for i in range(count)]:
            future.result()

    def trip(self) -> None:
        self.executor.submit(add, 1, 2).result()

    def map(self, items: int, chunksize: int) -> list[int]:
        return list(self.executor.map(square, range(items), chunksize=chunksize))

    def close(self) -> None:
        self.executor.shutdown(wait=True)


class Pebble(Futures):
    """pebble's ProcessPool: `schedule` is its submit."""

    def many(self, count: int) -> None:
        schedule = self.executor.schedule
        for future in [schedule(add, args=(i, 1)) for i in range(count)]:
            future.result()

    def trip(self) -> None:
        self.executor.schedule(add, args=(1, 2)).result()

    def close(self) -> None:
        self.executor.close()
        self.executor.join()


class MpPool(Peer):
    """multiprocessing.Pool: `apply_async` per task, `map` with a chunksize."""

    name = "multiprocessing.Pool"

    def __init__(self) -> None:
        self.pool = multiprocessing.Pool(WORKERS)

    def many(self, count: int) -> None:
        apply = self.pool.apply_async
        for result in [apply(add, (i, 1)) for i in range(count)]:
            result.get()

    def trip(self) -> None:
        self.pool.apply_async(add, (1, 2)).get()

    def map(self, items: int, chunksize: int) -> list[int]:
        return self.pool.map(square, range(items), chunksize=chunksize)

    def close(self) -> None:
        self.pool.close()
        self.pool.join()


def peers() -> list[Callable[[], Peer]]:
    """How to make each pool, corral first."""
    import loky  # type: ignore[import-untyped]
    import pebble

    from corral.pool import Pool

    return [
        lambda: Futures("corral", Pool(WORKERS)),
        lambda: Futures("ProcessPoolExecutor", concurrent.futures.ProcessPoolExecutor(WORKERS)),
        MpPool,
        lambda: Pebble("pebble", pebble.ProcessPool(max_workers=WORKERS), maps=False),
        lambda: Futures("loky", loky.get_reusable_executor(max_workers=WORKERS), maps=False),
    ]


@contextmanager
def started(make: Callable[[], Peer]) -> Iterator[Peer]:
    peer = make()
    try:
        peer.many(200)  # warm: every worker started, imported and idle again
        if peer.maps:
            peer.map(2000, 100)
        yield peer
    finally:
        peer.close()


@dataclass
class Measured:
    throughput: list[float]
    trips: list[float]
    mapped: list[float]


def measure(peer: Peer, args: argparse.Namespace) -> Measured:
    rounds = Measured([], [], [])
    for _ in range(args.rounds):
        began = time.perf_counter()
        peer.many(args.tasks)
        rounds.throughput.append(args.tasks / (time.perf_counter() - began))
    for _ in range(args.trips):
        began = time.perf_counter()
        peer.trip()
        rounds.trips.append((time.perf_counter() - began) * 1e6)
    if peer.maps:
        for _ in range(args.rounds):
            began = time.perf_counter()
            got = peer.map(args.items, args.chunksize)
            rounds.mapped.append(args.items / (time.perf_counter() - began))
            assert got[-1] == (args.items - 1) ** 2
    return rounds


def figures(results: dict[str, Measured], args: argparse.Namespace) -> list[Figure]:
    """Each pool's figures, then corral's ratio to the best peer with its target."""
    out: list[Figure] = []
    for name, m in results.items():
        out.append(
            Figure(
                "submit",
                f"{name}: tasks/s",
                "/s",
                statistics.median(m.throughput),
                samples=len(m.throughput),
            )
        )
    for name, m in results.items():
        out.append(sampled("round trip", f"{name}: p50", "us", m.trips, tail=0.99))
    for name, m in results.items():
        if m.mapped:
            out.append(
                Figure(
                    "map",
                    f"{name}: items/s",
                    "/s",
                    statistics.median(m.mapped),
                    samples=len(m.mapped),
                )
            )
    ours = results["corral"]
    others = {name: m for name, m in results.items() if name != "corral"}
    best_rate = max(others, key=lambda n: statistics.median(others[n].throughput))
    rate = statistics.median(ours.throughput) / statistics.median(others[best_rate].throughput)
    p50 = {name: statistics.median(m.trips) for name, m in results.items()}
    best_trip = min((n for n in p50 if n != "corral"), key=p50.__getitem__)
    mp_map = statistics.median(results["multiprocessing.Pool"].mapped)
    out += [
        Figure(
            "ratio",
            f"submit: corral / {best_rate} (best peer)",
            "x",
            rate,
            target=AtLeast(THROUGHPUT, f">= {THROUGHPUT}x (issue 14)"),
        ),
        Figure(
            "ratio",
            f"round-trip p50: corral / {best_trip} (best peer)",
            "x",
            p50["corral"] / p50[best_trip],
            target=Target(ROUND_TRIP, f"<= {ROUND_TRIP}x (issue 14)"),
        ),
        Figure(
            "ratio",
            f"map chunksize {args.chunksize}: corral / multiprocessing.Pool.map",
            "x",
            statistics.median(ours.mapped) / mp_map,
            target=AtLeast(MAP, f">= {MAP}x (issue 14)"),
        ),
    ]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tasks", type=int, default=10_000, help="submits per round (10,000)")
    parser.add_argument("--trips", type=int, default=2_000, help="round trips (2,000)")
    parser.add_argument("--items", type=int, default=100_000, help="map items (100,000)")
    parser.add_argument("--chunksize", type=int, default=1_000, help="map chunksize (1,000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per figure (3)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    here = importlib.import_module("bench.pool_peers")  # pickled by reference, not __main__
    results: dict[str, Measured] = {}
    load = os.getloadavg()
    for make in here.peers():
        with started(make) as peer:
            results[peer.name] = here.measure(peer, args)
    if not args.json:
        print(f"# load average at the start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
        print("# a shared machine: absolute figures vary by 2x; the ratios (one run) bind")
    return print_figures("bench.pool_peers", argv, here.figures(results, args), as_json=args.json)


if __name__ == "__main__":
    sys.exit(main())
