"""Exit: how a process ended, decoded once, for the library, the daemon and its table.

Pure (no effects): the lifecycle table (`_lifecycle`) records the daemon's exits in it,
and `_process.child.Child` builds it from a wait status. One definition, so `run()`,
`corral status` and the restart policy agree on what "exit 3", a signal, an OOM kill
and an unknown status are.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Exit:
    """How a process ended: a code, or a signal's name, or neither when it is unknown."""

    code: int | None
    """The exit code, or None when a signal ended it (or the status is unknown)."""
    signal: str | None
    """The name of the signal that ended it ("SIGKILL"), or None."""
    oom: bool
    """The kernel's OOM killer ended it (its cgroup counted an OOM kill)."""
    at: float
    """When it was seen (monotonic seconds; the daemon's loop clock for its instances)."""

    @property
    def known(self) -> bool:
        """False when the process is gone but its status was collected by someone else."""
        return self.code is not None or self.signal is not None

    def describe(self) -> str:
        """ "exit 3", "SIGKILL", "OOM-killed (SIGKILL)" or "exit status unknown"."""
        if self.oom:
            return f"OOM-killed ({self.signal})" if self.signal else "OOM-killed"
        if self.signal is not None:
            return self.signal
        return f"exit {self.code}" if self.code is not None else "exit status unknown"

    def is_expected(self, exit_codes: frozenset[int]) -> bool:
        """Whether it counts as success: no signal, no OOM, a code in `exit_codes` (so an
        unknown status never does)."""
        return self.signal is None and not self.oom and self.code in exit_codes
