"""An open descriptor that knows which file it opened, to notice the path was swapped.

A log file or directory is reopened when its path names another file now (rotated by
an outside tool, removed, replaced): both keep the descriptor and the (device, inode)
it was opened on, and compare a fresh stat of the path with it.
"""

from __future__ import annotations

import os


class HeldFd:
    """One descriptor (-1 when none) and the identity of the file it was opened on."""

    __slots__ = ("_device", "_inode", "fd")

    def __init__(self) -> None:
        self.fd = -1
        self._device = self._inode = 0  # two slots, not a pair: a daemon holds one per log

    def adopt(self, fd: int) -> os.stat_result:
        """Hold `fd` instead of the current one, which is closed; return `fd`'s status."""
        old, self.fd = self.fd, fd
        if old >= 0:
            os.close(old)
        status = os.fstat(fd)
        self._device, self._inode = status.st_dev, status.st_ino
        return status

    def holds(self, status: os.stat_result) -> bool:
        """Whether `status` (of the path, say) is the file held."""
        return status.st_ino == self._inode and status.st_dev == self._device

    def close(self) -> None:
        """Close the descriptor; harmless twice."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
