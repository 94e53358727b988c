"""Spawn-to-exec latency of sandboxed spawns, against os.posix_spawn.

Each sample times one call that returns once the child has exec'd the program:
`os.posix_spawn` (the floor; glibc's vfork child holds the parent until execve)
or `corral.lowlevel.launch(spec)` (posix_spawn for a plain spec; for a sandboxed
one, the fork path returns at EOF on its close-on-exec report pipe, that is once
execve has succeeded). Waiting for the exit, reaping and removing the sandbox's
cgroup happen after the clock stops. stdin, stdout and stderr are /dev/null in
every variant, including the floor.

Variants are interleaved as in bench/spawn.py: each round runs every variant once,
in a freshly shuffled (seeded) order. Sandboxes are built from what
`corral.lowlevel.features()` reports; a variant the machine cannot run is tried
once, skipped, and listed with the reason.

`--heap` adds a phase in which the parent holds 1 GiB of touched memory. A
sandboxed spawn forks, and fork copies the parent's page tables, so its cost grows
with the parent's memory; posix_spawn's does not.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import select
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bench.machine import machine
from bench.spawn import GIB, percentile, touched_ballast
from corral import ProcessSpec, SpawnError, UnsupportedFeature, lowlevel
from corral._platform import libc
from corral._platform.features import features  # mypy types lowlevel.features as the module
from corral.lowlevel import Feature, Launched
from corral.sandbox import CgroupLimits, Identity, Namespaces, Rlimit, Sandbox, Seccomp

FLOOR = "posix_spawn"
PLAIN = "plain"
SEED = 1
KEYS = (
    PLAIN, "fork-path", "limits-user-nnp", "limits-user-nnp-cold", "cgroup", "seccomp",
    "namespaces", "namespaces-no-net", "full",
)  # fmt: skip
"""Every variant but the floor, in table order."""
HEAP_KEYS = (FLOOR, PLAIN, "fork-path", "limits-user-nnp")
"""The variants measured again while the parent holds 1 GiB (--heap)."""

Finish = Callable[[], None]
"""Reaps what one sample started and undoes its sandbox; runs after the clock stops."""


@dataclass(frozen=True, slots=True)
class Variant:
    """One way of starting the program; `start` returns what finishes the sample."""

    key: str
    label: str
    start: Callable[[], Finish]
    before: Callable[[], None] | None = None
    """Runs before each sample, outside the timed region."""
    after: Callable[[], None] | None = None
    """Runs after each sample has been finished, outside the timed region."""


@dataclass(frozen=True, slots=True)
class Row:
    """The summary of one variant's samples."""

    key: str
    label: str
    samples: int
    p50_us: float
    p99_us: float
    over_floor_us: float
    ratio: float


@dataclass(frozen=True, slots=True)
class Phase:
    """A set of variants measured together, interleaved, under one condition."""

    title: str
    variants: list[Variant]
    iterations: int


@dataclass(slots=True)
class Cleanup:
    """What the samples created that must be gone at the end."""

    cgroups: int = 0
    """How many samples made a cgroup."""
    directories: set[str] = field(default_factory=set)
    """Every cgroup directory a sample made (one per hierarchy), and its corral.<pid> parent."""


# -- the sandboxes -----------------------------------------------------------------


def supported() -> frozenset[Feature]:
    """The features this machine has."""
    return frozenset(f for f, status in features().items() if status.supported)


def limits_user_nnp() -> Sandbox:
    """rlimits (nofile, nproc, core), user nobody (when we are root), no_new_privs."""
    rlimits = {
        "nofile": Rlimit(soft=1024, hard=1024),
        "nproc": Rlimit(soft=4096, hard=4096),
        "core": Rlimit(soft=0, hard=0),
    }
    user = "nobody" if os.geteuid() == 0 else None
    return Sandbox(rlimits=rlimits, identity=Identity(user=user, no_new_privs=True))


def cgroup_limits(have: frozenset[Feature]) -> CgroupLimits:
    """memory_max 256 MiB, pids_max 512, cpu_quota 1.0: those this machine supports."""
    return CgroupLimits(
        memory_max=256 << 20 if Feature.CGROUP_MEMORY in have else None,
        pids_max=512 if Feature.CGROUP_PIDS in have else None,
        cpu_quota=1.0 if Feature.CGROUP_CPU in have else None,
    )


