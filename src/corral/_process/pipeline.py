"""Pipeline: `Command | Command | ...`, run with every stage in one process group.

Stage i's stdout is a pipe straight into stage i+1's stdin (the parent never
copies it); the last stage's stdout and every stage's stderr are captured per
their specs. The verdict follows bash's pipefail: the rightmost failed stage
decides. A timeout, an error or a cancellation ends every stage's tree.
"""

from __future__ import annotations

import dataclasses
import errno
import os
from collections.abc import Sequence
from typing import Any

from corral._errors import InvalidSpec, SpawnError, format_command, shorten
from corral._process import async_handle as _async_handle
from corral._process import handle as _handle
from corral._process.async_handle import AsyncProcess
from corral._process.command import Command, retrying, retrying_async
from corral._process.core import ProcessCore
from corral._process.handle import Process
from corral._process.options import RunOptions
from corral._process.outcome import pipefail, verdict
from corral._process.result import PipelineResult
from corral._process.retry import RetryPolicy
from corral._process.spawn import Launched, launch
from corral._process.spec import ProcessSpec


class Pipeline:
    """Commands joined stdout-to-stdin; run options (timeout, check, ...) are the pipeline's.

    A stage's own `.unchecked()` and `.ok_codes()` count for that stage's verdict (duct's
    per-stage `unchecked`); a stage's timeout, grace or retry is refused (InvalidSpec).
    """

    __slots__ = ("commands", "options")

    commands: tuple[Command, ...]
    options: RunOptions

    def __init__(self, commands: Sequence[Command], options: RunOptions | None = None) -> None:
        if not commands:
            raise InvalidSpec("a pipeline needs at least one command")
        for index, command in enumerate(commands):
            _check_stage(index, command)
        object.__setattr__(self, "commands", tuple(commands))
        object.__setattr__(self, "options", options or RunOptions())

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Pipeline is immutable; builder methods return a new one")

    def __or__(self, other: Command | Pipeline) -> Pipeline:
        more = other.commands if isinstance(other, Pipeline) else (other,)
        return Pipeline(self.commands + more, self.options)

    def __repr__(self) -> str:
        joined = " | ".join(format_command(c.spec.argv) for c in self.commands)
        return f"<Pipeline {shorten(joined)!r}>"

    def _opt(self, **changes: Any) -> Pipeline:
        return Pipeline(self.commands, dataclasses.replace(self.options, **changes))

    def timeout(self, seconds: float | None) -> Pipeline:
        """End every stage and raise TimedOut if the pipeline runs longer than this."""
        return self._opt(timeout=seconds)

    def grace(self, seconds: float) -> Pipeline:
        """Seconds between the stop signal and SIGKILL."""
        return self._opt(grace=seconds)

    def unchecked(self) -> Pipeline:
        """Return a failed PipelineResult instead of raising."""
        return self._opt(check=False)

    def ok_codes(self, *codes: int) -> Pipeline:
        """Exit codes that count as success for every stage."""
        return self._opt(ok_codes=frozenset(codes))

    def retry(self, policy: RetryPolicy | None = None, **fields: Any) -> Pipeline:
        """Retry the whole pipeline on failure."""
        return self._opt(retry=policy or RetryPolicy(**fields))

    def input(self, data: bytes | str) -> Pipeline:
        """Write `data` to the first stage's stdin, then close it."""
        first = self.commands[0].input(data)
        raw = first.options.input
        return Pipeline((first, *self.commands[1:]), dataclasses.replace(self.options, input=raw))

    def run(self) -> PipelineResult:
        """Run every stage to completion; raises per pipefail and `check`, and on timeout."""
        return retrying(self.options.retry, self._run_once)

    async def run_async(self) -> PipelineResult:
        """The async twin of `run()`; cancelling the awaiting task ends every stage."""
        return await retrying_async(self.options.retry, self._run_once_async)

    # -- internals ------------------------------------------------------------

    def _launch(self) -> list[tuple[Launched, ProcessSpec, RunOptions]]:
        """Start every stage; each comes with its spec and its share of the options."""
        launched = _launch_all(self.commands)
        first = dataclasses.replace(
            self.options, retry=None, input=self.options.input or self.commands[0].options.input
        )
        rest = dataclasses.replace(first, input=None)
        return [
            (stage, cmd.spec, first if index == 0 else rest)
            for index, (cmd, stage) in enumerate(zip(self.commands, launched, strict=True))
        ]

    def _stage_ok_codes(self) -> list[frozenset[int] | None]:
        """Each stage's accepted codes: its own if it set them, else the pipeline's; None
        for an unchecked stage."""
        return [
            None
            if not cmd.options.check
            else self.options.ok_codes
            if cmd.options.ok_codes == _DEFAULT.ok_codes
            else cmd.options.ok_codes
            for cmd in self.commands
        ]

    def _run_once(self) -> PipelineResult:
        procs = [Process(*stage) for stage in self._launch()]
        _handle.run_together(procs, self.options.timeout, self.options.grace)
        return self._verdict(procs)

    async def _run_once_async(self) -> PipelineResult:
        procs = [AsyncProcess(*stage) for stage in self._launch()]
        await _async_handle.run_together(procs, self.options.timeout, self.options.grace)
        return self._verdict(procs)

    def _verdict(self, procs: Sequence[ProcessCore]) -> PipelineResult:
        stages = tuple(proc.result() for proc in procs)
        failed = pipefail(stages, self._stage_ok_codes())
        result = PipelineResult(stages=stages, failed_stage=failed)
        error = verdict(
            result,
            failed=failed is not None,
            timed_out=result.timed_out,
            timeout=self.options.timeout,
            check=self.options.check,
        )
        if error is not None:
            raise error
        return result


