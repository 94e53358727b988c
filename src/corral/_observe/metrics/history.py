"""History: the last N samples of many trees, on one shared timeline, in flat arrays.

Every tick records all trees at once, so the times are kept once and each tree
keeps three fixed-size columns (CPU % as float32, RSS in KiB and process count as
uint32): 12 bytes a sample, about 1.4 MB for 1,000 trees x 120 samples, allocated
when a tree is first recorded. A tree missing from a tick (not running) has no
point there.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from corral._observe.metrics.sampler import Sample


@dataclass(frozen=True, slots=True)
class Point:
    """One tree at one recorded tick."""

    time: float
    """Wall-clock time of the tick (seconds since the epoch)."""
    cpu_percent: float | None
    rss_bytes: int
    processes: int


class _Columns:
    __slots__ = ("cpu", "processes", "rss_kib")

    def __init__(self, capacity: int) -> None:
        self.cpu = array("f", [math.nan]) * capacity
        self.rss_kib = array("I", [0]) * capacity
        self.processes = array("I", [0]) * capacity
        """0 marks a tick at which the tree had no sample."""


class History:
    """A ring of the last `capacity` ticks for every tree recorded."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self.capacity = capacity
        self._times = array("d", [0.0]) * capacity
        self._next = 0
        """Slot the next tick goes to."""
        self._count = 0
        self._columns: dict[str, _Columns] = {}

    def __len__(self) -> int:
        """Ticks recorded and still kept."""
        return self._count

    def record(self, when: float, samples: Mapping[str, Sample]) -> None:
        """Keep one tick: every tree in `samples`; the others get no point at this tick."""
        slot = self._next
        self._times[slot] = when
        for kept in self._columns.values():
            kept.processes[slot] = 0
        for key, sample in samples.items():
            columns = self._columns.get(key)
            if columns is None:
                columns = self._columns[key] = _Columns(self.capacity)
            columns.cpu[slot] = math.nan if sample.cpu_percent is None else sample.cpu_percent
            columns.rss_kib[slot] = min(sample.rss_bytes // 1024, 0xFFFFFFFF)
            columns.processes[slot] = min(max(sample.processes, 1), 0xFFFFFFFF)
        self._next = (slot + 1) % self.capacity
        self._count = min(self._count + 1, self.capacity)

    def points(self, key: str) -> list[Point]:
        """The tree's points, oldest first; [] for a key never recorded."""
        columns = self._columns.get(key)
        if columns is None:
            return []
        first = (self._next - self._count) % self.capacity
        found = []
        for offset in range(self._count):
            slot = (first + offset) % self.capacity
            if columns.processes[slot]:
                cpu = columns.cpu[slot]
                found.append(
                    Point(
                        time=self._times[slot],
                        cpu_percent=None if math.isnan(cpu) else round(cpu, 1),
                        rss_bytes=columns.rss_kib[slot] * 1024,
                        processes=columns.processes[slot],
                    )
                )
        return found

    def keep_only(self, keys: Collection[str]) -> None:
        """Forget every tree not in `keys` (programs removed by a reload)."""
        self._columns = {k: v for k, v in self._columns.items() if k in keys}
