"""Alert rules as data: what a rule watches, how long it must hold, what it does.

A condition is one short string, parsed once when the config is read:

    cpu > 90%            memory > 512M          memory_percent >= 80
    processes > 50       fds > 1000             restarts > 3 in 60s
    state == FATAL       health == unhealthy    exit == oom | signal | SIGKILL
    log ~ Traceback      stderr ~ ^ERROR        stdout ~ (?i)out of memory

Metrics and states *last* (a rule holds while they do, `hold` applies); exits and log
lines *occur* (a rule fires at an occurrence and clears `clear_after` seconds after
the last one). Everything raises ValueError with words fit for a config message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

METRICS = ("cpu", "memory", "memory_percent", "processes", "fds", "restarts")
"""Metric names a condition may compare."""
LASTING = ("state", "health")
"""Conditions on something that lasts: `state == X`, `health == X`."""
EXIT_REASONS = ("oom", "signal")
"""`exit == oom` (the OOM killer), `exit == signal` (any signal), or a signal name."""
LOG_STREAMS = ("log", "stdout", "stderr")
"""`log ~ RE` watches both streams, `stdout ~ RE` and `stderr ~ RE` one."""
ACTIONS = ("restart", "stop", "signal", "command", "webhook", "event")
"""What a rule may do when it fires: see `Rule.actions`."""

_OPS = (">=", "<=", ">", "<", "==")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
_RESTARTS = re.compile(r"^(\S+)\s+in\s+(\S+)$")


def parse_duration(text: str | float | int) -> float:
    """Seconds from "60s", "5m", "1h", "500ms", or a plain number of seconds."""
    if isinstance(text, bool):
        raise ValueError('a duration like "60s", "5m" or a number of seconds')
    if isinstance(text, int | float):
        if text < 0:
            raise ValueError("a duration >= 0")
        return float(text)
    found = _DURATION.match(text)
    if found is None:
        raise ValueError(f'a duration like "60s", "5m", "1h" or "500ms", got {text!r}')
    return float(found.group(1)) * _DURATION_UNITS[found.group(2)]


def parse_size(text: str) -> float:
    """Bytes from "512M", "1G", "64KiB" or a plain number."""
    found = _SIZE.match(text)
    if found is None:
        raise ValueError(f'a size like "512M" or "1G", got {text!r}')
    return float(found.group(1)) * _SIZE_UNITS[found.group(2).upper()]


@dataclass(frozen=True, slots=True)
class Condition:
    """What a rule watches, parsed from its condition string."""

    subject: str
    """A metric (METRICS), "state", "health", "exit", or a log stream (LOG_STREAMS)."""
    op: str = "=="
    """">", ">=", "<", "<=" for metrics; "==" for state, health, exit; "~" for logs."""
    threshold: float = 0.0
    """A metric's threshold: percent for cpu and memory_percent, bytes for memory."""
    value: str = ""
    """The state, health state or exit reason compared with; the regex of a log rule."""
    window: float = 0.0
    """For `restarts`: the window the restarts are counted in, in seconds."""
    text: str = ""
    """The condition as written, for messages and the payload."""

    @property
    def lasting(self) -> bool:
        """True for metrics, states and health (they hold for a while); False for exits
        and log lines (they occur)."""
        return self.subject in METRICS or self.subject in LASTING

    @property
    def metric(self) -> str:
        """The key the engine indexes a metric rule by ("restarts/60" per window)."""
        if self.subject == "restarts":
            return f"restarts/{self.window:g}"
        return self.subject


def parse_condition(text: str) -> Condition:
    """The `Condition` a condition string spells, or ValueError saying what is wrong."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError('a condition such as "memory > 512M" or "state == FATAL"')
    words = text.strip().split(None, 1)
    subject = words[0]
    rest = words[1] if len(words) > 1 else ""
    if subject in LOG_STREAMS:
        return _log_condition(subject, rest, text)
    op = next((op for op in _OPS if rest.startswith(op)), None)
    if op is None:
        raise ValueError(f"an operator after {subject!r}: one of > >= < <= ==, got {rest!r}")
    value = rest[len(op) :].strip()
    if subject in METRICS:
        return _metric_condition(subject, op, value, text)
    if subject in (*LASTING, "exit"):
        if op != "==" or not value:
            raise ValueError(f'"{subject} == VALUE", got {text!r}')
        if subject == "exit":
            value = _exit_reason(value)
        return Condition(subject, "==", value=value, text=text)
    known = ", ".join((*METRICS, *LASTING, "exit", *LOG_STREAMS))
    raise ValueError(f"a condition on one of {known}; unknown metric {subject!r}")


def _metric_condition(subject: str, op: str, value: str, text: str) -> Condition:
    if op == "==":
        raise ValueError(f"a comparison > >= < <= for {subject}, got ==")
    window = 0.0
    if subject == "restarts":
        found = _RESTARTS.match(value)
        if found is None:
            raise ValueError(f'"restarts > N in DURATION", got {text!r}')
        value, window = found.group(1), parse_duration(found.group(2))
        if window <= 0:
            raise ValueError("a restart window > 0 s")
    return Condition(subject, op, _threshold(subject, value), window=window, text=text)


def _threshold(subject: str, value: str) -> float:
    try:
        if subject == "memory":
            return parse_size(value)
        if subject in ("cpu", "memory_percent"):
            return float(value.removesuffix("%"))
        return float(value)
    except ValueError:
        what = "a size" if subject == "memory" else "a number"
        raise ValueError(f"{what} to compare {subject} with, got {value!r}") from None


def _exit_reason(value: str) -> str:
    lowered = value.lower()
    if lowered in EXIT_REASONS:
        return lowered
    name = value.upper()
    name = name if name.startswith("SIG") else f"SIG{name}"
    if not re.fullmatch(r"SIG[A-Z0-9]+", name):
        raise ValueError(f"exit == oom, signal or a signal name, got {value!r}")
    return name


def _log_condition(subject: str, rest: str, text: str) -> Condition:
    if not rest.startswith("~"):
        raise ValueError(f'"{subject} ~ REGEX", got {text!r}')
    pattern = rest[1:].strip()
    if not pattern:
        raise ValueError(f'a regular expression after "{subject} ~"')
    try:
        re.compile(pattern.encode())
    except re.error as exc:
        raise ValueError(f"a valid regular expression: {exc}") from None
    return Condition(subject, "~", value=pattern, text=text)


@dataclass(frozen=True, slots=True)
class Action:
    """One thing a rule does when it fires."""

    kind: str
    """One of ACTIONS."""
    argument: str | tuple[str, ...] = ""
    """The signal of "signal", the argv of "command", the URL of "webhook"."""


@dataclass(frozen=True, slots=True)
class Rule:
    """One `[alerts.NAME]` rule (or one a program's `restart_on` made)."""

    name: str
    """The alert's name: NAME of its table, or "PROGRAM.restart_on.KEY"."""
    program: str
    """The program whose instances it watches, or "*" for every program."""
    condition: Condition
    hold: float = 0.0
    """Seconds a lasting condition must hold, unbroken, before the rule fires (`for`)."""
    repeat: float = 3600.0
    """While it fires, notify again at most this often (0: never); occurrences and
    samples in between are counted, not sent."""
    clear_after: float = 60.0
    """An exit or log rule resolves this long after the last occurrence."""
    actions: tuple[Action, ...] = field(default=(Action("event"),))
    """What it does: restart, stop and signal act once when it fires; command, webhook
    and event also at each repeat and when it resolves."""