def all_namespaces(have: frozenset[Feature], *, net: bool = True) -> Namespaces:
    """pid, net, mount with a private /tmp, uts, ipc, and user when supported."""
    return Namespaces(
        pid=Feature.NS_PID in have,
        net=net and Feature.NS_NET in have,
        private_tmp=Feature.NS_MOUNT in have,
        hostname="bench" if Feature.NS_UTS in have else None,
        ipc=Feature.NS_IPC in have,
        user=Feature.NS_USER in have,
    )


SERVICE_DEFAULT = Seccomp(presets=("service-default",))


def sandboxes(have: frozenset[Feature]) -> list[tuple[str, str, Sandbox]]:
    """(key, label, sandbox) for every sandboxed variant."""
    cgroup = cgroup_limits(have)
    namespaces = all_namespaces(have)
    limits = limits_user_nnp()
    return [
        ("fork-path", "empty Sandbox() (fork path, no steps)", Sandbox()),
        ("limits-user-nnp", _limits_text(limits), limits),
        ("cgroup", f"cgroup ({_cgroup_text(cgroup)})", Sandbox(cgroup=cgroup)),
        ("seccomp", "seccomp service-default", Sandbox(seccomp=SERVICE_DEFAULT)),
        ("namespaces", f"namespaces ({_ns_text(namespaces)})", Sandbox(namespaces=namespaces)),
        (
            "namespaces-no-net",
            "namespaces, all but net (info)",
            Sandbox(namespaces=all_namespaces(have, net=False)),
        ),
        (
            "full",
            "cgroup + seccomp + namespaces",
            Sandbox(cgroup=cgroup, seccomp=SERVICE_DEFAULT, namespaces=namespaces),
        ),
    ]


def _limits_text(sandbox: Sandbox) -> str:
    user = sandbox.identity.user if sandbox.identity is not None else None
    return f"rlimits + {f'user {user}' if user else 'no user switch (not root)'} + no_new_privs"


def _cgroup_text(limits: CgroupLimits) -> str:
    parts = [
        f"memory_max {limits.memory_max >> 20}M" if limits.memory_max else "",
        f"pids_max {limits.pids_max}" if limits.pids_max else "",
        f"cpu_quota {limits.cpu_quota}" if limits.cpu_quota else "",
    ]
    return ", ".join(p for p in parts if p) or "no limits"


def _ns_text(ns: Namespaces) -> str:
    kinds = {"pid": ns.pid, "net": ns.net, "mount": ns.private_tmp, "uts": bool(ns.hostname)}
    kinds |= {"ipc": ns.ipc, "user": ns.user}
    return " ".join(k for k, on in kinds.items() if on) or "none"


# -- the variants ------------------------------------------------------------------


def floor_variant(program: str, devnull: int) -> Variant:
    """os.posix_spawn with stdio on /dev/null; only the call is timed."""
    argv = [program]
    actions = [(os.POSIX_SPAWN_DUP2, devnull, fd) for fd in (0, 1, 2)]

    def start() -> Finish:
        pid = os.posix_spawn(program, argv, os.environ, file_actions=actions)
        return lambda: _reap(pid)

    return Variant(FLOOR, "os.posix_spawn (floor)", start)


def corral_variant(key: str, label: str, spec: ProcessSpec, cleanup: Cleanup) -> Variant:
    """corral.lowlevel.launch(spec); only the launch is timed."""

    def start() -> Finish:
        launched = lowlevel.launch(spec)
        return lambda: finish(launched, cleanup)

    return Variant(key, label, start)


def variants(program: str, devnull: int, cleanup: Cleanup) -> list[Variant]:
    """The floor, plain corral, and every sandboxed variant."""

    def spec(sandbox: Sandbox | None) -> ProcessSpec:
        argv = (program,)
        return ProcessSpec(argv=argv, stdout="devnull", stderr="devnull", sandbox=sandbox)

    found = [
        floor_variant(program, devnull),
        corral_variant(PLAIN, "corral plain (posix_spawn path)", spec(None), cleanup),
    ]
    for key, label, sandbox in sandboxes(supported()):
        found.append(corral_variant(key, label, spec(sandbox), cleanup))
        if key == "limits-user-nnp":
            found.append(cold_libc_variant(label, spec(sandbox), cleanup))
    return found


