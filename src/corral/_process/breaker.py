"""CircuitBreaker: stop running a command that keeps failing, then probe it now and then.

The classic three states. Closed: commands run; each failure in a row is counted,
a success resets the count. After `failures` in a row it opens: for `reset_after`
seconds every run is refused at once with `CircuitOpen`, nothing started. Then it
is half-open: one run goes through as a probe while others are still refused; the
probe's success closes the breaker, its failure opens it for another `reset_after`.

It rides in a `RetryPolicy` (`breaker=`) and guards every try, so retries stop as
soon as it opens. One breaker is meant to be shared by every run of the commands it
guards (one per dependency, say), from threads or tasks alike: its state is behind
a lock held only to read and update a few fields.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Literal

from corral._errors import CircuitOpen, InvalidSpec

BreakerState = Literal["closed", "open", "half-open"]


class CircuitBreaker:
    """Refuse runs after `failures` failures in a row, for `reset_after` seconds; see the module."""

    def __init__(
        self,
        *,
        failures: int = 5,
        reset_after: float = 30.0,
        name: str = "",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if isinstance(failures, bool) or not isinstance(failures, int) or failures < 1:
            raise InvalidSpec(f"breaker failures must be a whole number >= 1, got {failures!r}")
        if isinstance(reset_after, bool) or not isinstance(reset_after, int | float):
            raise InvalidSpec(f"breaker reset_after must be seconds, got {reset_after!r}")
        if reset_after < 0:
            raise InvalidSpec(f"breaker reset_after must be >= 0 seconds, got {reset_after}")
        self.failures = failures
        self.reset_after = float(reset_after)
        self.name = name or f"breaker-{id(self):x}"
        self._clock = clock
        self._lock = threading.Lock()
        self._streak = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> BreakerState:
        """closed, open (refusing) or half-open (a probe may run, or runs)."""
        with self._lock:
            return self._state(self._clock())

    @property
    def streak(self) -> int:
        """Failures in a row so far."""
        return self._streak

    def before(self) -> None:
        """Let one run start, or raise CircuitOpen; a let-through run must end in `after`."""
        with self._lock:
            now = self._clock()
            state = self._state(now)
            if state == "closed":
                return
            if state == "half-open" and not self._probing:
                self._probing = True
                return
            assert self._opened_at is not None
            retry_in = max(0.0, self._opened_at + self.reset_after - now)
            raise CircuitOpen(self.name, self._streak, retry_in)

    def after(self, error: BaseException | None) -> None:
        """Record how a run let through by `before` ended: None for success."""
        with self._lock:
            probe, self._probing = self._probing, False
            if error is None:
                self._streak, self._opened_at = 0, None
                return
            self._streak += 1
            if probe or self._streak >= self.failures:
                self._opened_at = self._clock()

    def abandon(self) -> None:
        """A let-through run ended without a verdict (cancelled): free the probe's place."""
        with self._lock:
            self._probing = False

    def _state(self, now: float) -> BreakerState:
        if self._opened_at is None:
            return "closed"
        return "open" if now < self._opened_at + self.reset_after else "half-open"

    def __repr__(self) -> str:
        return f"<CircuitBreaker {self.name} {self.state} streak={self._streak}>"
