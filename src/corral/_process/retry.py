"""PURE: exponential backoff with jitter, and the policy that decides whether to retry.

The daemon's restart policy uses the same Backoff. Randomness comes in as an
argument (`rand` in [0, 1)), so the functions are deterministic under test.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from corral._errors import ExitedNonZero, InvalidSpec, ProcessFailed

if TYPE_CHECKING:
    from corral._process.breaker import CircuitBreaker


@dataclass(frozen=True, slots=True, kw_only=True)
class Backoff:
    """Delays that grow by `factor` from `initial` up to `max`, each spread by ±`jitter`."""

    initial: float = 0.1
    """Delay before the first retry, in seconds."""
    factor: float = 2.0
    """Each further delay is the previous one times this."""
    max: float = 30.0
    """No delay (before jitter) exceeds this."""
    jitter: float = 0.1
    """Fraction of random spread: 0.1 gives each delay ±10 %."""

    def __post_init__(self) -> None:
        if self.initial < 0 or self.max < 0:
            raise InvalidSpec("backoff initial and max must be >= 0 seconds")
        if self.factor < 1:
            raise InvalidSpec(f"backoff factor must be >= 1, got {self.factor}")
        if not 0 <= self.jitter <= 1:
            raise InvalidSpec(f"backoff jitter must be within 0..1, got {self.jitter}")

    def delay(self, failures: int, rand: float) -> float:
        """Seconds to wait after the `failures`-th consecutive failure (1-based)."""
        exponent = max(failures - 1, 0)
        base = self.initial * self.factor**exponent if self.initial else 0.0
        base = min(base, self.max)
        return max(0.0, base * (1.0 + self.jitter * (2.0 * rand - 1.0)))

    def bounds(self, failures: int) -> tuple[float, float]:
        """The least and greatest delay `delay(failures, rand)` can return."""
        return self.delay(failures, 0.0), self.delay(failures, 1.0)


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How often to try a command, how long to wait between tries, and which failures retry.

    By default every `ProcessFailed` (non-zero exit, signal, timeout) retries and a
    `SpawnError` does not: a missing executable will not appear by waiting.
    """

    attempts: int = 3
    """Total tries, the first included."""
    backoff: Backoff = field(default_factory=Backoff)
    """Delays between tries."""
    exit_codes: frozenset[int] | None = None
    """Retry an ExitedNonZero only for these codes; None retries any non-zero exit."""
    retry_on: tuple[type[BaseException], ...] = (ProcessFailed,)
    """Exception types that may retry."""
    breaker: CircuitBreaker | None = None
    """A circuit breaker guarding every try (shared with other commands as you like):
    while it is open, a try raises CircuitOpen at once and the retries stop."""

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise InvalidSpec(f"retry attempts must be >= 1, got {self.attempts}")
        if self.breaker is not None:
            from corral._process.breaker import CircuitBreaker

            if not isinstance(self.breaker, CircuitBreaker):
                raise InvalidSpec(f"breaker must be a CircuitBreaker, got {self.breaker!r:.60}")
        if self.exit_codes is not None:
            object.__setattr__(self, "exit_codes", frozenset(self.exit_codes))

    def should_retry(self, attempt: int, error: BaseException) -> bool:
        """Whether try number `attempt` (1-based), which raised `error`, gets another."""
        if attempt >= self.attempts or not isinstance(error, self.retry_on):
            return False
        if isinstance(error, ExitedNonZero) and self.exit_codes is not None:
            return error.exit_code in self.exit_codes
        return True

    def delay(self, attempt: int, rand: float) -> float:
        """Seconds to wait after try number `attempt` failed."""
        return self.backoff.delay(attempt, rand)