def cold_libc_variant(label: str, spec: ProcessSpec, cleanup: Cleanup) -> Variant:
    """The same spawn in a process that has not loaded its libc handle yet.

    corral loads libc (`_platform/libc.py` `handle()`) on first use and caches it.
    When the first use is a child step (no_new_privs, capabilities), it is cached
    in the child's copy of memory only, so every such spawn loads it again in the
    child: `ctypes.util.find_library("c")`, which runs `ldconfig -p`. Forgetting the
    handle before each sample reproduces a process in which nothing else loaded it
    (no `features()` call, no cwd, seccomp or namespaces spawn); it is loaded again
    after the sample, so the other variants find it loaded.
    """
    base = corral_variant(
        "limits-user-nnp-cold", f"{label}, libc not loaded yet (info)", spec, cleanup
    )
    return Variant(base.key, base.label, base.start, libc.handle.cache_clear, _load_libc)


def _load_libc() -> None:
    libc.handle()


def finish(launched: Launched, cleanup: Cleanup) -> None:
    """Wait for the exit, reap it, undo the sandbox (removing its cgroup)."""
    notifier = launched.notifier
    try:
        while notifier.collect() is None:
            select.select([notifier.fd], [], [])
    finally:
        notifier.close()
    for fd in (launched.stdin, launched.stdout, launched.stderr):
        if fd is not None:
            os.close(fd)
    plan = launched.sandbox
    if plan is not None:
        paths: tuple[str, ...] = getattr(plan.cgroup, "paths", ())
        cleanup.cgroups += bool(paths)
        cleanup.directories.update(paths)
        cleanup.directories.update(os.path.dirname(p) for p in paths)
        plan.undo()


def _reap(pid: int) -> None:
    os.waitpid(pid, 0)


def runnable(found: list[Variant]) -> tuple[list[Variant], dict[str, str]]:
    """The variants that start here, and why each of the others does not."""
    ok: list[Variant] = []
    skipped: dict[str, str] = {}
    for variant in found:
        try:
            variant.start()()
        except (UnsupportedFeature, SpawnError) as exc:
            skipped[variant.label] = str(exc)
        else:
            ok.append(variant)
    return ok, skipped


# -- measuring ---------------------------------------------------------------------


def measure(variants: Sequence[Variant], iterations: int, warmup: int) -> dict[str, list[int]]:
    """Nanosecond samples per variant key; each round runs all variants, shuffled."""
    samples: dict[str, list[int]] = {v.key: [] for v in variants}
    order = list(variants)
    shuffle = random.Random(SEED).shuffle
    for i in range(warmup + iterations):
        shuffle(order)
        for variant in order:
            elapsed = time_once(variant)
            if i >= warmup:
                samples[variant.key].append(elapsed)
    return samples


def time_once(variant: Variant) -> int:
    """Nanoseconds from before the spawn until it has exec'd; the cleanup is not timed."""
    if variant.before is not None:
        variant.before()
    start = time.perf_counter_ns()
    done = variant.start()
    elapsed = time.perf_counter_ns() - start
    done()
    if variant.after is not None:
        variant.after()
    return elapsed


def summarise(variants: Sequence[Variant], samples: dict[str, list[int]]) -> list[Row]:
    """One Row per variant; the floor is the posix_spawn p50 measured alongside."""
    p50 = {key: percentile(sorted(ns), 0.50) for key, ns in samples.items()}
    floor = p50.get(FLOOR, math.nan)
    return [
        Row(
            key=v.key,
            label=v.label,
            samples=len(samples[v.key]),
            p50_us=p50[v.key],
            p99_us=percentile(sorted(samples[v.key]), 0.99),
            over_floor_us=p50[v.key] - floor,
            ratio=p50[v.key] / floor,
        )
        for v in variants
    ]


def run_phases(args: argparse.Namespace, found: list[Variant]) -> list[tuple[Phase, list[Row]]]:
    """The main phase and, with --heap, the same spawns while the parent holds 1 GiB."""
    main = Phase(f"spawn-to-exec latency of {args.program}", found, args.iterations)
    results = [(main, summarise(main.variants, measure(found, main.iterations, args.warmup)))]
    if not args.heap:
        return results
    held = [v for v in found if v.key in HEAP_KEYS]
    ballast = touched_ballast(GIB)
    phase = Phase("parent holding 1 GiB of touched memory", held, args.heap_iterations)
    samples = measure(held, phase.iterations, min(args.warmup, 10))
    del ballast
    results.append((phase, summarise(held, samples)))
    return results


def leftovers(cleanup: Cleanup) -> list[str]:
    """Cgroup directories still there, and children not reaped (both should be none)."""
    left = sorted(path for path in cleanup.directories if os.path.exists(path))
    try:
        pid, _ = os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return left
    return [*left, f"an unreaped child (pid {pid})" if pid else "a running child"]


