"""Process groups and signals to them; a vanished target is not an error."""

from __future__ import annotations

import os


def send_to_group(pgid: int, sig: int) -> bool:
    """Signal every process of group `pgid`; False when the group is already empty."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    return True


def send_to_pid(pid: int, sig: int) -> bool:
    """Signal one process; False when it is already gone (or not ours to signal)."""
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True
