"""What to run in each tree, with which options, and which figures to read from its JSON.

These benchmark invocations ("suites", one scale suite per size) cover the hot-path figures of
docs/performance.md and docs/benchmarks.md:

| suite     | command (in the tree, its src/ on PYTHONPATH)                  | groups       |
|-----------|----------------------------------------------------------------|--------------|
| spawn     | `python -m bench.spawn --json --iterations N --warmup 50`      | spawn        |
| restart   | `python -m bench.daemon --json --workloads restart ...`        | restart      |
| scaleN    | `python -m bench.daemon --json --workloads scale --sizes N ...` | status, rss  |
| logs      | `python -m bench.peers --json --only logs --peers corral ...`  | logs         |

Each suite reads the tree's own benchmark output, so internals may move between the
trees as long as the JSON keeps its shape. An option is passed only when both trees'
benchmark accepts it (read from its `--help`), so both run the same workload; a
missing option that the figures cannot do without (`--json`, `--only`) skips the
suite, with a note.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

GROUPS = ("spawn", "restart", "logs", "status", "rss")
"""The figure groups, as `--figures` names them."""


@dataclass(frozen=True, slots=True)
class Reading:
    """One figure from one benchmark run."""

    key: str
    """Stable across trees and rounds, such as "spawn.corral" or "scale200.rss"."""
    group: str
    label: str
    unit: str
    """"µs", "ms", "MiB", "s", "x" (a ratio to a floor of the same run) or "lines"."""
    p50: float
    tail: float | None = None
    tail_label: str = ""
    floor: bool = False
    """A floor (no corral code in it): it should not move between trees; if it does, the
    machine's load changed between the runs."""
    count: bool = False
    """A count that must stay as low as before (lines lost), judged without a noise margin."""


@dataclass(frozen=True, slots=True)
class Option:
    """One command-line option of a benchmark; `value` None is a switch."""

    flag: str
    value: str | None = None
    needed: bool = False
    """Without it the figures cannot be read, so a tree lacking it skips the suite."""


@dataclass(frozen=True, slots=True)
class Suite:
    """One benchmark invocation, run once per tree and round."""

    name: str
    module: str
    options: tuple[Option, ...]
    read: Callable[[Any], list[Reading]]
    """Turns the benchmark's parsed `--json` output into readings."""


@dataclass(frozen=True, slots=True)
class Settings:
    """How much each suite measures per run; the defaults keep a 4-round run near 10 min."""

    figures: frozenset[str]
    sizes: tuple[int, ...] = (200, 1000)
    spawn_iterations: int = 1000
    restart_rounds: int = 6
    status_runs: int = 10
    control_calls: int = 100
    log_lines: int = 1_000_000


# -- spawn ---------------------------------------------------------------------------

SPAWN_ROWS = {
    "posix_spawn": "os.posix_spawn + waitpid (floor)",
    "corral": "corral.run (capture)",
    "corral-devnull": "corral.run devnull",
    "corral-async": "corral.run_async (capture)",
    "corral-async-devnull": "corral.run_async devnull",
}
SPAWN_RATIOS = ("corral", "corral-devnull", "corral-async")


def read_spawn(data: Any) -> list[Reading]:
    """p50 and p99 per variant of the main phase, and corral's p50 over the floor's."""
    rows = {row["key"]: row for row in data["phases"][0]["rows"]}
    found = [
        Reading(
            f"spawn.{key}",
            "spawn",
            f"spawn: {label}",
            "µs",
            rows[key]["p50_us"],
            rows[key]["p99_us"],
            "p99",
            floor=key == "posix_spawn",
        )
        for key, label in SPAWN_ROWS.items()
        if key in rows
    ]
    found += [
        Reading(
            f"spawn.{key}.ratio",
            "spawn",
            f"spawn: {SPAWN_ROWS[key]}, p50 / floor p50",
            "x",
            rows[key]["ratio"],
        )
        for key in SPAWN_RATIOS
        if key in rows
    ]
    return found


def spawn_suite(settings: Settings) -> Suite:
    options = (
        Option("--json", needed=True),
        Option("--iterations", str(settings.spawn_iterations)),
        Option("--warmup", "50"),
    )
    return Suite("spawn", "bench.spawn", options, read_spawn)


# -- daemon: restart, status, RSS -------------------------------------------------------

RESTART_FIGURES = {
    "gap between starts, corral daemon": ("restart.gap", "restart gap, corral daemon", False),
    "daemon: exit noticed -> new process running": (
        "restart.exit_to_running",
        "restart: exit noticed -> new process running",
        False,
    ),
    "gap, floor: Python posix_spawn+waitpid loop": (
        "restart.floor",
        "restart gap, floor: posix_spawn+waitpid loop",
        True,
    ),
}
SCALE_FIGURES = {
    "daemon RSS, all running": ("rss", "rss", "daemon RSS, all running", False),
    "daemon RSS, after the status calls": ("rss_after", "rss", "daemon RSS, after status", False),
    "`corral status` CLI wall time": ("status_cli", "status", "`corral status` CLI", False),
    "floor: `python -c pass`": ("python", "status", "floor: `python -c pass`", True),
    "API /v1/status round trip, all": ("api_all", "status", "API status, all", False),
    "API /v1/status round trip, sleep:0": ("api_one", "status", "API status, one", False),
}
SCALE_GROUP = re.compile(r"scale (\d+) x numprocs")


