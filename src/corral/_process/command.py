"""Command: an immutable command expression, and run()/start() with their async twins.

A Command pairs a ProcessSpec (how to start) with RunOptions (how to wait and
judge). Builder methods return a new Command; nothing runs until `run()`,
`run_async()`, `start()` or `start_async()`. `a | b` builds a Pipeline.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import random
import shlex
import signal
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from corral._errors import CorralError, InvalidSpec, ProcessFailed, format_command
from corral._process.async_handle import AsyncProcess
from corral._process.handle import Process
from corral._process.options import RunOptions, input_bytes
from corral._process.result import Result
from corral._process.retry import RetryPolicy
from corral._process.spawn import launch
from corral._process.spec import ProcessSpec, Stdio, env_pairs, paths

if TYPE_CHECKING:
    from corral._process.breaker import CircuitBreaker
    from corral._process.pipeline import Pipeline
    from corral._sandbox.spec import Sandbox

T = TypeVar("T")
_ZERO = frozenset({0})
_DEFAULT_OPTIONS = RunOptions()
ArgvLike = Sequence["str | os.PathLike[str]"] | str


class Command:
    """An immutable command: program, arguments, how to start it and how to wait for it.

    >>> Command("git", "rev-parse", "HEAD").cwd("/src").timeout(5).run().stdout_text
    """

    __slots__ = ("options", "spec")

    spec: ProcessSpec
    options: RunOptions

    def __init__(self, program: str | os.PathLike[str], *args: str | os.PathLike[str]) -> None:
        spec = ProcessSpec(argv=paths("argv", (program, *args)))
        object.__setattr__(self, "spec", spec)
        object.__setattr__(self, "options", RunOptions())

    @classmethod
    def of(cls, spec: ProcessSpec, options: RunOptions | None = None) -> Command:
        """A Command from an existing spec and options."""
        made = cls.__new__(cls)
        object.__setattr__(made, "spec", spec)
        object.__setattr__(made, "options", options or RunOptions())
        return made

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Command is immutable; builder methods return a new one")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Command):
            return NotImplemented
        return (self.spec, self.options) == (other.spec, other.options)

    def __hash__(self) -> int:
        return hash((self.spec, self.options))

    def __repr__(self) -> str:
        return f"<Command {format_command(self.spec.argv)!r}>"

    def __or__(self, other: Command | Pipeline) -> Pipeline:
        from corral._process.pipeline import Pipeline

        return Pipeline((self,)) | other

    # -- builders -------------------------------------------------------------

    def _with(self, **changes: Any) -> Command:
        return Command.of(dataclasses.replace(self.spec, **changes), self.options)

    def _opt(self, **changes: Any) -> Command:
        return Command.of(self.spec, dataclasses.replace(self.options, **changes))

    def args(self, *more: str | os.PathLike[str]) -> Command:
        """Append arguments."""
        return self._with(argv=self.spec.argv + paths("argv", more))

    def cwd(self, path: str | os.PathLike[str]) -> Command:
        """Run in this working directory."""
        return self._with(cwd=os.fspath(path))

    def env(self, **variables: str) -> Command:
        """Add (or replace) environment variables on top of the inherited environment."""
        return self._with(env_add=self.spec.env_add + env_pairs(variables))

    def full_env(self, environment: Mapping[str, str]) -> Command:
        """Use exactly this environment instead of inheriting ours (plus `CORRAL_TREE`,
        the tree marker, which is always set; see `ProcessSpec.env`)."""
        return self._with(env=env_pairs(environment))

    def stdin(self, how: Stdio) -> Command:
        """Where stdin comes from ("pipe" to write to it from Python)."""
        return self._with(stdin=how)

    def stdout(self, how: Stdio) -> Command:
        """Where stdout goes (captured by default)."""
        return self._with(stdout=how)

    def stderr(self, how: Stdio) -> Command:
        """Where stderr goes (captured by default; "merge" joins it to stdout)."""
        return self._with(stderr=how)

    def pass_fds(self, *fds: int) -> Command:
        """Let the child inherit these fds of ours under the same numbers."""
        return self._with(pass_fds=self.spec.pass_fds + fds)

    def map_fds(self, *pairs: tuple[int, int]) -> Command:
        """Give the child a copy of each (our fd, child fd) pair at the child's number
        (3 and above), whatever number it has here: how a `corral.ipc` channel end is
        handed to a child (`Command(...).map_fds(*end.child_fds())`)."""
        return self._with(map_fds=self.spec.map_fds + tuple(pairs))

    def new_session(self) -> Command:
        """Start the child in a new session (setsid) rather than only a new group."""
        return self._with(new_session=True)

    def stop_signal(self, sig: str | int) -> Command:
        """The signal that asks the tree to stop before SIGKILL (default TERM)."""
        return self._with(stop_signal=sig)

    def sandbox(self, sandbox: Sandbox | None) -> Command:
        """Limit and isolate the process (rlimits, user, cgroup, seccomp, namespaces)."""
        return self._with(sandbox=sandbox)

    def input(self, data: bytes | str) -> Command:
        """Write `data` to stdin, then close it."""
        options = dataclasses.replace(self.options, input=input_bytes(data))
        return Command.of(dataclasses.replace(self.spec, stdin="capture"), options)

    def timeout(self, seconds: float | None) -> Command:
        """End the tree and raise TimedOut if it runs longer than this."""
        return self._opt(timeout=seconds)

    def grace(self, seconds: float) -> Command:
        """Seconds between the stop signal and SIGKILL."""
        return self._opt(grace=seconds)

    def unchecked(self) -> Command:
        """Return failed Results instead of raising ExitedNonZero / KilledBySignal."""
        return self._opt(check=False)

    def ok_codes(self, *codes: int) -> Command:
        """Exit codes that count as success (default 0)."""
        return self._opt(ok_codes=frozenset(codes))

    def kill_on_drop(self) -> Command:
        """End the whole tree if a started handle is garbage-collected without being closed."""
        return self._opt(kill_on_drop=True)

    def retry(self, policy: RetryPolicy | None = None, **fields: Any) -> Command:
        """Retry on failure with this policy (or one built from `fields`)."""
        return self._opt(retry=policy or RetryPolicy(**fields))

    # -- running ----------------------------------------------------------------

    def run(self) -> Result:
        """Run to completion and return the Result; raises per `check` and on timeout."""
        return retrying(self.options.retry, self._run_once)

    async def run_async(self) -> Result:
        """The async twin of `run()`; cancelling the awaiting task ends the tree."""
        return await retrying_async(self.options.retry, self._run_once_async)

    def start(self) -> Process:
        """Start it and return the handle; use `with` so the tree is ended on the way out."""
        return Process(launch(self.spec), self.spec, self.options)

    async def start_async(self) -> AsyncProcess:
        """The async twin of `start()`; use `async with`."""
        return AsyncProcess(launch(self.spec), self.spec, self.options)

    def _run_once(self) -> Result:
        proc = self.start()
        try:
            return proc.wait()
        except ProcessFailed:
            raise
        except BaseException:
            proc.kill()
            raise
        finally:
            proc._close()

    async def _run_once_async(self) -> Result:
        proc = await self.start_async()
        try:
            return await proc.wait()
        finally:
            proc._close()


def retrying(policy: RetryPolicy | None, attempt: Callable[[], T]) -> T:
    """Call `attempt` until it succeeds or `policy` says stop, sleeping the backoff between.

    The policy's breaker, if any, is asked before each try and told how it ended.
    """
    breaker = None if policy is None else policy.breaker
    tries = 1
    while True:
        try:
            with _UNGUARDED if breaker is None else _guarded(breaker):
                return attempt()
        except Exception as exc:
            if policy is None or not policy.should_retry(tries, exc):
                raise
            time.sleep(policy.delay(tries, random.random()))
            tries += 1


async def retrying_async(policy: RetryPolicy | None, attempt: Callable[[], Awaitable[T]]) -> T:
    """The async twin of `retrying`."""
    breaker = None if policy is None else policy.breaker
    tries = 1
    while True:
        try:
            with _UNGUARDED if breaker is None else _guarded(breaker):
                return await attempt()
        except Exception as exc:
            if policy is None or not policy.should_retry(tries, exc):
                raise
            await asyncio.sleep(policy.delay(tries, random.random()))
            tries += 1


_UNGUARDED = contextlib.nullcontext()
"""A try without a breaker: every run() takes this path, so no generator is made for it."""


@contextlib.contextmanager
def _guarded(breaker: CircuitBreaker) -> Iterator[None]:
    """One try under the breaker: refused while it is open, its ending recorded.

    A failed command counts against the breaker; a cancellation or a bug does not.
    """
    breaker.before()
    try:
        yield
    except CorralError as error:
        breaker.after(error)
        raise
    except BaseException:
        breaker.abandon()
        raise
    breaker.after(None)


def build(
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
    retry: RetryPolicy | None = None,
    new_session: bool = False,
    stop_signal: str | int = "TERM",
    pass_fds: Sequence[int] = (),
    sandbox: Sandbox | None = None,
    kill_on_drop: bool = False,
) -> Command:
    """The Command that run()/start() and their twins execute for these arguments."""
    if isinstance(argv, Command):
        return argv
    if isinstance(argv, str):
        argv = shlex.split(argv)
    elif not isinstance(argv, Sequence):
        raise InvalidSpec(f"argv must be a str or a sequence of strings, got {argv!r:.200}")
    spec = ProcessSpec(
        argv=paths("argv", argv),
        cwd=cwd,  # type: ignore[arg-type]  # made a str (or refused) in __post_init__
        env=None if env is None else env_pairs(env),
        env_add=env_pairs(extra_env) if extra_env else (),
        stdin=stdin if stdin is not None else ("capture" if input is not None else "devnull"),
        stdout=stdout,
        stderr=stderr,
        pass_fds=tuple(pass_fds),
        new_session=new_session,
        # the default as the Signals member it stands for: parsing "TERM" costs ~4 µs a run
        stop_signal=signal.SIGTERM if stop_signal == "TERM" else stop_signal,  # type: ignore[arg-type]
        sandbox=sandbox,
    )
    if input is not None and spec.stdin != "capture":
        raise InvalidSpec("input= needs stdin to be a pipe; leave stdin unset or use 'pipe'")
    defaults = timeout is None and check is True and grace == 2.0 and ok_codes == (0,)
    if defaults and input is None and retry is None and kill_on_drop is False:  # ~3 µs saved
        return Command.of(spec, _DEFAULT_OPTIONS)
    options = RunOptions(
        timeout=timeout,
        check=check,
        grace=grace,
        ok_codes=_ZERO if ok_codes == (0,) else ok_codes,  # type: ignore[arg-type]
        input=None if input is None else input_bytes(input),
        retry=retry,
        kill_on_drop=kill_on_drop,
    )
    return Command.of(spec, options)
