"""Telling the daemon's own service manager (systemd, `Type=notify`) how it is doing.

When systemd starts corral with `Type=notify` it sets NOTIFY_SOCKET; the daemon sends
`READY=1` (with `MAINPID=`) once its API answers, `RELOADING=1` and `READY=1` around a
reload, and `STOPPING=1` when it shuts down, each with a `STATUS=` line that
`systemctl status` shows. The variable is removed from the daemon's environment at
once, so no program inherits its manager's socket (each `notify` program gets its own).
Without NOTIFY_SOCKET every call does nothing. A send that fails (the manager went
away) is reported once by the caller's warning, never raised: supervising goes on.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable

NOTIFY_VARIABLE = "NOTIFY_SOCKET"


class ServiceManager:
    """The NOTIFY_SOCKET the daemon was started with, taken out of its environment."""

    def __init__(self, on_error: Callable[[str], None] | None = None) -> None:
        raw = os.environ.pop(NOTIFY_VARIABLE, "")
        self.address = "\0" + raw[1:] if raw.startswith("@") else raw  # "@": abstract
        self._on_error = on_error
        self._failed = False

    @property
    def present(self) -> bool:
        """Whether a service manager asked to be told."""
        return bool(self.address)

    def ready(self, status: str) -> None:
        """The API answers: `READY=1`."""
        self._send(f"READY=1\nMAINPID={os.getpid()}\nSTATUS={status}")

    def reload_phase(self, phase: str) -> None:
        """ "reloading" (RELOADING=1, with the monotonic clock systemd 253 asks for) or
        "reloaded" (READY=1 again, whether the new config was taken or refused)."""
        if phase == "reloading":
            now = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
            self._send(f"RELOADING=1\nMONOTONIC_USEC={now}\nSTATUS=reloading the config")
        else:
            self._send("READY=1\nSTATUS=running")

    def stopping(self) -> None:
        """The daemon is stopping its programs: `STOPPING=1`."""
        self._send("STOPPING=1\nSTATUS=stopping every program")

    def _send(self, message: str) -> None:
        if not self.address:
            return
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as out:
                out.setblocking(False)  # on the loop: a full queue is an error, not a wait
                out.sendto(message.encode(), self.address)
        except OSError as exc:
            if self._on_error is not None and not self._failed:
                self._on_error(f"cannot notify the service manager at {self.address!r}: {exc}")
            self._failed = True
