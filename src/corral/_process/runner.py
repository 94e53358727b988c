"""run(), run_async(), start() and start_async(): one-call forms of Command.

They take the same keyword arguments (see `command.build`) and differ only in
whether they wait and how: `run` blocks, `run_async` awaits, `start` and
`start_async` return a handle to use as a context manager.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, overload

from corral._errors import InvalidSpec
from corral._process.async_handle import AsyncProcess
from corral._process.command import ArgvLike, Command, build
from corral._process.handle import Process
from corral._process.pipeline import Pipeline
from corral._process.result import PipelineResult, Result
from corral._process.retry import RetryPolicy
from corral._process.spec import Stdio

if TYPE_CHECKING:
    from corral._sandbox.spec import Sandbox


@overload
def run(argv: Pipeline) -> PipelineResult: ...
@overload
def run(
    argv: ArgvLike | Command,
    *,
    cwd: str | os.PathLike[str] | None = ...,
    env: Mapping[str, str] | None = ...,
    extra_env: Mapping[str, str] | None = ...,
    stdin: Stdio | None = ...,
    stdout: Stdio = ...,
    stderr: Stdio = ...,
    input: bytes | str | None = ...,
    timeout: float | None = ...,
    check: bool = ...,
    grace: float = ...,
    ok_codes: Sequence[int] = ...,
    retry: RetryPolicy | None = ...,
    new_session: bool = ...,
    stop_signal: str | int = ...,
    pass_fds: Sequence[int] = ...,
    sandbox: Sandbox | None = ...,
) -> Result: ...
def run(argv: ArgvLike | Command | Pipeline, **options: object) -> Result | PipelineResult:
    """Run a command to completion and return its Result.

    stdout and stderr are captured by default and stdin is /dev/null (a pipe when
    `input` is given). A non-zero exit raises ExitedNonZero unless `check=False`;
    a `timeout` ends the whole process tree and raises TimedOut. `env` replaces
    the environment, but the child always gets `CORRAL_TREE` too (even with
    `env={}`): the marker that finds double-forked descendants; it cannot be turned off.
    """
    if isinstance(argv, Pipeline):
        _no_options(argv, options)
        return argv.run()
    if isinstance(argv, Command):
        _no_options(argv, options)
    return build(argv, **options).run()  # type: ignore[arg-type]


@overload
async def run_async(argv: Pipeline) -> PipelineResult: ...
@overload
async def run_async(
    argv: ArgvLike | Command,
    *,
    cwd: str | os.PathLike[str] | None = ...,
    env: Mapping[str, str] | None = ...,
    extra_env: Mapping[str, str] | None = ...,
    stdin: Stdio | None = ...,
    stdout: Stdio = ...,
    stderr: Stdio = ...,
    input: bytes | str | None = ...,
    timeout: float | None = ...,
    check: bool = ...,
    grace: float = ...,
    ok_codes: Sequence[int] = ...,
    retry: RetryPolicy | None = ...,
    new_session: bool = ...,
    stop_signal: str | int = ...,
    pass_fds: Sequence[int] = ...,
    sandbox: Sandbox | None = ...,
) -> Result: ...
async def run_async(
    argv: ArgvLike | Command | Pipeline, **options: object
) -> Result | PipelineResult:
    """The async twin of `run()`; cancelling the awaiting task ends the whole tree."""
    if isinstance(argv, Pipeline):
        _no_options(argv, options)
        return await argv.run_async()
    if isinstance(argv, Command):
        _no_options(argv, options)
    return await build(argv, **options).run_async()  # type: ignore[arg-type]


def start(
    argv: ArgvLike | Command,
    *,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    extra_env: Mapping[str, str] | None = None,
    stdin: Stdio | None = None,
    stdout: Stdio = "capture",
    stderr: Stdio = "capture",
    input: bytes | str | None = None,
    timeout: float | None = None,
    check: bool = True,
    grace: float = 2.0,
    ok_codes: Sequence[int] = (0,),
    new_session: bool = False,
    stop_signal: str | int = "TERM",
    pass_fds: Sequence[int] = (),
    sandbox: Sandbox | None = None,
    kill_on_drop: bool = False,
) -> Process:
    """Start a command and return its Process; `with start(...) as p:` ends the tree after.

    A handle garbage-collected unclosed has its pipes closed and its child reaped once
    it exits; `kill_on_drop=True` ends the whole tree instead.
    """
    return build(
        argv, cwd=cwd, env=env, extra_env=extra_env, stdin=stdin, stdout=stdout,
        stderr=stderr, input=input, timeout=timeout, check=check, grace=grace,
        ok_codes=ok_codes, new_session=new_session, stop_signal=stop_signal,
        pass_fds=pass_fds, sandbox=sandbox, kill_on_drop=kill_on_drop,
    ).start()  # fmt: skip


async def start_async(
    argv: ArgvLike | Command,
    *,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    extra_env: Mapping[str, str] | None = None,
    stdin: Stdio | None = None,
    stdout: Stdio = "capture",
    stderr: Stdio = "capture",
    input: bytes | str | None = None,
    timeout: float | None = None,
    check: bool = True,
    grace: float = 2.0,
    ok_codes: Sequence[int] = (0,),
    new_session: bool = False,
    stop_signal: str | int = "TERM",
    pass_fds: Sequence[int] = (),
    sandbox: Sandbox | None = None,
    kill_on_drop: bool = False,
) -> AsyncProcess:
    """The async twin of `start()`; `async with await start_async(...) as p:`."""
    return await build(
        argv, cwd=cwd, env=env, extra_env=extra_env, stdin=stdin, stdout=stdout,
        stderr=stderr, input=input, timeout=timeout, check=check, grace=grace,
        ok_codes=ok_codes, new_session=new_session, stop_signal=stop_signal,
        pass_fds=pass_fds, sandbox=sandbox, kill_on_drop=kill_on_drop,
    ).start_async()  # fmt: skip


def _no_options(command: Command | Pipeline, options: dict[str, object]) -> None:
    """A Command or Pipeline carries its own options; extra keywords would be ignored."""
    if options:
        names = ", ".join(sorted(options))
        raise InvalidSpec(
            f"{names}: pass options through the {type(command).__name__}'s builder methods "
            "(e.g. .timeout(5)), not to run() with a ready-made command"
        )
