"""Injected spawn failures, for tests of code that uses corral (`corral.testing`).

A fault makes the next matching spawn fail at a chosen step with a chosen errno,
as if the kernel had refused it: "pipe" (making the child's stdio pipes: EMFILE,
ENFILE) or "spawn" (the spawn itself: EAGAIN, ENOMEM, E2BIG, ENOENT ...). The
error then takes corral's normal path, so the caller sees exactly the SpawnError
a real failure gives. The spawn path looks at `ARMED` only (one list truth test)
unless a fault is armed.
"""

from __future__ import annotations

import errno as _errno
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from corral._errors import InvalidSpec

Step = Literal["pipe", "spawn"]
STEPS: tuple[Step, ...] = ("pipe", "spawn")


@dataclass(slots=True)
class Fault:
    """One armed fault: `times` more spawns (None: every one) of `program` (None: any) fail."""

    step: Step
    errno: int
    times: int | None
    program: str | None

    def matches(self, step: str, argv: Sequence[str]) -> bool:
        if step != self.step or self.times == 0:
            return False
        return self.program is None or os.path.basename(argv[0]) == self.program


ARMED: list[Fault] = []
"""The faults in force, oldest first; empty in normal use."""
_lock = threading.Lock()


def arm(step: str, code: int, *, times: int | None, program: str | None) -> Fault:
    """Add a fault (checked here, so a typo is an InvalidSpec, not a fault that never fires)."""
    if step not in STEPS:
        raise InvalidSpec(f"fault step must be one of {', '.join(STEPS)}, got {step!r}")
    if code not in _errno.errorcode:
        raise InvalidSpec(f"fault errno must be an errno value such as errno.EMFILE, got {code!r}")
    if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 1):
        raise InvalidSpec(f"fault times must be a whole number >= 1 or None, got {times!r}")
    fault = Fault(step, code, times, program)
    with _lock:
        ARMED.append(fault)
    return fault


def disarm(fault: Fault) -> None:
    """Remove a fault (harmless if it is gone)."""
    with _lock:
        if fault in ARMED:
            ARMED.remove(fault)


def fire(step: Step, argv: Sequence[str]) -> None:
    """Raise the OSError of the first armed fault for this step and program, if any."""
    with _lock:
        for fault in ARMED:
            if fault.matches(step, argv):
                if fault.times is not None:
                    fault.times -= 1
                code = fault.errno
                break
        else:
            return
    raise OSError(code, f"{os.strerror(code)} (injected by corral.testing)")
