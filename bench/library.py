"""The library beside its peers on the same runs: subprocess, asyncio, anyio and plumbum.

Run from the repository root:

    .venv/bin/python -m bench.library [--spawns N] [--captures N] [--crowds N] [--json]

Three phases, each interleaved the way `bench.spawn` does it (every round runs every
variant once, in a freshly shuffled order, so load from elsewhere hits all alike):

- spawn: `true` to exit, against the os.posix_spawn + waitpid floor;
- capture: 100 MiB from `head -c 104857600 /dev/zero` read into memory, against
  subprocess.run(capture_output=True) (plumbum decodes it to str: its own cost);
- crowd: 1,000 runs of `true` at once in one event loop, against asyncio's
  create_subprocess_exec (plumbum has no async form). NOFILE is raised to the hard
  limit for this phase: each run holds pipes and, where it can, a pidfd.

Ratios are p50 over the phase's floor p50. anyio and plumbum are in the dev extras.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import shutil
import subprocess
import sys
from collections.abc import Awaitable, Callable, Sequence

import anyio
from plumbum import local

import corral
from bench.machine import machine
from bench.spawn import Phase, Row, Variant, floor_variants, measure, summarise, table

CAPTURE_BYTES = 100 << 20
CROWD = 1000


def spawn_variants(program: str) -> list[Variant]:
    """One run of `program` to its exit, output captured where the library captures."""
    argv = [program]
    plumbum_true = local[program]
    return [
        floor_variants(program)[0],
        Variant("subprocess", "subprocess.run capture_output=True", lambda: _subprocess(argv)),
        Variant("plumbum", "plumbum local[program]()", plumbum_true),
        Variant("corral", "corral.run", lambda: corral.run(argv)),
        Variant("anyio", "anyio.run_process", acall=lambda: anyio.run_process(argv)),
        Variant("asyncio", "asyncio create_subprocess_exec PIPE", acall=lambda: _asyncio(argv)),
        Variant("corral-async", "corral.run_async", acall=lambda: corral.run_async(argv)),
    ]


def capture_variants(head: str) -> list[Variant]:
    """100 MiB of stdout read into memory."""
    argv = [head, "-c", str(CAPTURE_BYTES), "/dev/zero"]
    plumbum_head = local[head]["-c", str(CAPTURE_BYTES), "/dev/zero"]
    return [
        Variant("subprocess", "subprocess.run capture_output=True", lambda: _subprocess(argv)),
        Variant("plumbum", "plumbum (decodes to str)", plumbum_head),
        Variant("corral", "corral.run", lambda: corral.run(argv)),
        Variant("anyio", "anyio.run_process", acall=lambda: anyio.run_process(argv)),
        Variant("asyncio", "asyncio PIPE + communicate", acall=lambda: _asyncio(argv)),
        Variant("corral-async", "corral.run_async", acall=lambda: corral.run_async(argv)),
    ]


def crowd_variants(program: str) -> list[Variant]:
    """CROWD runs of `program` started together in one loop, awaited together."""
    argv = [program]

    async def crowd(one: Callable[[], Awaitable[object]]) -> None:
        await asyncio.gather(*(one() for _ in range(CROWD)))

    async def anyio_crowd() -> None:
        async with anyio.create_task_group() as group:
            for _ in range(CROWD):
                group.start_soon(anyio.run_process, argv)

    async def corral_many() -> None:
        (await corral.run_many_async([argv] * CROWD, limit=CROWD)).check()

    return [
        Variant(
            "asyncio",
            "asyncio create_subprocess_exec x1000",
            acall=lambda: crowd(lambda: _asyncio(argv)),
        ),
        Variant("anyio", "anyio.run_process x1000 (task group)", acall=anyio_crowd),
        Variant(
            "corral-async",
            "corral.run_async x1000 (gather)",
            acall=lambda: crowd(lambda: corral.run_async(argv)),
        ),
        Variant("corral-many", "corral.run_many_async limit=1000", acall=corral_many),
    ]


def _subprocess(argv: list[str]) -> None:
    subprocess.run(argv, check=True, capture_output=True)


async def _asyncio(argv: list[str]) -> None:
    pipe = asyncio.subprocess.PIPE
    proc = await asyncio.create_subprocess_exec(*argv, stdout=pipe, stderr=pipe)
    await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"{argv} exited {proc.returncode}")


async def run_phases(args: argparse.Namespace) -> list[tuple[Phase, list[Row], str]]:
    """Each phase measured, with the key of the variant its ratios are against."""
    true, head = shutil.which("true"), shutil.which("head")
    if true is None or head is None:
        raise SystemExit("`true` and `head` must be on PATH")
    planned = [
        (Phase(f"spawn-to-exit of {true}", spawn_variants(true), args.spawns), "posix_spawn"),
        (Phase("capture of 100 MiB", capture_variants(head), args.captures), "subprocess"),
        (Phase(f"{CROWD} runs of true at once", crowd_variants(true), args.crowds), "asyncio"),
    ]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    results = []
    for phase, floor in planned:
        crowded = phase is planned[-1][0]  # a thousand runs hold several thousand fds
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard if crowded else soft, hard))
        try:
            samples = await measure(phase.variants, phase.iterations, warmup=args.warmup)
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        results.append((phase, summarise(phase.variants, samples, floor), floor))
    return results


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.library", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--spawns", type=int, default=500, help="spawn samples each (500)")
    parser.add_argument("--captures", type=int, default=5, help="100 MiB samples each (5)")
    parser.add_argument("--crowds", type=int, default=3, help="1,000-run samples each (3)")
    parser.add_argument("--warmup", type=int, default=1, help="unrecorded rounds first (1)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    results = asyncio.run(run_phases(args))
    if args.json:
        print(
            json.dumps(
                {
                    "command": " ".join(sys.orig_argv),
                    "machine": machine(),
                    "phases": [
                        {
                            "title": phase.title,
                            "floor": floor,
                            "rows": [
                                {
                                    "key": r.key,
                                    "p50_us": round(r.p50_us, 1),
                                    "p99_us": round(r.p99_us, 1),
                                    "ratio": round(r.ratio, 3),
                                }
                                for r in rows
                            ],
                        }
                        for phase, rows, floor in results
                    ],
                },
                indent=2,
            )
        )
        return 0
    print(f"command: {' '.join(sys.orig_argv)}")
    for key, value in machine().items():
        print(f"{key}: {value}")
    for phase, rows, floor in results:
        title = f"{phase.title} ({phase.iterations} samples each, interleaved; ratio to {floor})"
        print()
        print(table(title, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
