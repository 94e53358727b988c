"""supervisord's fault codes, and the exception a method raises to answer with one."""

from __future__ import annotations

import enum

__all__ = ["Fault", "Faults"]


class Faults(enum.IntEnum):
    """The codes supervisord's XML-RPC interface answers with (its `xmlrpc.Faults`)."""

    UNKNOWN_METHOD = 1
    INCORRECT_PARAMETERS = 2
    BAD_ARGUMENTS = 3
    SIGNATURE_UNSUPPORTED = 4
    SHUTDOWN_STATE = 6
    BAD_NAME = 10
    BAD_SIGNAL = 11
    NO_FILE = 20
    NOT_EXECUTABLE = 21
    FAILED = 30
    ABNORMAL_TERMINATION = 40
    SPAWN_ERROR = 50
    ALREADY_STARTED = 60
    NOT_RUNNING = 70
    SUCCESS = 80
    ALREADY_ADDED = 90
    STILL_RUNNING = 91
    CANT_REREAD = 92
    PARSE_ERROR = -32700
    """Not one of supervisord's: the XML-RPC convention for a body that does not parse."""


class Fault(Exception):
    """Raised by a method: the call is answered with this fault."""

    def __init__(self, code: Faults, detail: str = "") -> None:
        super().__init__(code, detail)
        self.code = code
        self.detail = detail

    @property
    def text(self) -> str:
        """The faultString as supervisord writes it: the code's name, ": detail" if any."""
        return f"{self.code.name}: {self.detail}" if self.detail else self.code.name
