"""corral: run commands from Python, keep programs alive, and watch them.

The library part: `run()` and `Command` for one-off commands (with pipelines,
streaming, timeouts that end the whole process tree, and retries), each with an
asyncio twin. Everything here is re-exported from private modules; anything with
an underscore in its import path may change without notice.

Names are imported on first use (PEP 562), so `corral` CLI commands, which live
in this package too, do not pay for asyncio and the process layer at start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from corral._lazy import lazy_exports
from corral._version import VERSION as _VERSION

__version__ = _VERSION

_EXPORTS: dict[str, str] = {
    "AsyncProcess": "corral._process.async_handle",
    "Backoff": "corral._process.retry",
    "BadWorkingDirectory": "corral._errors",
    "BatchResult": "corral._process.many",
    "CircuitBreaker": "corral._process.breaker",
    "CircuitOpen": "corral._errors",
    "Command": "corral._process.command",
    "CommandOutcome": "corral._process.many",
    "CorralError": "corral._errors",
    "ExecutableNotFound": "corral._errors",
    "ExitStatusUnknown": "corral._errors",
    "ExitedNonZero": "corral._errors",
    "File": "corral._process.spec",
    "InvalidSpec": "corral._errors",
    "KilledBySignal": "corral._errors",
    "PermissionDenied": "corral._errors",
    "Pipeline": "corral._process.pipeline",
    "PipelineResult": "corral._process.result",
    "Process": "corral._process.handle",
    "ProcessFailed": "corral._errors",
    "ProcessSpec": "corral._process.spec",
    "Result": "corral._process.result",
    "RetryPolicy": "corral._process.retry",
    "SpawnError": "corral._errors",
    "StdinClosed": "corral._errors",
    "StillRunning": "corral._errors",
    "TimedOut": "corral._errors",
    "UnsupportedFeature": "corral._errors",
    "run": "corral._process.runner",
    "run_async": "corral._process.runner",
    "run_many": "corral._process.many",
    "run_many_async": "corral._process.many",
    "start": "corral._process.runner",
    "start_async": "corral._process.runner",
}

__all__ = [
    "AsyncProcess",
    "Backoff",
    "BadWorkingDirectory",
    "BatchResult",
    "CircuitBreaker",
    "CircuitOpen",
    "Command",
    "CommandOutcome",
    "CorralError",
    "ExecutableNotFound",
    "ExitStatusUnknown",
    "ExitedNonZero",
    "File",
    "InvalidSpec",
    "KilledBySignal",
    "PermissionDenied",
    "Pipeline",
    "PipelineResult",
    "Process",
    "ProcessFailed",
    "ProcessSpec",
    "Result",
    "RetryPolicy",
    "SpawnError",
    "StdinClosed",
    "StillRunning",
    "TimedOut",
    "UnsupportedFeature",
    "run",
    "run_async",
    "run_many",
    "run_many_async",
    "start",
    "start_async",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals(), __all__)


if TYPE_CHECKING:
    from corral._errors import (
        BadWorkingDirectory,
        CircuitOpen,
        CorralError,
        ExecutableNotFound,
        ExitedNonZero,
        ExitStatusUnknown,
        InvalidSpec,
        KilledBySignal,
        PermissionDenied,
        ProcessFailed,
        SpawnError,
        StdinClosed,
        StillRunning,
        TimedOut,
        UnsupportedFeature,
    )
    from corral._process.async_handle import AsyncProcess
    from corral._process.breaker import CircuitBreaker
    from corral._process.command import Command
    from corral._process.handle import Process
    from corral._process.many import BatchResult, CommandOutcome, run_many, run_many_async
    from corral._process.pipeline import Pipeline
    from corral._process.result import PipelineResult, Result
    from corral._process.retry import Backoff, RetryPolicy
    from corral._process.runner import run, run_async, start, start_async
    from corral._process.spec import File, ProcessSpec
