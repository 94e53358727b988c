"""Who holds a lock: the record a holder writes, and whether that process still lives."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass

from corral._platform import read_stats

__all__ = ["Holder"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Holder:
    """The process holding (or that last held) a lock, as it recorded itself."""

    pid: int
    started: float | None
    """Its start time in seconds since boot: with the pid it names one process."""
    host: str
    owner: str
    """The label the holder gave (`FileLock(owner=...)`), "" if none."""
    since: float
    """Wall-clock time it took the lock (for display only)."""

    @classmethod
    def me(cls, owner: str = "") -> Holder:
        """This process, now."""
        pid = os.getpid()
        stat = read_stats((pid,)).get(pid)
        return cls(
            pid=pid,
            started=stat.started if stat else None,
            host=os.uname().nodename,
            owner=owner,
            since=time.time(),
        )

    def encode(self) -> bytes:
        """The record written into the lock file: one JSON line."""
        fields = {
            "pid": self.pid,
            "started": self.started,
            "host": self.host,
            "owner": self.owner,
            "since": self.since,
        }
        return json.dumps(fields).encode() + b"\n"

    @classmethod
    def decode(cls, data: bytes) -> Holder | None:
        """The record in `data`, or None for none (b"") or one that cannot be read."""
        try:
            fields = json.loads(data)
            return cls(
                pid=int(fields["pid"]),
                started=None if fields["started"] is None else float(fields["started"]),
                host=str(fields["host"]),
                owner=str(fields.get("owner", "")),
                since=float(fields["since"]),
            )
        except (ValueError, KeyError, TypeError):
            return None

    def alive(self) -> bool | None:
        """Whether this very process still runs; None when it is on another host."""
        if self.host != os.uname().nodename:
            return None
        stat = read_stats((self.pid,)).get(self.pid)
        if stat is None or not stat.live:
            return False
        return self.started is None or abs(stat.started - self.started) < 0.05

    def __str__(self) -> str:
        label = f"{self.owner} " if self.owner else ""
        return f"{label}(pid {self.pid} on {self.host})"