_DEFAULT = RunOptions()
_REFUSED = {
    "timeout": "set it on the pipeline: (a | b).timeout(5)",
    "grace": "set it on the pipeline: (a | b).grace(1)",
    "retry": "retry the whole pipeline: (a | b).retry(...)",
    "kill_on_drop": "a pipeline has no handle to drop",
}
"""Stage options a pipeline cannot honour per stage, and what to do instead."""


def _check_stage(index: int, command: Command) -> None:
    """Refuse a stage option the pipeline would otherwise ignore (a stage's own `unchecked`
    and `ok_codes` are honoured: see `Pipeline._stage_ok_codes`)."""
    options = command.options
    for name, instead in _REFUSED.items():
        if getattr(options, name) != getattr(_DEFAULT, name):
            raise _stage_error(index, command, f".{name}()", instead)
    if index > 0 and options.input is not None:
        raise _stage_error(index, command, ".input()", "its stdin is the previous stage's stdout")


def _stage_error(index: int, command: Command, option: str, instead: str) -> InvalidSpec:
    stage = f"stage {index} (`{format_command(command.spec.argv)}`)"
    return InvalidSpec(f"{option} on {stage} of a pipeline is not applied per stage; {instead}")


def _launch_all(commands: Sequence[Command]) -> list[Launched]:
    """Start every stage, wiring stdout to the next stdin; on failure end what started."""
    launched: list[Launched] = []
    carry: int | None = None  # read end of the previous stage's stdout pipe
    try:
        for index, cmd in enumerate(commands):
            spec, write_end = cmd.spec, None
            if index < len(commands) - 1:
                carry_next, write_end = os.pipe()
                spec = dataclasses.replace(spec, stdout=write_end)
            else:
                carry_next = None
            pgroup = launched[0].pgid if launched else 0
            try:
                launched.append(_launch_stage(spec, pgroup, carry))
            finally:
                for fd in (carry, write_end):
                    if fd is not None:
                        os.close(fd)
                carry = carry_next  # even on failure: the handler below closes it
    except BaseException:
        if carry is not None:
            os.close(carry)
        for stage in launched:
            _discard(stage, commands[0])
        raise
    return launched


def _launch_stage(spec: ProcessSpec, pgroup: int, stdin: int | None) -> Launched:
    """Start one stage in the pipeline's group, or in a group of its own once that is gone.

    setpgid(2) fails with EPERM when no process is left in the group: every
    earlier stage has exited and been reaped (the waiter-thread notifier reaps at once).
    """
    try:
        return launch(spec, pgroup=pgroup, stdin=stdin)
    except SpawnError as exc:
        if pgroup == 0 or exc.errno != errno.EPERM:
            raise
    return launch(spec, pgroup=0, stdin=stdin)


def _discard(stage: Launched, command: Command) -> None:
    """End and reap a stage that started before a later stage failed to."""
    _handle.discard(Process(stage, command.spec, RunOptions()))
