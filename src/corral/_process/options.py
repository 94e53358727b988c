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
    """Bytes written to stdin (then closed); implies stdin='pipe'. A str is encoded as
    UTF-8 and any other bytes-like object copied; anything else is an InvalidSpec."""
    retry: RetryPolicy | None = None
    """Try again on failure, with backoff; None tries once."""
    kill_on_drop: bool = False
    """End the whole tree when a started handle is garbage-collected unclosed (tokio's
    `kill_on_drop`); by default the child runs on and is reaped once it exits."""

    def __post_init__(self) -> None:
        # Checked here, before any spawn: a bad value found after it would leave a child running.
        _number("timeout", self.timeout, optional=True)
        _number("grace", self.grace)
        if self.input is not None and type(self.input) is not bytes:
            object.__setattr__(self, "input", input_bytes(self.input))
        if type(self.kill_on_drop) is not bool:
            raise InvalidSpec(f"kill_on_drop must be True or False, got {self.kill_on_drop!r}")
        if self.retry is not None and not isinstance(self.retry, RetryPolicy):
            raise InvalidSpec(f"retry must be a RetryPolicy or None, got {self.retry!r}")
        if self.timeout is not None and self.timeout <= 0:
            raise InvalidSpec(f"timeout must be > 0 seconds, got {self.timeout}")
        if self.grace < 0:
            raise InvalidSpec(f"grace must be >= 0 seconds, got {self.grace}")
        if type(self.ok_codes) is not frozenset:
            object.__setattr__(self, "ok_codes", _codes(self.ok_codes))


def _number(name: str, value: object, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidSpec(f"{name} must be a number of seconds, got {value!r}")


def input_bytes(value: object) -> bytes:
    """input= as bytes: a str is encoded, a bytes-like object copied, anything else refused."""
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise InvalidSpec(f"input must be bytes or str, got {type(value).__name__}: {value!r:.60}")


def _codes(codes: object) -> frozenset[int]:
    try:
        made: frozenset[int] = frozenset(codes)  # type: ignore[call-overload]
    except TypeError:
        raise InvalidSpec(f"ok_codes must be a collection of ints, got {codes!r}") from None
    if not all(isinstance(c, int) and not isinstance(c, bool) for c in made):
        raise InvalidSpec(f"ok_codes must hold ints, got {sorted(map(repr, made))}")
    return made
