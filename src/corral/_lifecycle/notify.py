"""PURE: what a program says through sd_notify, read from one datagram's bytes.

systemd's protocol (sd_notify(3)): a datagram holds newline-separated `KEY=VALUE`
assignments. The ones corral acts on become lifecycle inputs (`READY=1`,
`RELOADING=1`, `STOPPING=1`, `WATCHDOG=1`, `EXTEND_TIMEOUT_USEC=`); `STATUS=` and
`MAINPID=` are values the runtime shows; `BARRIER=1` needs nothing but the closing
of the fd that came with it, which the receiver does for every fd. Unknown keys are
skipped, as systemd skips them. A datagram that is not UTF-8, or has a line without
`=`, is malformed and ignored as a whole.
"""

from __future__ import annotations

from dataclasses import dataclass

from corral._lifecycle.messages import (
    Input,
    NotifiedReady,
    NotifiedReloading,
    NotifiedStopping,
    TimeoutExtended,
    WatchdogPing,
)

__all__ = ["MAX_DATAGRAM", "Notification", "parse_notification"]

MAX_DATAGRAM = 4096
"""Bytes a notification may have (systemd's limit, PIPE_BUF); a larger one is malformed."""

_FLAGS: dict[str, Input] = {
    "READY": NotifiedReady(),
    "RELOADING": NotifiedReloading(),
    "STOPPING": NotifiedStopping(),
    "WATCHDOG": WatchdogPing(),
}
"""Keys whose value "1" is one input."""


@dataclass(frozen=True, slots=True)
class Notification:
    """One datagram's assignments: the inputs in the order sent, and the values to show."""

    inputs: tuple[Input, ...] = ()
    """Lifecycle inputs, in the order of their lines."""
    status: str | None = None
    """The last `STATUS=` text, if any."""
    main_pid: int | None = None
    """The last valid `MAINPID=`, if any."""
    skipped: tuple[str, ...] = ()
    """Keys corral does not act on (or values it could not read), skipped."""


def parse_notification(data: bytes) -> Notification | str:
    """The notification in `data`, or why it is malformed (then nothing of it is used)."""
    if len(data) > MAX_DATAGRAM:
        return f"larger than {MAX_DATAGRAM} bytes"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "not UTF-8"
    lines = [line for line in text.split("\n") if line]
    if not lines:
        return "empty"
    inputs: list[Input] = []
    status: str | None = None
    main_pid: int | None = None
    skipped: list[str] = []
    for line in lines:
        key, equals, value = line.partition("=")
        if not equals:
            return f"a line without '=': {line[:40]!r}"
        if key in _FLAGS and value == "1":
            inputs.append(_FLAGS[key])
        elif key == "STATUS":
            status = value
        elif key == "MAINPID" and value.isdigit() and int(value) > 0:
            main_pid = int(value)
        elif key == "EXTEND_TIMEOUT_USEC" and value.isdigit():
            inputs.append(TimeoutExtended(int(value) / 1e6))
        else:
            skipped.append(key)
    return Notification(tuple(inputs), status, main_pid, tuple(skipped))
