"""`python -m bench.compare`: the hot-path benchmarks of two trees, interleaved, side by side."""

from __future__ import annotations

import argparse
import compileall
import json
import os
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from bench.compare.runner import Run, check_imports, help_text, run_suite
from bench.compare.suites import GROUPS, Settings, Suite, argv_for, flags_in_help, plan
from bench.compare.summary import THRESHOLD, as_dict, conclusion, noise, rows, table
from bench.compare.trees import Tree, TreeError, source_trees
from bench.machine import machine


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected numbers separated by commas: {text!r}"
        ) from None


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__)
    add = parser.add_argument
    add("--before", required=True, help="a git revision (checked out for the run) or a tree")
    add("--after", required=True, help="a git revision or a tree, such as your worktree")
    add("--rounds", type=int, default=4, help="rounds; each runs every suite in both trees (4)")
    add("--figures", default=",".join(GROUPS), help=f"comma-separated, of: {', '.join(GROUPS)}")
    add("--sizes", type=_ints, default=(200, 1000), help="instances for status and RSS (200,1000)")
    add("--spawn-iterations", type=int, default=1000, help="bench.spawn --iterations (1000)")
    add("--restart-rounds", type=int, default=6, help="bench.daemon --restart-rounds (6)")
    add("--status-runs", type=int, default=10, help="bench.daemon --status-runs (10)")
    add("--control-calls", type=int, default=100, help="bench.daemon --control-calls (100)")
    add("--log-lines", type=int, default=1_000_000, help="bench.peers --lines (1000000)")
    add("--out", type=Path, help="where each run's JSON and stderr go (default: a new temp dir)")
    add("--json", action="store_true", help="print JSON instead of the table")
    args = parser.parse_args(argv)
    figures = [f for f in args.figures.split(",") if f]
    unknown = [f for f in figures if f not in GROUPS]
    if unknown or not figures:
        parser.error(f"--figures: expected some of {', '.join(GROUPS)}; got {args.figures!r}")
    args.figures = frozenset(figures)
    for name in ("rounds", "spawn_iterations", "restart_rounds", "status_runs", "log_lines"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')}: must be at least 1")
    if not args.sizes or min(args.sizes) < 1:
        parser.error("--sizes: give at least one size, each at least 1")
    return args


def settings(args: argparse.Namespace) -> Settings:
    return Settings(
        figures=args.figures,
        sizes=args.sizes,
        spawn_iterations=args.spawn_iterations,
        restart_rounds=args.restart_rounds,
        status_runs=args.status_runs,
        control_calls=args.control_calls,
        log_lines=args.log_lines,
    )


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _processes() -> int:
    return sum(name.isdigit() for name in os.listdir("/proc"))


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def order(step: int, trees: tuple[Tree, Tree]) -> tuple[Tree, Tree]:
    """before, after at even steps and after, before at odd ones: ABBA.

    A step is a round plus the suite's index in it, so every suite alternates from
    round to round, and the whole run too goes before, after, after, before, ..."""
    return trees if step % 2 == 0 else (trees[1], trees[0])


def prepare(trees: tuple[Tree, Tree]) -> None:
    """Compile both trees' bytecode first, so neither pays for it inside a measured run."""
    for tree in trees:
        for part in ("src", "bench"):
            compileall.compile_dir(str(tree.root / part), quiet=1)


def commands(
    suites: Sequence[Suite], trees: tuple[Tree, Tree]
) -> tuple[list[tuple[Suite, list[str]]], list[str]]:
    """Each suite with the options both trees accept; notes on what was left out."""
    planned: list[tuple[Suite, list[str]]] = []
    notes: list[str] = []
    for suite in suites:
        flags = {tree.role: flags_in_help(help_text(tree, suite.module)) for tree in trees}
        argv, left_out = argv_for(suite, flags)
        notes += left_out
        if argv is not None:
            planned.append((suite, argv))
    return planned, notes


def measure(
    planned: Sequence[tuple[Suite, list[str]]], trees: tuple[Tree, Tree], rounds: int, out: Path
) -> list[Run]:
    """Every suite in both trees, round by round, in ABBA order."""
    runs: list[Run] = []
    for round_ in range(rounds):
        for index, (suite, argv) in enumerate(planned):
            for tree in order(round_ + index, trees):
                _progress(f"round {round_ + 1}/{rounds}: {suite.name}, {tree.role} ...")
                run = run_suite(tree, suite, argv, round_ + 1, out)
                runs.append(run)
                _progress(
                    f"  {run.seconds:.1f} s" + (f"; FAILED: {run.error}" if run.error else "")
                )
    return runs


def _stop_on_term(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@dataclass(slots=True)
class Comparison:
    """Everything a run produced: the header lines, every run, and the notes."""

    head: dict[str, str]
    confirm: str
    """The command that re-runs some figure groups: this one up to `--figures`."""
    groups: frozenset[str]
    """The figure groups asked for; a benchmark may give others, which are left out."""
    runs: list[Run] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def compare(args: argparse.Namespace, out: Path) -> Comparison:
    """Check the trees out, run the rounds, and clean up; raises TreeError."""
    confirm = (
        f"{sys.executable} -m bench.compare --before {args.before} --after {args.after} --figures"
    )
    result = Comparison({"command": " ".join(sys.orig_argv), **machine()}, confirm, args.figures)
    head = result.head
    head["load average at start"] = _load()
    head["processes on the machine at start"] = str(_processes())
    started = time.monotonic()
    with source_trees(args.before, args.after) as (before, after, tree_notes):
        trees = (before, after)
        result.notes += tree_notes
        head["before"], head["after"] = before.description, after.description
        states = [tree.src_state() for tree in trees]
        for tree in trees:
            check_imports(tree)
        prepare(trees)
        planned, left_out = commands(plan(settings(args)), trees)
        result.notes += left_out
        for suite, suite_argv in planned:
            head[f"suite {suite.name}"] = (
                f"{sys.executable} -m {suite.module} {' '.join(suite_argv)} "
                "(cwd: the tree; PYTHONPATH: its src/)"
            )
        head["rounds"] = f"{args.rounds}; run order before, after, after, before, ... (ABBA)"
        head["raw outputs"] = str(out)
        result.runs = measure(planned, trees, args.rounds, out)
        for tree, state in zip(trees, states, strict=True):
            if tree.src_state() != state:
                result.notes.append(
                    f"{tree.role}: src/ changed during the run; figures mix versions"
                )
    head["load average at end"] = _load()
    head["processes on the machine at end"] = str(_processes())
    head["duration"] = f"{time.monotonic() - started:.0f} s"
    if args.rounds % 2:
        result.notes.append("an odd number of rounds: one tree ran first once more per suite")
    result.notes += [run.error for run in result.runs if run.error]
    return result


def as_json(result: Comparison) -> str:
    found = rows(result.runs, result.groups)
    runs = [
        {"tree": r.tree, "suite": r.suite, "round": r.round, "seconds": round(r.seconds, 1)}
        | ({"error": r.error} if r.error else {})
        for r in result.runs
    ]
    report = {
        "head": result.head,
        "threshold": THRESHOLD,
        "rows": [as_dict(row) for row in found],
        "runs": runs,
        "noise": noise(found),
        "conclusion": conclusion(found, result.confirm),
        "notes": result.notes,
    }
    return json.dumps(report, indent=2)


def as_text(result: Comparison) -> str:
    found = rows(result.runs, result.groups)
    rule = (
        f"verdict: WORSE when after/before > {THRESHOLD} and every round of after is above "
        "every round of before (bench/README.md, compare)"
    )
    parts = [
        "\n".join(f"{k}: {v}" for k, v in result.head.items()),
        table(found),
        "noise\n" + "\n".join(f"  {line}" for line in noise(found)),
        f"{rule}\n{conclusion(found, result.confirm)}",
    ]
    if result.notes:
        parts.append("notes\n" + "\n".join(f"  - {note}" for note in result.notes))
    return "\n\n".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _stop_on_term)
    out = args.out or Path(tempfile.mkdtemp(prefix="corral-compare-out-"))
    out.mkdir(parents=True, exist_ok=True)
    try:
        result = compare(args, out)
    except TreeError as exc:
        print(f"bench.compare: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"bench.compare: interrupted; the runs so far are in {out}", file=sys.stderr)
        return 130
    print(as_json(result) if args.json else as_text(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
