"""Test helpers for code that runs programs with corral: a fake program and injected faults.

`FakeProgram` is a real process that behaves as told (exit code, delay, output,
ignored signals, a slow exit, children, a daemonizing grandchild). `spawn_fails`
makes the next spawns fail at a chosen step with a chosen errno, as if the kernel
had refused them, so the code under test sees the SpawnError a real failure gives.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager

from corral._process import faults as _faults
from corral._process.fake import FakeProgram

__all__ = ["FakeProgram", "spawn_fails"]


@contextmanager
def spawn_fails(
    code: int = errno.EAGAIN,
    *,
    step: str = "spawn",
    times: int | None = 1,
    program: str | None = None,
) -> Iterator[None]:
    """Inside the block, spawns fail with errno `code` at `step`.

    step: "spawn" (the spawn itself: EAGAIN, ENOMEM, E2BIG, ENOENT, ...) or "pipe"
        (making the child's stdio pipes: EMFILE, ENFILE).
    times: how many spawns fail (None: every one in the block).
    program: only spawns of this program name (argv[0]'s base name); None: any.
    """
    fault = _faults.arm(step, code, times=times, program=program)
    try:
        yield
    finally:
        _faults.disarm(fault)
