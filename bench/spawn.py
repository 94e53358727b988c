"""Spawn-to-exit latency of `true`: corral against os.posix_spawn, subprocess and asyncio.

Run from the repository root:

    .venv/bin/python -m bench.spawn [--iterations N] [--fork] [--json]

Every variant runs the same program, given by its full path (`shutil.which("true")`
resolved once), so no variant pays for a PATH search and none gets a cached one for
free. Variants are interleaved: each round runs every variant once, in a freshly
shuffled order (seeded), so a burst of load from another process hits all of them
alike and no variant always runs right after the same neighbour. Each sample is one
call, from before the spawn until the exit has been collected; async variants are
timed around the `await` inside one running event loop.

The target (issue: "within 1.15x of os.posix_spawn") is checked for `corral.run`
with captured output and with /dev/null, against the posix_spawn + waitpid floor.

`--fork` adds three phases. First subprocess with a `preexec_fn` (which makes it
fork instead of vfork) beside the floor; then, while the parent holds 1 GiB of
touched memory, the fork-free variants, and the fork beside the floor again. A
fork leaves the parent's pages copy-on-write, so whichever variant runs next pays
for the faults; that is why the fork variant never shares a phase with corral.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import corral
from bench.machine import machine

TARGET_RATIO = 1.15
"""corral.run's p50 may be at most this multiple of the posix_spawn floor's p50."""
FLOOR = "posix_spawn"
TARGET_KEYS = ("corral", "corral-devnull")
HELD_KEYS = frozenset({FLOOR, "subprocess", "corral", "corral-devnull"})
"""The fork-free variants measured again while the parent holds 1 GiB (--fork)."""
SEED = 1
GIB = 1 << 30
PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True, slots=True)
class Variant:
    """One way of running the program once; exactly one of `call` and `acall` is set."""

    key: str
    label: str
    call: Callable[[], object] | None = None
    acall: Callable[[], Awaitable[object]] | None = None


@dataclass(frozen=True, slots=True)
class Row:
    """The summary of one variant's samples."""

    key: str
    label: str
    samples: int
    p50_us: float
    p99_us: float
    ratio: float


@dataclass(frozen=True, slots=True)
class Phase:
    """A set of variants measured together, interleaved, under one condition."""

    title: str
    variants: list[Variant]
    iterations: int


# -- the variants ------------------------------------------------------------------


def floor_variants(program: str) -> list[Variant]:
    """os.posix_spawn (posix_spawnp for a bare name) + os.waitpid: the floor, and below it.

    The floor passes `os.environ`, as any caller that honours the current environment
    must; converting it costs posix_spawn some microseconds. The second variant passes
    a dict built once, to show that cost; it is for information, not the floor.
    """
    argv = [program]
    spawn = os.posix_spawn if "/" in program else os.posix_spawnp
    frozen_env = dict(os.environ)

    def call() -> None:
        os.waitpid(spawn(program, argv, os.environ), 0)

    def call_frozen() -> None:
        os.waitpid(spawn(program, argv, frozen_env), 0)

    return [
        Variant(FLOOR, "os.posix_spawn + os.waitpid (floor)", call),
        Variant("posix_spawn-env-once", "os.posix_spawn, env dict built once (info)", call_frozen),
    ]


def sync_variants(program: str, cwd: str) -> list[Variant]:
    """subprocess.run and corral.run, with and without pipes."""
    argv = [program]
    return [
        Variant("subprocess", "subprocess.run", lambda: subprocess.run(argv, check=True)),
        Variant(
            "subprocess-capture",
            "subprocess.run capture_output=True",
            lambda: subprocess.run(argv, check=True, capture_output=True),
        ),
        Variant("corral", "corral.run (capture, default)", lambda: corral.run(argv)),
        Variant(
            "corral-devnull",
            "corral.run stdout/stderr=devnull",
            lambda: corral.run(argv, stdout="devnull", stderr="devnull"),
        ),
        Variant(
            "corral-cwd", f"corral.run cwd={cwd} (addchdir)", lambda: corral.run(argv, cwd=cwd)
        ),
        Variant(
            "corral-path",
            "corral.run by bare name (PATH searched per spawn)",
            lambda: corral.run([os.path.basename(program)]),
        ),
    ]


