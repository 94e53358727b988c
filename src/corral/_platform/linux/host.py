"""The host's totals from /proc: CPU time spent and idle, memory, load average.

proc(5): the first line of /proc/stat is `cpu  user nice system idle iowait irq softirq
steal ...` in clock ticks summed over every CPU; /proc/meminfo gives MemTotal and
MemAvailable in KiB. Two readings of `cpu_ticks` make a CPU %; one reading of the rest
is enough. Imports on any POSIX; a missing file reads as None.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = ["HostTotals", "read_host"]


@dataclass(frozen=True, slots=True)
class HostTotals:
    """One reading of the host's counters."""

    busy_ticks: int
    """Clock ticks all CPUs spent not idle (idle and iowait excluded) since boot."""
    total_ticks: int
    """Clock ticks of all CPUs since boot, idle included."""
    memory_total: int
    """Physical memory in bytes."""
    memory_available: int
    """Memory available to new programs without swapping, in bytes (MemAvailable)."""
    load: tuple[float, float, float]
    """The 1, 5 and 15 minute load averages."""


def read_host() -> HostTotals | None:
    """The host's counters now; None where /proc/stat or /proc/meminfo cannot be read."""
    try:
        with open("/proc/stat", "rb") as file:
            first = file.readline().split()
        with open("/proc/meminfo", "rb") as file:
            meminfo = file.read(4096)
        load = os.getloadavg()
    except OSError:
        return None
    ticks = [int(field) for field in first[1:9]]
    idle = ticks[3] + ticks[4]
    memory = _meminfo(meminfo)
    return HostTotals(
        busy_ticks=sum(ticks) - idle,
        total_ticks=sum(ticks),
        memory_total=memory.get(b"MemTotal:", 0),
        memory_available=memory.get(b"MemAvailable:", 0),
        load=(round(load[0], 2), round(load[1], 2), round(load[2], 2)),
    )


def _meminfo(text: bytes) -> dict[bytes, int]:
    found: dict[bytes, int] = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0] in (b"MemTotal:", b"MemAvailable:"):
            found[fields[0]] = int(fields[1]) * 1024
    return found
