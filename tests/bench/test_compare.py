"""bench.compare: its verdict rule, its option handling, and one real (tiny) comparison.

No timing is asserted here (timing targets live in bench/): the tests check that the
rule says what bench/README.md says it does, that an option one tree's benchmark lacks
is left out for both, and that a real run checks a revision out, reads every figure
from both trees' own benchmarks and removes the checkout again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from bench.compare.__main__ import order
from bench.compare.runner import Run
from bench.compare.suites import (
    Option,
    Reading,
    Suite,
    argv_for,
    flags_in_help,
    read_daemon,
    read_logs,
)
from bench.compare.summary import Row, rows
from bench.compare.trees import Tree

ROOT = Path(__file__).resolve().parents[2]


def reading(p50: float, *, count: bool = False) -> Reading:
    return Reading("k", "spawn", "figure", "µs", p50, count=count)


def row(before: tuple[float, ...], after: tuple[float, ...], *, count: bool = False) -> Row:
    return Row(reading(1.0, count=count), before, after, (), (), ())


@pytest.mark.parametrize(
    ("before", "after", "verdict"),
    [
        ((100, 101, 99, 100), (101, 100, 102, 99), "same"),
        ((100, 101, 99, 100), (110, 111, 112, 109), "WORSE"),
        ((110, 111, 112, 109), (100, 101, 99, 100), "better"),
        # beyond 5 %, but one round of before reaches into after's range
        ((100, 101, 99, 115), (110, 111, 112, 109), "unsure"),
        # apart, but too few rounds to tell
        ((100, 101, 99), (110, 111, 112), "unsure"),
        # apart by less than the threshold
        ((100, 100, 100, 100), (104, 104, 104, 104), "same"),
        ((100, 100, 100, 100), (), "missing"),
    ],
)
def test_verdict_rule(before: tuple[float, ...], after: tuple[float, ...], verdict: str) -> None:
    assert row(before, after).verdict == verdict


def test_a_count_is_worse_as_soon_as_after_loses_more() -> None:
    assert row((0, 0, 0, 0), (0, 0, 1, 0), count=True).verdict == "WORSE"
    assert row((0, 0, 0, 0), (0, 0, 0, 0), count=True).verdict == "same"
    assert row((0, 0), (0, 0), count=True).ratio == 1.0


def test_rows_pair_each_round_and_skip_a_failed_run() -> None:
    def run(tree: str, round_: int, p50: float | None) -> Run:
        found = {} if p50 is None else {"k": reading(p50)}
        return Run(tree, "spawn", round_, 1.0, found, "" if found else "failed")

    runs = [run("before", 1, 100), run("after", 1, 110), run("after", 2, 120)]
    runs += [run("before", 2, None), run("before", 3, 90), run("after", 3, 99)]
    (found,) = rows(runs)
    assert found.before == (100.0, 90.0)
    assert found.after == (110.0, 120.0, 99.0)
    assert found.paired == pytest.approx((1.1, 1.1))
    assert found.ratio == pytest.approx(110 / 95)


def test_rows_keep_only_the_groups_asked_for() -> None:
    status = Reading("scale200.status_cli", "status", "status", "ms", 50.0)
    rss = Reading("scale200.rss", "rss", "rss", "MiB", 23.0)
    runs = [
        Run(tree, "scale200", 1, 1.0, {r.key: r for r in (status, rss)})
        for tree in ("before", "after")
    ]
    assert [row.reading.key for row in rows(runs, {"rss"})] == ["scale200.rss"]
    assert len(rows(runs)) == 2


def test_rounds_alternate_abba() -> None:
    trees = (
        Tree("before", "a", ROOT, "a"),
        Tree("after", "b", ROOT, "b"),
    )
    roles = [tree.role for step in range(4) for tree in order(step, trees)]
    assert roles == ["before", "after", "after", "before"] * 2


def test_an_option_one_tree_lacks_is_left_out_for_both() -> None:
    suite = Suite(
        "spawn",
        "bench.spawn",
        (Option("--json", needed=True), Option("--iterations", "5"), Option("--warmup", "1")),
        read_logs,
    )
    old = flags_in_help("usage: x [-h] [--json] [--iterations N]\n  --json  print JSON")
    new = old | {"--warmup"}
    argv, notes = argv_for(suite, {"before": old, "after": new})
    assert argv == ["--json", "--iterations", "5"]
    assert notes == ["spawn: before's bench.spawn has no --warmup; left out for both"]
    argv, notes = argv_for(suite, {"before": frozenset({"--iterations"}), "after": new})
    assert argv is None
    assert notes == ["spawn: before's bench.spawn has no --json; skipped"]


def test_read_logs_takes_corral_the_floor_and_the_losses() -> None:
    samples = {
        "logs64.time": {"corral": [0.1], "corral-ts": [0.2], "floor-cat": [0.09], "pm2": [1.0]},
        "logs64.lost": {"corral": [0.0], "corral-ts": [0.0], "floor-cat": [0.0]},
        "logs1.time": {"corral": [None], "floor-cat": [0.5]},
    }
    found = {r.key: r for r in read_logs({"samples": samples})}
    assert sorted(found) == [
        "logs1.time.floor-cat",
        "logs64.lost.corral",
        "logs64.lost.corral-ts",
        "logs64.time.corral",
        "logs64.time.corral-ts",
        "logs64.time.floor-cat",
    ]
    assert found["logs64.time.floor-cat"].floor
    assert found["logs64.lost.corral"].count


def test_read_daemon_takes_the_scale_figures_per_size() -> None:
    def figure(group: str, name: str, median: float | None, tail: float | None) -> object:
        label = "" if tail is None else "p99"
        return {"group": group, "name": name, "unit": "ms", "median": median, "tail": tail,
                "tail_label": label}  # fmt: skip

    figures = [
        figure("scale 200 x numprocs", "daemon RSS, all running", 23.0, None),
        figure("scale 200 x numprocs", "API /v1/status round trip, sleep:0", 4.0, 9.0),
        figure("scale 200 x programs", "daemon RSS, all running", 23.0, None),
        figure("scale 1000 x numprocs", "`corral status` CLI wall time", 120.0, 130.0),
        figure("scale 1000 x numprocs", "daemon CPU, idle 1 s", 0.0, None),
        figure("restart", "gap between starts, corral daemon", None, None),
    ]
    found = {r.key: r for r in read_daemon({"figures": figures})}
    assert sorted(found) == ["scale1000.status_cli", "scale200.api_one", "scale200.rss"]
    assert (found["scale200.api_one"].tail, found["scale200.api_one"].tail_label) == (9.0, "p99")
    assert found["scale200.rss"].group == "rss"
    assert found["scale1000.status_cli"].label == "1000 instances: `corral status` CLI"


def test_a_real_comparison_of_head_with_this_tree(tmp_path: Path) -> None:
    """Both trees' own bench.spawn and bench.daemon (restart), one round, figures read."""
    argv = [sys.executable, "-m", "bench.compare", "--before", "HEAD", "--after", str(ROOT)]
    argv += ["--rounds", "1", "--figures", "spawn,restart"]
    argv += ["--spawn-iterations", "5", "--restart-rounds", "1", "--out", str(tmp_path)]
    had_venv = (ROOT / ".venv").exists() or (ROOT / ".venv").is_symlink()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [*argv, "--json"], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["notes"] == ["an odd number of rounds: one tree ran first once more per suite"]
    keys = {r["key"]: r for r in report["rows"]}
    for key in ("spawn.corral", "spawn.posix_spawn", "spawn.corral.ratio", "restart.gap"):
        assert len(keys[key]["before"]) == 1, key
        assert len(keys[key]["after"]) == 1, key
        assert keys[key]["verdict"] in {"same", "unsure"}, key  # one round: never decisive
    checkout = report["head"]["before"].split("git worktree ")[1].split(",")[0]
    assert not Path(checkout).exists()
    listed = subprocess.run(
        ["git", "worktree", "list"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert checkout not in listed.stdout
    assert ((ROOT / ".venv").exists() or (ROOT / ".venv").is_symlink()) == had_venv
    assert sorted(p.name for p in tmp_path.glob("round1-*.json")) == [
        "round1-restart-after.json",
        "round1-restart-before.json",
        "round1-spawn-after.json",
        "round1-spawn-before.json",
    ]
