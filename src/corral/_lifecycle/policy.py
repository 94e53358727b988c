"""PURE: when a process that exited is started again, how fast, and when to give up.

The daemon's instances and the pool's workers restart by the same policy, so it lives
here, below both; a configured program (`_supervisor/model/program.py`) holds one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from corral._errors import InvalidSpec
from corral._lifecycle.health import ON_UNHEALTHY, HealthCheck, OnUnhealthy
from corral._process.retry import Backoff

__all__ = [
    "NOTIFY_MODES",
    "RESTART_MODES",
    "NotifyMode",
    "RestartMode",
    "RestartPolicy",
    "StartLimit",
]

RestartMode: TypeAlias = Literal["always", "on-failure", "never"]
RESTART_MODES: tuple[RestartMode, ...] = ("always", "on-failure", "never")
NotifyMode: TypeAlias = Literal["sd_notify", "fd"]
NOTIFY_MODES: tuple[NotifyMode, ...] = ("sd_notify", "fd")


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
    notify: NotifyMode | None = None
    """How the program says it is ready. "sd_notify": systemd's protocol, `READY=1` sent
    to the datagram socket named by `NOTIFY_SOCKET` (a program written for systemd's
    `Type=notify` runs as is); "fd": s6's, a newline written to the fd named by
    `NOTIFY_FD` (fd 3, or 3 + the number of its `sockets`, which come first). It is
    RUNNING once it said so, not after `start_seconds`. Unset: RUNNING after `start_seconds`."""
    ready_timeout: float = 90.0
    """Seconds a `notify` program has to say it is ready, or its start failed: it is sent
    the stop signal and restarted with backoff and the start limit like any failed start.
    0 waits for ever. Only with `notify` (systemd's `TimeoutStartSec=`, same default)."""
    watchdog: float = 0.0
    """Seconds a RUNNING `notify = "sd_notify"` program may go without sending
    `WATCHDOG=1` before it is stopped and restarted as failed (systemd's `WatchdogSec=`);
    it finds the period in `WATCHDOG_USEC`. 0 is off."""

    health: HealthCheck | None = None
    """A liveness probe run against each live process (see docs/daemon.md, Health checks).
    Without `notify`, a STARTING instance is RUNNING at the probe's first pass (not after
    `start_seconds`)."""
    on_unhealthy: OnUnhealthy = "restart"
    """What an instance whose health check turns unhealthy gets: "restart" ends it as
    failed (stop signal, SIGKILL after `stop_timeout`; restarted with backoff and the start
    limit like any failure), "stop" stops it, "none" only reports it."""

    def __post_init__(self) -> None:
        if self.on_unhealthy not in ON_UNHEALTHY:
            raise InvalidSpec(f"on_unhealthy must be one of {', '.join(ON_UNHEALTHY)}")
        if self.mode not in RESTART_MODES:
            raise InvalidSpec(f"restart must be one of {', '.join(RESTART_MODES)}")
        if self.start_seconds < 0:
            raise InvalidSpec(f"start_seconds must be >= 0, got {self.start_seconds}")
        object.__setattr__(self, "exit_codes", frozenset(self.exit_codes))
        self._check_readiness()

    def _check_readiness(self) -> None:
        """The readiness keys: known protocol, bounds, and the keys that need another."""
        if self.notify is not None and self.notify not in NOTIFY_MODES:
            raise InvalidSpec(f"notify must be one of {', '.join(NOTIFY_MODES)}")
        for name in ("ready_timeout", "watchdog"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise InvalidSpec(f"{name} must be a number of seconds >= 0, got {value!r}")
        if self.watchdog and self.notify != "sd_notify":
            raise InvalidSpec('watchdog needs notify = "sd_notify": pings come by that protocol')
