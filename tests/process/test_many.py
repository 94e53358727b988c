"""run_many / run_many_async: many commands, at most `limit` at once, one outcome each.

The behaviours are those of `xargs -P N` and GNU parallel (its default keeps going
after a failure; `--halt now,fail=1` is fail_fast): outcomes in input order, a
bound on concurrency, the first failure stopping the batch when asked, every tree
ended when the batch is cancelled.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from corral import (
    BatchResult,
    Command,
    CommandOutcome,
    ExecutableNotFound,
    ExitedNonZero,
    InvalidSpec,
    Result,
    run_many,
    run_many_async,
)
from corral.testing import FakeProgram
from tests.support.pids import DeathWatch, read_stat, watch

# Waits in a child are bounded loops on a condition (a file), never a guess: 3,000 x 10 ms.
_UNTIL = "i=0; while {cond} && [ $i -lt 3000 ]; do sleep 0.01; i=$((i+1)); done"


def _sh(script: str, *args: str) -> Command:
    return Command("sh", "-c", script, "sh", *args)


def test_outcomes_come_in_the_order_given_with_each_commands_result() -> None:
    batch = run_many([["sh", "-c", f"echo {i}; exit {i % 3}"] for i in range(7)], limit=3)
    assert [o.index for o in batch.outcomes] == list(range(7))
    assert [o.state for o in batch.outcomes] == ["ok", "failed", "failed"] * 2 + ["ok"]
    assert batch.results[3] is not None
    assert batch.results[3].stdout_text == "3\n"
    failed = batch.outcomes[2].error
    assert isinstance(failed, ExitedNonZero)
    assert failed.exit_code == 2
    assert isinstance(failed.result, Result)
    assert failed.result.stdout_text == "2\n"
    assert not batch.ok
    assert [o.index for o in batch.failures] == [1, 2, 4, 5]


def test_at_most_limit_commands_run_at_once_and_limit_of_them_do(tmp_path: Path) -> None:
    # each records how many run as it starts; the first to see three marks the peak,
    # and all wait for that mark, so the batch passes only if three ran side by side
    running, peak = tmp_path / "running", tmp_path / "peak"
    running.mkdir()
    script = (
        'touch "$1/$$"; n=$(ls "$1" | wc -l); echo $n; [ "$n" -ge 3 ] && touch "$2"; '
        + _UNTIL.format(cond='[ ! -e "$2" ]')
        + '; rm "$1/$$"; [ -e "$2" ]'
    )
    batch = run_many([_sh(script, str(running), str(peak)) for _ in range(6)], limit=3).check()
    counts = [int(r.stdout_text) for r in batch.results if isinstance(r, Result)]
    assert len(counts) == 6
    assert max(counts) == 3


def test_keep_going_runs_everything_and_check_raises_the_first_failure() -> None:
    batch = run_many([["true"], ["sh", "-c", "exit 4"], ["no-such-program-here"], ["true"]])
    assert [o.state for o in batch.outcomes] == ["ok", "failed", "failed", "ok"]
    assert isinstance(batch.outcomes[2].error, ExecutableNotFound)
    with pytest.raises(ExitedNonZero) as raised:
        batch.check()
    assert raised.value.exit_code == 4


def test_fail_fast_ends_what_runs_and_starts_nothing_more(tmp_path: Path) -> None:
    pid_file = tmp_path / "sleeper.pid"
    fails_once_sleeper_runs = _sh(_UNTIL.format(cond='[ ! -s "$1" ]') + "; exit 3", str(pid_file))
    sleeper = _sh('echo $$ > "$1.tmp"; mv "$1.tmp" "$1"; exec sleep 300', str(pid_file))
    marker = tmp_path / "never"
    never = _sh('touch "$1"', str(marker))
    batch = run_many([fails_once_sleeper_runs, sleeper, never, never], limit=2, fail_fast=True)
    assert [o.state for o in batch.outcomes] == ["failed", "cancelled", "skipped", "skipped"]
    assert not marker.exists()
    assert read_stat(int(pid_file.read_text())) is None  # ended and reaped before it returned


def test_on_done_is_told_each_outcome_with_the_count_so_far() -> None:
    seen: list[tuple[int, str, int, int]] = []

    def progress(outcome: CommandOutcome, ended: int, total: int) -> None:
        seen.append((outcome.index, outcome.state, ended, total))

    run_many([["true"], ["false"], ["true"]], limit=1, on_done=progress)
    assert seen == [(0, "ok", 1, 3), (1, "failed", 2, 3), (2, "ok", 3, 3)]


def test_a_bad_command_anywhere_is_refused_before_anything_starts(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    with pytest.raises(InvalidSpec, match="NUL"):
        run_many([_sh('touch "$1"', str(marker)), ["echo", "a\0b"]])
    assert not marker.exists()
    with pytest.raises(InvalidSpec, match="limit"):
        run_many([["true"]], limit=0)
    with pytest.raises(InvalidSpec, match="list of commands"):
        run_many("echo hi")


def test_pipelines_run_as_members_of_a_batch() -> None:
    batch = run_many([Command("echo", "a b") | Command("wc", "-w"), ["echo", "x"]])
    assert [r.stdout_text.strip() for r in batch.results if r is not None] == ["2", "x"]


def test_the_async_twin_gives_the_same_outcomes() -> None:
    batch: BatchResult = asyncio.run(run_many_async([["true"], ["sh", "-c", "exit 5"]], limit=2))
    assert [o.state for o in batch.outcomes] == ["ok", "failed"]


def test_cancelling_the_batch_ends_every_running_tree(tmp_path: Path) -> None:
    pids = [tmp_path / f"{i}.pid" for i in range(3)]
    sleepers = [FakeProgram(delay=None, children=1, report=str(p)).command() for p in pids]

    async def scenario() -> tuple[list[int], DeathWatch]:
        task = asyncio.ensure_future(run_many_async(sleepers, limit=3))
        for path in pids:  # every sleeper has started, and its child
            while not path.exists():
                await asyncio.sleep(0.01)
        reports = [json.loads(path.read_text()) for path in pids]
        children = watch(child for report in reports for child in report["children"])
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return [report["pid"] for report in reports], children

    roots, children = asyncio.run(asyncio.wait_for(scenario(), 30))
    assert [read_stat(root) for root in roots] == [None] * 3  # reaped before the caller knew
    with children:
        children.assert_dead()


def test_the_sync_form_works_inside_a_running_loop() -> None:
    async def inside() -> BatchResult:
        return run_many([["echo", "in a loop"]])

    batch = asyncio.run(inside())
    assert batch.results[0] is not None
    assert batch.results[0].stdout_text == "in a loop\n"