def async_variants(program: str) -> list[Variant]:
    """corral.run_async and asyncio.create_subprocess_exec, awaited in one loop."""
    argv = [program]

    async def asyncio_wait() -> None:
        proc = await asyncio.create_subprocess_exec(*argv)
        await proc.wait()

    async def asyncio_capture() -> None:
        pipe = asyncio.subprocess.PIPE
        proc = await asyncio.create_subprocess_exec(*argv, stdout=pipe, stderr=pipe)
        await proc.communicate()

    return [
        Variant("corral-async", "corral.run_async (capture)", acall=lambda: corral.run_async(argv)),
        Variant(
            "corral-async-devnull",
            "corral.run_async stdout/stderr=devnull",
            acall=lambda: corral.run_async(argv, stdout="devnull", stderr="devnull"),
        ),
        Variant("asyncio", "asyncio create_subprocess_exec + wait", acall=asyncio_wait),
        Variant(
            "asyncio-capture",
            "asyncio create_subprocess_exec PIPE + communicate",
            acall=asyncio_capture,
        ),
    ]


def fork_variant(program: str) -> Variant:
    """subprocess.run with a preexec_fn, which makes _posixsubprocess fork, not vfork."""
    argv = [program]
    return Variant(
        "fork",
        "subprocess.run preexec_fn (fork)",
        lambda: subprocess.run(argv, check=True, preexec_fn=_nothing),
    )


def _nothing() -> None:
    pass


# -- measuring ---------------------------------------------------------------------


async def measure(
    variants: Sequence[Variant], iterations: int, warmup: int
) -> dict[str, list[int]]:
    """Nanosecond samples per variant key; each round runs all variants, shuffled."""
    samples: dict[str, list[int]] = {v.key: [] for v in variants}
    order = list(variants)
    shuffle = random.Random(SEED).shuffle
    for i in range(warmup + iterations):
        shuffle(order)
        for variant in order:
            elapsed = await time_once(variant)
            if i >= warmup:
                samples[variant.key].append(elapsed)
    return samples


async def time_once(variant: Variant) -> int:
    """Nanoseconds for one call (or one await) of `variant`."""
    if variant.acall is not None:
        start = time.perf_counter_ns()
        await variant.acall()
        return time.perf_counter_ns() - start
    assert variant.call is not None
    start = time.perf_counter_ns()
    variant.call()
    return time.perf_counter_ns() - start


def percentile(sorted_ns: Sequence[int], fraction: float) -> float:
    """Nearest-rank percentile, in microseconds."""
    rank = max(1, math.ceil(fraction * len(sorted_ns)))
    return sorted_ns[rank - 1] / 1000


def summarise(
    variants: Sequence[Variant], samples: dict[str, list[int]], floor_key: str = FLOOR
) -> list[Row]:
    """One Row per variant; ratios are p50 over the floor's p50 measured alongside."""
    p50 = {key: percentile(sorted(ns), 0.50) for key, ns in samples.items()}
    floor = p50.get(floor_key, math.nan)
    return [
        Row(
            key=v.key,
            label=v.label,
            samples=len(samples[v.key]),
            p50_us=p50[v.key],
            p99_us=percentile(sorted(samples[v.key]), 0.99),
            ratio=p50[v.key] / floor,
        )
        for v in variants
    ]


def touched_ballast(size: int) -> bytearray:
    """`size` bytes with every page written, so they are all mapped in the parent."""
    ballast = bytearray(size)
    ballast[::PAGE] = b"\x01" * len(range(0, size, PAGE))
    return ballast


async def run_phases(args: argparse.Namespace) -> list[tuple[Phase, list[Row]]]:
    """Measure the main phase and, with --fork, the fork and 1 GiB phases."""
    program = args.program
    main = [*floor_variants(program), *sync_variants(program, args.cwd)]
    main += async_variants(program)
    phase = Phase(f"spawn-to-exit latency of {program}", main, args.iterations)
    results = [(phase, await _measure_phase(phase, args.warmup))]
    if not args.fork:
        return results
    forking = [main[0], fork_variant(program)]
    held = [v for v in main if v.key in HELD_KEYS]
    warmup = min(args.warmup, 10)
    fork = Phase("fork, parent as is", forking, args.fork_iterations)
    results.append((fork, await _measure_phase(fork, warmup)))
    ballast = touched_ballast(GIB)
    for phase in (
        Phase("fork-free, parent holding 1 GiB of touched memory", held, args.held_iterations),
        Phase("fork, parent holding 1 GiB", forking, args.fork_iterations),
    ):
        results.append((phase, await _measure_phase(phase, warmup)))
    del ballast
    return results


