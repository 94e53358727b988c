"""run_many() and run_many_async(): many commands at once, at most `limit` running.

What people use `xargs -P` and GNU parallel for. Each command runs as `run()`
would (its own timeout, check and retry); the batch keeps one outcome per command,
in the order given, whatever order they finish in. By default every command runs
whatever the others do (GNU parallel's default); with `fail_fast` the first
failure stops the batch: no further command starts and the running ones are
ended, whole trees (parallel's `--halt now,fail=1`).

Every command is built and checked before the first one starts, so a bad argument
in the tenth command is an `InvalidSpec` with nothing running. The sync form runs
the async one on an event loop of its own (on a private thread when the calling
thread already runs a loop), so there is one scheduler for both.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from corral._errors import CorralError, InvalidSpec
from corral._process.command import ArgvLike, Command, build
from corral._process.pipeline import Pipeline
from corral._process.result import PipelineResult, Result

Runnable = Command | Pipeline
State = Literal["ok", "failed", "cancelled", "skipped"]


@dataclass(frozen=True, slots=True)
class CommandOutcome:
    """How one command of a batch ended."""

    index: int
    """Its place in the list given to `run_many`."""
    command: Runnable
    """The command (a Pipeline if one was given)."""
    state: State
    """ok; failed (see `error`); cancelled (ended by fail_fast or by cancelling the
    batch while it ran); skipped (never started: fail_fast stopped the batch first)."""
    result: Result | PipelineResult | None = None
    """The result, when it succeeded."""
    error: CorralError | None = None
    """What `run()` would have raised, when it failed."""

    @property
    def ok(self) -> bool:
        """Whether the command succeeded."""
        return self.state == "ok"


@dataclass(frozen=True, slots=True)
class BatchResult:
    """Every command's outcome, in the order the commands were given."""

    outcomes: tuple[CommandOutcome, ...]

    @property
    def ok(self) -> bool:
        """Whether every command ran and succeeded."""
        return all(outcome.ok for outcome in self.outcomes)

    @property
    def failures(self) -> tuple[CommandOutcome, ...]:
        """The outcomes of the commands that failed, in order."""
        return tuple(outcome for outcome in self.outcomes if outcome.state == "failed")

    @property
    def results(self) -> tuple[Result | PipelineResult | None, ...]:
        """Each command's result (None where it did not succeed), in order."""
        return tuple(outcome.result for outcome in self.outcomes)

    def check(self) -> BatchResult:
        """Raise the first failure's error (in the order given); else return self."""
        for outcome in self.failures:
            assert outcome.error is not None
            raise outcome.error
        return self


OnDone = Callable[[CommandOutcome, int, int], object]
"""Called as each command ends: (its outcome, how many have ended, how many in all)."""


def run_many(
    commands: Iterable[ArgvLike | Runnable],
    *,
    limit: int | None = None,
    fail_fast: bool = False,
    on_done: OnDone | None = None,
) -> BatchResult:
    """Run every command, at most `limit` at once (default: the CPU count); see the module.

    A `str` or argv sequence is built as `run()` would build it (captured output,
    `check=True`). `on_done` runs on the batch's loop thread.
    """
    batch = _Batch(_runnables(commands), _width(limit), fail_fast=fail_fast, on_done=on_done)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(batch.run())
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="corral-many") as pool:
        return pool.submit(asyncio.run, batch.run()).result()


async def run_many_async(
    commands: Iterable[ArgvLike | Runnable],
    *,
    limit: int | None = None,
    fail_fast: bool = False,
    on_done: OnDone | None = None,
) -> BatchResult:
    """The async twin of `run_many`; cancelling the awaiting task ends every running tree."""
    batch = _Batch(_runnables(commands), _width(limit), fail_fast=fail_fast, on_done=on_done)
    return await batch.run()


def _runnables(commands: Iterable[ArgvLike | Runnable]) -> list[Runnable]:
    if isinstance(commands, (str, bytes)):
        raise InvalidSpec("run_many takes a list of commands, not one command string")
    return [item if isinstance(item, Pipeline) else build(item) for item in commands]


def _width(limit: int | None) -> int:
    if limit is None:
        return os.cpu_count() or 1
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidSpec(f"limit must be a whole number >= 1, got {limit!r:.50}")
    return limit


class _Batch:
    """One run of a batch: which commands run, which have ended, and what to do next."""

    def __init__(
        self, commands: list[Runnable], width: int, *, fail_fast: bool, on_done: OnDone | None
    ) -> None:
        self._commands = commands
        self._width = width
        self._fail_fast = fail_fast
        self._on_done = on_done
        self._outcomes: list[CommandOutcome | None] = [None] * len(commands)
        self._ended = 0

    async def run(self) -> BatchResult:
        running: dict[asyncio.Task[Result | PipelineResult], int] = {}
        waiting = iter(range(len(self._commands)))
        stopping = False
        try:
            while True:
                while not stopping and len(running) < self._width:
                    index = next(waiting, None)
                    if index is None:
                        break
                    running[asyncio.ensure_future(self._commands[index].run_async())] = index
                if not running:
                    break
                done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for task in sorted(done, key=running.__getitem__):
                    outcome = self._finished(running.pop(task), task)
                    stopping = stopping or (self._fail_fast and outcome.state == "failed")
                if stopping:
                    await self._end(running)
        finally:
            if running:  # an error of ours or the caller cancelled: no tree outlives the batch
                await _cancelled(running)
        for index in waiting:
            self._record(CommandOutcome(index, self._commands[index], "skipped"))
        return BatchResult(tuple(o for o in self._outcomes if o is not None))

    def _finished(self, index: int, task: asyncio.Task[Result | PipelineResult]) -> CommandOutcome:
        command = self._commands[index]
        if task.cancelled():
            outcome = CommandOutcome(index, command, "cancelled")
        elif isinstance(error := task.exception(), CorralError):
            outcome = CommandOutcome(index, command, "failed", error=error)
        elif error is not None:  # a bug, not a failed command: it propagates
            raise error
        else:
            outcome = CommandOutcome(index, command, "ok", result=task.result())
        self._record(outcome)
        return outcome

    async def _end(self, running: dict[asyncio.Task[Result | PipelineResult], int]) -> None:
        """fail_fast: end what still runs (each run_async ends its tree when cancelled)."""
        await _cancelled(running)
        for task, index in sorted(running.items(), key=lambda item: item[1]):
            self._finished(index, task)
        running.clear()

    def _record(self, outcome: CommandOutcome) -> None:
        self._outcomes[outcome.index] = outcome
        self._ended += 1
        if self._on_done is not None:
            self._on_done(outcome, self._ended, len(self._commands))


async def _cancelled(running: dict[asyncio.Task[Result | PipelineResult], int]) -> None:
    """Cancel every task and wait until each has ended its tree, even if cancelled meanwhile
    (the caller's cancellation is raised once they have)."""
    for task in running:
        task.cancel()
    pending, interrupted = set(running), False
    while pending:
        try:
            _, pending = await asyncio.wait(pending)
        except asyncio.CancelledError:
            interrupted = True  # the trees still end first
    if interrupted:
        raise asyncio.CancelledError
