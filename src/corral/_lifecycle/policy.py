"""PURE: when a process that exited is started again, how fast, and when to give up.

The daemon's instances and the pool's workers restart by the same policy, so it lives
here, below both; a configured program (`_supervisor/model/program.py`) holds one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from corral._errors import InvalidSpec
from corral._process.retry import Backoff

__all__ = ["RESTART_MODES", "RestartMode", "RestartPolicy", "StartLimit"]

RestartMode: TypeAlias = Literal["always", "on-failure", "never"]
RESTART_MODES: tuple[RestartMode, ...] = ("always", "on-failure", "never")


@dataclass(frozen=True, slots=True, kw_only=True)
class StartLimit:
    """More than `burst` starts within `interval` seconds puts the instance in FATAL."""

    burst: int = 5
    """Starts allowed within the window."""
    interval: float = 60.0
    """Length of the window, in seconds."""

    def __post_init__(self) -> None:
        if self.burst < 1:
            raise InvalidSpec(f"start_limit.burst must be >= 1, got {self.burst}")
        if self.interval < 0:
            raise InvalidSpec(f"start_limit.interval must be >= 0, got {self.interval}")


@dataclass(frozen=True, slots=True, kw_only=True)
class RestartPolicy:
    """When an instance is restarted after it exits, and how fast."""

    mode: RestartMode = "on-failure"
    """always: restart after any exit; on-failure: only after an unexpected one; never."""
    exit_codes: frozenset[int] = frozenset({0})
    """Exit codes that count as success (an expected exit)."""
    start_seconds: float = 1.0
    """Up this long counts as started (RUNNING); dying sooner is a failed start."""
    backoff: Backoff = field(default_factory=Backoff)
    """Delay before each restart; grows with consecutive failed starts."""
    start_limit: StartLimit = field(default_factory=StartLimit)
    """Too many starts in a window -> FATAL until started by hand."""

    def __post_init__(self) -> None:
        if self.mode not in RESTART_MODES:
            raise InvalidSpec(f"restart must be one of {', '.join(RESTART_MODES)}")
        if self.start_seconds < 0:
            raise InvalidSpec(f"start_seconds must be >= 0, got {self.start_seconds}")
        object.__setattr__(self, "exit_codes", frozenset(self.exit_codes))
