"""What the pool's scheduling did: queue waits and deadline misses, by priority and tenant.

Written by the pool's loop thread (`record_start`, `record_miss`), read from any
thread (`snapshot`), so a small lock guards it. Each group keeps its last
`KEPT` waits, enough for a p99 of recent traffic without growing.
"""

from __future__ import annotations

import collections
import threading
from dataclasses import dataclass

KEPT = 4096
"""Waits kept per group for the percentiles."""


@dataclass(frozen=True, slots=True)
class GroupStats:
    """One group's figures: tasks started, queue wait percentiles (seconds), misses."""

    started: int
    wait_p50: float | None
    wait_p99: float | None
    misses: int


@dataclass(frozen=True, slots=True)
class PoolStats:
    """`Pool.stats()`: the figures overall, per priority level and per tenant."""

    queued: int
    """Tasks waiting now."""
    workers: int
    """Workers started and not ending (spares included)."""
    overall: GroupStats
    by_priority: dict[int, GroupStats]
    by_tenant: dict[str, GroupStats]
    """Tasks without a tenant are under ""."""


class _Group:
    __slots__ = ("misses", "started", "waits")

    def __init__(self) -> None:
        self.started = 0
        self.misses = 0
        self.waits: collections.deque[float] = collections.deque(maxlen=KEPT)

    def frozen(self) -> GroupStats:
        ordered = sorted(self.waits)
        return GroupStats(
            started=self.started,
            wait_p50=_percentile(ordered, 0.50),
            wait_p99=_percentile(ordered, 0.99),
            misses=self.misses,
        )


class Recorder:
    """The pool's running figures."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._overall = _Group()
        self._priority: dict[int, _Group] = collections.defaultdict(_Group)
        self._tenant: dict[str, _Group] = collections.defaultdict(_Group)

    def record_start(self, priority: int, tenant: str | None, wait: float) -> None:
        """A task left the queue for a worker after `wait` seconds."""
        with self._lock:
            for group in self._groups(priority, tenant):
                group.started += 1
                group.waits.append(wait)

    def record_miss(self, priority: int, tenant: str | None) -> None:
        """A task's deadline passed before it started, or before it finished."""
        with self._lock:
            for group in self._groups(priority, tenant):
                group.misses += 1

    def snapshot(self, queued: int, workers: int) -> PoolStats:
        with self._lock:
            return PoolStats(
                queued=queued,
                workers=workers,
                overall=self._overall.frozen(),
                by_priority={p: g.frozen() for p, g in sorted(self._priority.items())},
                by_tenant={t: g.frozen() for t, g in sorted(self._tenant.items())},
            )

    def _groups(self, priority: int, tenant: str | None) -> tuple[_Group, _Group, _Group]:
        return self._overall, self._priority[priority], self._tenant[tenant or ""]


def _percentile(ordered: list[float], share: float) -> float | None:
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]
