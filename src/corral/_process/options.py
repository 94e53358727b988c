"""RunOptions: how corral waits for and judges a process, apart from how it is started."""

from __future__ import annotations

from dataclasses import dataclass

from corral._errors import InvalidSpec
from corral._process.retry import RetryPolicy


@dataclass(frozen=True, slots=True, kw_only=True)
class RunOptions:
    """Timeout, checking, grace and retries for one command or pipeline."""

    timeout: float | None = None
    """Seconds from start until the tree is stopped and TimedOut raised; None waits forever."""
    check: bool = True
    """Raise ExitedNonZero / KilledBySignal on failure; `False` returns the Result instead."""
    grace: float = 2.0
    """Seconds between the stop signal and SIGKILL when corral ends the tree."""
    ok_codes: frozenset[int] = frozenset({0})
    """Exit codes that count as success."""
    input: bytes | None = None
    """Bytes written to stdin (then closed); implies stdin='pipe'."""
    retry: RetryPolicy | None = None
    """Try again on failure, with backoff; None tries once."""

    def __post_init__(self) -> None:
        if self.timeout is not None and self.timeout <= 0:
            raise InvalidSpec(f"timeout must be > 0 seconds, got {self.timeout}")
        if self.grace < 0:
            raise InvalidSpec(f"grace must be >= 0 seconds, got {self.grace}")
        if type(self.ok_codes) is not frozenset:
            object.__setattr__(self, "ok_codes", frozenset(self.ok_codes))