async def _measure_phase(phase: Phase, warmup: int) -> list[Row]:
    samples = await measure(phase.variants, phase.iterations, warmup)
    return summarise(phase.variants, samples)


# -- reporting ---------------------------------------------------------------------


def table(title: str, rows: Sequence[Row]) -> str:
    """The rows as fixed-width text."""
    width = max(len(r.label) for r in rows)
    lines = [
        title,
        f"{'variant':<{width}}  {'p50 µs':>9}  {'p99 µs':>9}  {'p50/floor':>9}",
    ]
    for r in rows:
        lines.append(f"{r.label:<{width}}  {r.p50_us:>9,.0f}  {r.p99_us:>9,.0f}  {r.ratio:>8.2f}x")
    return "\n".join(lines)


def verdicts(rows: Sequence[Row]) -> dict[str, dict[str, object]]:
    """For each targeted corral variant: its ratio and whether it meets TARGET_RATIO."""
    by_key = {r.key: r for r in rows}
    return {
        key: {"ratio": round(by_key[key].ratio, 3), "met": by_key[key].ratio <= TARGET_RATIO}
        for key in TARGET_KEYS
        if key in by_key
    }


def verdict_text(rows: Sequence[Row]) -> str:
    """The target and, per corral variant, whether it is met."""
    lines = [f"target: corral.run p50 within {TARGET_RATIO}x of the posix_spawn floor p50"]
    labels = {r.key: r.label for r in rows}
    for key, v in verdicts(rows).items():
        lines.append(f"  {labels[key]:<34} {v['ratio']:.2f}x  {'met' if v['met'] else 'NOT MET'}")
    return "\n".join(lines)


def as_json(args: argparse.Namespace, results: list[tuple[Phase, list[Row]]]) -> str:
    """The whole report as JSON."""
    return json.dumps(
        {
            "command": " ".join(sys.orig_argv),
            "program": args.program,
            "machine": machine(),
            "target_ratio": TARGET_RATIO,
            "target": verdicts(results[0][1]),
            "phases": [
                {
                    "title": phase.title,
                    "iterations": phase.iterations,
                    "rows": [
                        {
                            "key": r.key,
                            "variant": r.label,
                            "samples": r.samples,
                            "p50_us": round(r.p50_us, 1),
                            "p99_us": round(r.p99_us, 1),
                            "ratio": round(r.ratio, 3),
                        }
                        for r in rows
                    ],
                }
                for phase, rows in results
            ],
        },
        indent=2,
    )


def as_text(args: argparse.Namespace, results: list[tuple[Phase, list[Row]]]) -> str:
    """The whole report as text: machine, tables, target."""
    info = machine()
    head = [f"command: {' '.join(sys.orig_argv)}", f"program: {args.program}"]
    head += [f"{k}: {v}" for k, v in info.items()]
    body = [
        table(f"{phase.title} ({phase.iterations} samples each, interleaved)", rows)
        for phase, rows in results
    ]
    return "\n\n".join(["\n".join(head), *body, verdict_text(results[0][1])])


# -- command line ------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.spawn", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--iterations", type=int, default=2000, help="samples per variant (2000)")
    parser.add_argument("--warmup", type=int, default=100, help="unrecorded rounds first (100)")
    parser.add_argument("--fork", action="store_true", help="add the fork and 1 GiB phases")
    parser.add_argument(
        "--fork-iterations",
        type=int,
        default=300,
        help="samples per variant in the fork phases (300)",
    )
    parser.add_argument(
        "--held-iterations",
        type=int,
        default=1000,
        help="samples per fork-free variant while 1 GiB is held, with --fork (1000)",
    )
    parser.add_argument(
        "--program",
        default=shutil.which("true"),
        help="program run by every variant (default: `true` resolved on PATH once); a bare "
        "name makes each variant search PATH its own way (the floor uses posix_spawnp)",
    )
    parser.add_argument("--cwd", default="/tmp", help="directory for the cwd variant (/tmp)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    args = parser.parse_args(argv)
    if args.program is None:
        parser.error("`true` is not on PATH; give --program")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    results = asyncio.run(run_phases(args))
    print(as_json(args, results) if args.json else as_text(args, results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