# -- reporting ---------------------------------------------------------------------


def table(title: str, rows: Sequence[Row]) -> str:
    """The rows as fixed-width text."""
    width = max(len(r.label) for r in rows)
    lines = [
        title,
        f"{'variant':<{width}}  {'p50 µs':>8}  {'p99 µs':>8}  {'p50-floor':>9}  {'p50/floor':>9}",
    ]
    for r in rows:
        lines.append(
            f"{r.label:<{width}}  {r.p50_us:>8,.0f}  {r.p99_us:>8,.0f}  "
            f"{r.over_floor_us:>+9,.0f}  {r.ratio:>8.2f}x"
        )
    return "\n".join(lines)


def header(args: argparse.Namespace, load: tuple[float, float]) -> dict[str, str]:
    """The command, the program, the machine and the load average before and after."""
    info = {"command": " ".join(sys.orig_argv), "program": args.program}
    info |= machine()
    info["euid"] = str(os.geteuid())
    info["load_average_1min"] = f"{load[0]:.2f} before, {load[1]:.2f} after"
    return info


@dataclass(frozen=True, slots=True)
class Report:
    """Everything one run produced."""

    info: dict[str, str]
    results: list[tuple[Phase, list[Row]]]
    skipped: dict[str, str]
    cgroups_made: int
    left: list[str]


def as_text(report: Report) -> str:
    """The whole report as text: machine, tables, skipped variants, cleanup check."""
    head = "\n".join(f"{k}: {v}" for k, v in report.info.items())
    body = [
        table(f"{phase.title} ({phase.iterations} samples each, interleaved)", rows)
        for phase, rows in report.results
    ]
    tail = [f"skipped {label}: {why}" for label, why in report.skipped.items()]
    tail.append(_cleanup_text(report))
    return "\n\n".join([head, *body, "\n".join(tail)])


def _cleanup_text(report: Report) -> str:
    if report.left:
        return "cleanup: LEFT BEHIND: " + ", ".join(report.left)
    made = report.cgroups_made
    return f"cleanup: {made} cgroups made, all removed; no child left unreaped"


def as_json(report: Report) -> str:
    """The whole report as JSON."""
    return json.dumps(
        {
            "machine": report.info,
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
                            "over_floor_us": round(r.over_floor_us, 1),
                            "ratio": round(r.ratio, 3),
                        }
                        for r in rows
                    ],
                }
                for phase, rows in report.results
            ],
            "skipped": report.skipped,
            "cgroups_made": report.cgroups_made,
            "left_behind": report.left,
        },
        indent=2,
    )


# -- command line ------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.sandbox", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--iterations", type=int, default=1000, help="samples per variant (1000)")
    parser.add_argument("--warmup", type=int, default=50, help="unrecorded rounds first (50)")
    parser.add_argument("--heap", action="store_true", help="add the 1 GiB parent phase")
    parser.add_argument(
        "--heap-iterations",
        type=int,
        default=300,
        help="samples per variant while the parent holds 1 GiB, with --heap (300)",
    )
    parser.add_argument(
        "--program",
        default=shutil.which("true"),
        help="program every variant starts, by full path (default: `true` resolved on PATH)",
    )
    parser.add_argument(
        "--variants",
        type=lambda text: frozenset(text.split(",")),
        default=None,
        help="comma-separated keys of the variants to run (the floor always runs); "
        f"default all: {', '.join(KEYS)}",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    args = parser.parse_args(argv)
    if args.variants is not None and not args.variants <= set(KEYS):
        parser.error(f"unknown variants {sorted(args.variants - set(KEYS))}; choose from {KEYS}")
    if args.program is None or "/" not in args.program:
        parser.error("give --program as a path (`true` was not found on PATH)")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    cleanup = Cleanup()
    load = os.getloadavg()[0]
    with open(os.devnull, "rb+", buffering=0) as devnull:
        chosen = variants(args.program, devnull.fileno(), cleanup)
        if args.variants is not None:
            chosen = [v for v in chosen if v.key == FLOOR or v.key in args.variants]
        found, skipped = runnable(chosen)
        results = run_phases(args, found)
    left = leftovers(cleanup)
    info = header(args, (load, os.getloadavg()[0]))
    report = Report(info, results, skipped, cleanup.cgroups, left)
    print(as_json(report) if args.json else as_text(report))
    return 1 if left else 0


if __name__ == "__main__":
    sys.exit(main())
