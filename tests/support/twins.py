"""The sync and async APIs behind one interface, so each behaviour test runs on both.

`SyncTwin` calls `corral.run` / `corral.start` and hands back the real `Process`.
`AsyncTwin` calls `corral.run_async` / `corral.start_async` on one event loop (an
`asyncio.Runner`) and wraps the `AsyncProcess` so each method runs to completion on
that loop. Test bodies read the same for both; only the twin fixture differs.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from types import TracebackType
from typing import Any, Protocol, TypeVar

import corral
from corral import AsyncProcess, Command, Pipeline, PipelineResult, Result

T = TypeVar("T")


class Handle(Protocol):
    """What a test does with a started process; `corral.Process` has exactly this shape."""

    @property
    def pid(self) -> int: ...
    @property
    def running(self) -> bool: ...
    @property
    def exit_code(self) -> int | None: ...
    @property
    def signal_name(self) -> str | None: ...
    def readline(self, stream: str = ..., timeout: float | None = ...) -> str | None: ...
    def lines(self, stream: str = ...) -> Iterator[str]: ...
    def write(self, data: bytes | str) -> None: ...
    def close_stdin(self) -> None: ...
    def wait(self, timeout: float | None = ..., *, keep_running: bool = ...) -> Result: ...
    def stop(self, grace: float | None = ...) -> Result: ...
    def kill(self) -> Result: ...
    def send_signal(self, sig: str | int, *, whole_tree: bool = ...) -> None: ...
    def result(self) -> Result: ...
    def __enter__(self) -> Handle: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class Twin(Protocol):
    """One of the two APIs: `name` is "sync" or "async"."""

    name: str

    def run(self, argv: Any, **options: Any) -> Result: ...
    def run_command(self, command: Command) -> Result: ...
    def run_pipeline(self, pipeline: Pipeline) -> PipelineResult: ...
    def start(self, argv: Any, **options: Any) -> Handle: ...
    def start_command(self, command: Command) -> Handle: ...


class SyncTwin:
    """The blocking API, called directly."""

    name = "sync"

    def run(self, argv: Any, **options: Any) -> Result:
        result: Result = corral.run(argv, **options)
        return result

    def run_command(self, command: Command) -> Result:
        return command.run()

    def run_pipeline(self, pipeline: Pipeline) -> PipelineResult:
        return pipeline.run()

    def start(self, argv: Any, **options: Any) -> Handle:
        return corral.start(argv, **options)

    def start_command(self, command: Command) -> Handle:
        return command.start()

    def __repr__(self) -> str:
        return "<SyncTwin>"


class AsyncTwin:
    """The asyncio API, each call run to completion on one loop."""

    name = "async"

    def __init__(self, runner: asyncio.Runner) -> None:
        self.runner = runner

    def run(self, argv: Any, **options: Any) -> Result:
        result: Result = self.runner.run(corral.run_async(argv, **options))
        return result

    def run_command(self, command: Command) -> Result:
        return self.runner.run(command.run_async())

    def run_pipeline(self, pipeline: Pipeline) -> PipelineResult:
        return self.runner.run(pipeline.run_async())

    def start(self, argv: Any, **options: Any) -> Handle:
        return AsyncDriven(self.runner, self.runner.run(corral.start_async(argv, **options)))

    def start_command(self, command: Command) -> Handle:
        return AsyncDriven(self.runner, self.runner.run(command.start_async()))

    def __repr__(self) -> str:
        return "<AsyncTwin>"


class AsyncDriven:
    """An AsyncProcess whose every method is awaited to completion on the twin's loop."""

    def __init__(self, runner: asyncio.Runner, proc: AsyncProcess) -> None:
        self.runner = runner
        self.proc = proc

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def running(self) -> bool:
        return self.proc.running

    @property
    def exit_code(self) -> int | None:
        return self.proc.exit_code

    @property
    def signal_name(self) -> str | None:
        return self.proc.signal_name

    def readline(self, stream: str = "stdout", timeout: float | None = None) -> str | None:
        return self.runner.run(self.proc.readline(stream, timeout))

    def lines(self, stream: str = "stdout") -> Iterator[str]:
        agen = self.proc.lines(stream)
        while True:
            try:
                yield self.runner.run(_next(agen))
            except StopAsyncIteration:
                return

    def write(self, data: bytes | str) -> None:
        self.runner.run(self.proc.write(data))

    def close_stdin(self) -> None:
        self.runner.run(self.proc.close_stdin())

    def wait(self, timeout: float | None = None, *, keep_running: bool = False) -> Result:
        return self.runner.run(self.proc.wait(timeout, keep_running=keep_running))

    def stop(self, grace: float | None = None) -> Result:
        return self.runner.run(self.proc.stop(grace))

    def kill(self) -> Result:
        return self.runner.run(self.proc.kill())

    def send_signal(self, sig: str | int, *, whole_tree: bool = False) -> None:
        self.proc.send_signal(sig, whole_tree=whole_tree)

    def result(self) -> Result:
        return self.proc.result()

    def __repr__(self) -> str:
        return repr(self.proc)

    def __enter__(self) -> AsyncDriven:
        self.runner.run(self.proc.__aenter__())
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.runner.run(self.proc.__aexit__(exc_type, exc, tb))


async def _next(agen: AsyncIterator[T]) -> T:
    return await anext(agen)
