"""Test doubles for the observe tests: a clock the test moves by hand, and the stamp it implies."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime

T0 = calendar.timegm((2026, 11, 24, 23, 11, 5)) + 0.125
"""2026-11-24T23:11:05.125Z: a fraction that is exact in binary, so milliseconds are too."""


class FakeClock:
    """A wall clock that stands still until the test moves it."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def stamp(t: float) -> bytes:
    """The line prefix LogWriter should write for a chunk that arrived at `t`, computed apart."""
    moment = datetime.fromtimestamp(t, tz=UTC)
    millis = moment.microsecond // 1000
    return moment.strftime("%Y-%m-%dT%H:%M:%S").encode() + b".%03dZ " % millis
