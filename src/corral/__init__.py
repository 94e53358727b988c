"""corral: run commands from Python, keep programs alive, and watch them.

The library part: `run()` and `Command` for one-off commands (with pipelines,
streaming, timeouts that end the whole process tree, and retries), each with an
asyncio twin. Everything here is re-exported from private modules; anything with
an underscore in its import path may change without notice.
"""

from __future__ import annotations

from corral._errors import (
    BadWorkingDirectory,
    CorralError,
    ExecutableNotFound,
    ExitedNonZero,
    InvalidSpec,
    KilledBySignal,
    PermissionDenied,
    ProcessFailed,
    SpawnError,
    TimedOut,
    UnsupportedFeature,
)
from corral._process.async_handle import AsyncProcess
from corral._process.command import Command
from corral._process.handle import Process
from corral._process.pipeline import Pipeline
from corral._process.result import PipelineResult, Result
from corral._process.retry import Backoff, RetryPolicy
from corral._process.runner import run, run_async, start, start_async
from corral._process.spec import File, ProcessSpec

__version__ = "0.1.0"

__all__ = [
    "AsyncProcess",
    "Backoff",
    "BadWorkingDirectory",
    "Command",
    "CorralError",
    "ExecutableNotFound",
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
    "TimedOut",
    "UnsupportedFeature",
    "run",
    "run_async",
    "start",
    "start_async",
]
