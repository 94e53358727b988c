"""Waiting for a condition with a generous deadline, never for a fixed time.

`wait_until` re-checks a predicate with a short, growing back-off until it holds or
the deadline passes; on failure it says what it waited for and the last value seen.
Prefer an event (a line from a child, a readable pidfd) where one exists.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

DEADLINE = 30.0
"""Seconds a test waits for anything that should happen at once; only a hang takes long."""

_FIRST_DELAY = 0.001
_MAX_DELAY = 0.05


def wait_until(predicate: Callable[[], T], *, timeout: float = DEADLINE, what: str) -> T:
    """Return `predicate()`'s first truthy value; AssertionError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    delay = _FIRST_DELAY
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"waited {timeout:g} s for {what}; the last value seen was {value!r}"
            )
        time.sleep(delay)  # a back-off between checks, not a wait for the event itself
        delay = min(delay * 2, _MAX_DELAY)