def read_daemon(data: Any) -> list[Reading]:
    """The restart gaps and, per size, RSS, the status CLI and the API status round trips."""
    found = []
    for figure in data["figures"]:
        name, group = figure["name"], figure["group"]
        if figure["median"] is None:
            continue
        if group == "restart" and name in RESTART_FIGURES:
            key, label, floor = RESTART_FIGURES[name]
            kind = "restart"
        elif (match := SCALE_GROUP.fullmatch(group)) and name in SCALE_FIGURES:
            key, kind, label, floor = SCALE_FIGURES[name]
            key, label = f"scale{match.group(1)}.{key}", f"{match.group(1)} instances: {label}"
        else:
            continue
        found.append(
            Reading(
                key,
                kind,
                label,
                figure["unit"],
                figure["median"],
                tail=figure["tail"],
                tail_label=figure["tail_label"] if figure["tail"] is not None else "",
                floor=floor,
            )
        )
    return found


def restart_suite(settings: Settings) -> Suite:
    options = (
        Option("--json", needed=True),
        Option("--workloads", "restart", needed=True),
        Option("--restart-rounds", str(settings.restart_rounds)),
    )
    return Suite("restart", "bench.daemon", options, read_daemon)


def scale_suite(settings: Settings, size: int) -> Suite:
    """One size per invocation, so the two trees' runs of a size follow each other."""
    status = "status" in settings.figures
    options = (
        Option("--json", needed=True),
        Option("--workloads", "scale", needed=True),
        Option("--sizes", str(size), needed=True),
        Option("--layouts", "numprocs"),
        Option("--idle-seconds", "0.1"),
        Option("--status-runs", str(settings.status_runs if status else 1)),
        Option("--control-calls", str(settings.control_calls if status else 0)),
        Option("--lifecycle-rounds", "0"),
    )
    return Suite(f"scale{size}", "bench.daemon", options, read_daemon)


# -- logs ------------------------------------------------------------------------------

LOG_VARIANTS = {
    "corral": "corral",
    "corral-ts": "corral, timestamps on",
    "floor-cat": "floor: writer | cat > file",
}


def _median(
    samples: Mapping[str, Mapping[str, list[float | None]]], metric: str, variant: str
) -> float | None:
    values = [v for v in samples.get(metric, {}).get(variant, []) if v is not None]
    return statistics.median(values) if values else None


def read_logs(data: Any) -> list[Reading]:
    """Capture time per write size for corral (timestamps off and on), the cat floor, losses."""
    samples = data["samples"]
    found = []
    for mode in (64, 1):
        what = f"log capture, {mode} line{'s' if mode > 1 else ''}/write"
        for variant, label in LOG_VARIANTS.items():
            seconds = _median(samples, f"logs{mode}.time", variant)
            if seconds is not None:
                key = f"logs{mode}.time.{variant}"
                floor = variant.startswith("floor")
                found.append(Reading(key, "logs", f"{what}: {label}", "s", seconds, floor=floor))
        for variant in ("corral", "corral-ts"):
            lost = _median(samples, f"logs{mode}.lost", variant)
            if lost is not None:
                label = f"{what}: lines lost, {LOG_VARIANTS[variant]}"
                key = f"logs{mode}.lost.{variant}"
                found.append(Reading(key, "logs", label, "lines", lost, count=True))
    return found


def logs_suite(settings: Settings) -> Suite:
    options = (
        Option("--json", needed=True),
        Option("--only", "logs", needed=True),
        Option("--peers", "corral", needed=True),
        Option("--rounds", "1"),
        Option("--lines", str(settings.log_lines)),
    )
    return Suite("logs", "bench.peers", options, read_logs)


# -- planning --------------------------------------------------------------------------


def plan(settings: Settings) -> list[Suite]:
    """The suites the chosen figure groups need, in the order each round runs them."""
    figures = settings.figures
    suites = []
    if "spawn" in figures:
        suites.append(spawn_suite(settings))
    if "restart" in figures:
        suites.append(restart_suite(settings))
    if figures & {"status", "rss"}:
        suites += [scale_suite(settings, size) for size in settings.sizes]
    if "logs" in figures:
        suites.append(logs_suite(settings))
    return suites


FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


def flags_in_help(text: str) -> frozenset[str]:
    """The long options an argparse `--help` text lists."""
    return frozenset(FLAG.findall(text))


def argv_for(
    suite: Suite, flags: Mapping[str, frozenset[str]]
) -> tuple[list[str] | None, list[str]]:
    """The options every tree accepts, and notes on those left out; None if a needed one is."""
    argv: list[str] = []
    notes: list[str] = []
    for option in suite.options:
        lacking = [role for role, known in flags.items() if option.flag not in known]
        if lacking:
            where = " and ".join(lacking)
            if option.needed:
                return None, [
                    f"{suite.name}: {where}'s {suite.module} has no {option.flag}; skipped"
                ]
            notes.append(
                f"{suite.name}: {where}'s {suite.module} has no {option.flag}; left out for both"
            )
            continue
        argv += [option.flag] if option.value is None else [option.flag, option.value]
    return argv, notes
