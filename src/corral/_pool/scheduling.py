"""Which queued task runs next: pure, pluggable policies for the pool.

No I/O and no clock: the engine passes `now` (monotonic seconds) in. A policy holds
the queued tasks; the engine pushes each as it is submitted, pops one whenever a
worker is free, and reports how long each ran (`finished`), which MLFQ learns from.
Every policy is O(log n) or better per decision. Policies:

- `Fifo`: submission order.
- `Priority`: higher `priority` first, with aging: a task gains `aging` levels per
  second it waits, so a task of priority p waits at most (q - p) / aging seconds
  behind tasks of priority q submitted after it (aging=0: strict, starvation possible).
- `Mlfq`: a multilevel feedback queue over task keys (default: the function). A key
  whose task ran longer than its level's quantum drops a level, one that ran under
  half of it rises; level 0 is served first; every `boost` seconds every key is
  put back on level 0 (so no key starves longer than that). Tasks are not preempted.
- `FairShare`: weighted fair share across tenants (deficit round robin, one task
  costing one unit): while every tenant has tasks queued, each gets its weight's
  share of the starts. Tasks without a tenant share the unnamed tenant "", weight 1.
- `Edf`: earliest deadline first; tasks without a deadline after every task with
  one. A task popped after its deadline is a miss, and `miss` says what then: run
  it late, drop it (the engine fails its future with DeadlineMissed), or demote it
  behind the tasks without a deadline.
"""

from __future__ import annotations

import abc
import collections
import heapq
import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

from corral._errors import InvalidSpec

MissPolicy = Literal["run", "drop", "demote"]


class Schedulable(Protocol):
    """What a policy reads of a task (the pool's `Task` has these)."""

    priority: int
    deadline: float | None
    """Absolute, on the clock of `now`; None: none."""
    tenant: str | None
    key: str
    enqueued: float


@dataclass(frozen=True, slots=True)
class Pick:
    """A popped task and what the policy decided about it."""

    task: Schedulable
    missed: bool = False
    """It was popped after its deadline."""
    drop: bool = False
    """Fail it (DeadlineMissed) instead of running it."""
    demoted: tuple[Schedulable, ...] = ()
    """Tasks this pop found past their deadline and put behind the rest (Edf "demote"):
    misses, though they stay queued."""


class Scheduler(abc.ABC):
    """A queueing policy: subclass it for one of your own. Tasks have `priority`,
    `deadline` (monotonic seconds or None), `tenant`, `key` and `enqueued`; `now` is
    monotonic seconds. Called from the pool's loop thread only."""

    @abc.abstractmethod
    def check(self, *, priority: int, deadline: float | None, tenant: str | None) -> None:
        """InvalidSpec for a per-task option this policy cannot honour (at submit)."""

    @abc.abstractmethod
    def push(self, task: Schedulable, now: float) -> None:
        """Queue a task."""

    @abc.abstractmethod
    def pop(self, now: float) -> Pick | None:
        """The task to run next (None when none is queued)."""

    def finished(self, task: Schedulable, ran: float) -> None:  # noqa: B027 - optional hook
        """A task ran `ran` seconds (policies that learn use it)."""

    @abc.abstractmethod
    def drain(self) -> list[Schedulable]:
        """Every queued task, emptying the queue (shutdown, a broken pool)."""

    @abc.abstractmethod
    def __len__(self) -> int:
        """Tasks queued."""


def _refuse_options(
    name: str, *, priority: int, deadline: float | None, tenant: str | None
) -> None:
    """InvalidSpec for an option this policy would silently ignore."""
    if priority != 0:
        raise InvalidSpec(f"priority needs Pool(scheduler=Priority()); it is {name}")
    if deadline is not None:
        raise InvalidSpec(f"a deadline needs Pool(scheduler=Edf()); it is {name}")
    if tenant is not None:
        raise InvalidSpec(f"a tenant needs Pool(tenants={{...}}); it is {name}")


class Fifo(Scheduler):
    """Submission order."""

    def __init__(self) -> None:
        self._queue: collections.deque[Schedulable] = collections.deque()

    def check(self, *, priority: int, deadline: float | None, tenant: str | None) -> None:
        _refuse_options("Fifo()", priority=priority, deadline=deadline, tenant=tenant)

    def push(self, task: Schedulable, now: float) -> None:
        self._queue.append(task)

    def pop(self, now: float) -> Pick | None:
        return Pick(self._queue.popleft()) if self._queue else None

    def drain(self) -> list[Schedulable]:
        drained = list(self._queue)
        self._queue.clear()
        return drained

    def __len__(self) -> int:
        return len(self._queue)


class Priority(Scheduler):
    """Higher priority first; each second of waiting adds `aging` levels (FIFO among equals)."""

    def __init__(self, aging: float = 1.0) -> None:
        if not aging >= 0:
            raise InvalidSpec(f"aging must be 0 or more levels per second; got {aging!r}")
        self.aging = aging
        self._heap: list[tuple[float, int, Schedulable]] = []
        self._order = itertools.count()

    def check(self, *, priority: int, deadline: float | None, tenant: str | None) -> None:
        _refuse_options("Priority()", priority=0, deadline=deadline, tenant=tenant)

    def push(self, task: Schedulable, now: float) -> None:
        # Effective priority p + aging * (t - enqueued): comparing two tasks, t cancels,
        # so the order is fixed at push and a heap keeps it.
        rank = self.aging * task.enqueued - task.priority
        heapq.heappush(self._heap, (rank, next(self._order), task))

    def pop(self, now: float) -> Pick | None:
        return Pick(heapq.heappop(self._heap)[2]) if self._heap else None

    def drain(self) -> list[Schedulable]:
        drained = [entry[2] for entry in sorted(self._heap)]
        self._heap.clear()
        return drained

    def __len__(self) -> int:
        return len(self._heap)


class Mlfq(Scheduler):
    """A multilevel feedback queue over task keys; see the module."""

    def __init__(self, quanta: tuple[float, ...] = (0.01, 0.1, 1.0), *, boost: float = 5.0) -> None:
        if not quanta or any(not q > 0 for q in quanta) or list(quanta) != sorted(quanta):
            raise InvalidSpec(f"quanta must be rising seconds, more than 0; got {quanta!r}")
        if not boost > 0:
            raise InvalidSpec(f"boost must be more than 0 seconds; got {boost!r}")
        self.quanta = tuple(quanta)
        self.boost = boost
        self._levels: list[collections.deque[Schedulable]] = [collections.deque() for _ in quanta]
        self._level_of: dict[str, int] = {}
        self._boosted: float | None = None
        self._count = 0

    def check(self, *, priority: int, deadline: float | None, tenant: str | None) -> None:
        _refuse_options("Mlfq()", priority=priority, deadline=deadline, tenant=tenant)

    def level(self, key: str) -> int:
        """The level a key's next task is queued on (0 is served first)."""
        return self._level_of.get(key, 0)

    def push(self, task: Schedulable, now: float) -> None:
        self._maybe_boost(now)
        self._levels[self.level(task.key)].append(task)
        self._count += 1

    def pop(self, now: float) -> Pick | None:
        self._maybe_boost(now)
        for queue in self._levels:
            if queue:
                self._count -= 1
                return Pick(queue.popleft())
        return None

    def finished(self, task: Schedulable, ran: float) -> None:
        level = self.level(task.key)
        if ran > self.quanta[level] and level + 1 < len(self.quanta):
            self._level_of[task.key] = level + 1
        elif ran < self.quanta[level] / 2 and level > 0:
            self._level_of[task.key] = level - 1

    def _maybe_boost(self, now: float) -> None:
        if self._boosted is None:
            self._boosted = now
        if now - self._boosted < self.boost:
            return
        self._boosted = now
        self._level_of.clear()
        waiting = sorted(
            (task for queue in self._levels for task in queue), key=lambda t: t.enqueued
        )
        for queue in self._levels:
            queue.clear()
        self._levels[0].extend(waiting)

    def drain(self) -> list[Schedulable]:
        drained = [task for queue in self._levels for task in queue]
        for queue in self._levels:
            queue.clear()
        self._count = 0
        return drained

    def __len__(self) -> int:
        return self._count


class FairShare(Scheduler):
    """Weighted fair share across tenants: deficit round robin, each task one unit."""

    def __init__(self, tenants: Mapping[str, float]) -> None:
        if not tenants:
            raise InvalidSpec("tenants must name at least one tenant and its weight")
        for name, weight in tenants.items():
            if not isinstance(name, str) or isinstance(weight, bool) or not weight > 0:
                raise InvalidSpec(f"tenant {name!r} needs a weight more than 0; got {weight!r}")
        self.weights = {"": 1.0, **{name: float(w) for name, w in tenants.items()}}
        self._queues: dict[str, collections.deque[Schedulable]] = {}
        self._deficit: dict[str, float] = {}
        self._ring: collections.deque[str] = collections.deque()
        self._count = 0

    def check(self, *, priority: int, deadline: float | None, tenant: str | None) -> None:
        _refuse_options("FairShare()", priority=priority, deadline=deadline, tenant=None)
        if tenant is not None and tenant not in self.weights:
            known = ", ".join(sorted(name for name in self.weights if name))
            raise InvalidSpec(f"unknown tenant {tenant!r}; the pool's tenants are {known}")

    def push(self, task: Schedulable, now: float) -> None:
        name = task.tenant or ""
        queue = self._queues.get(name)
        if queue is None:
            queue = self._queues[name] = collections.deque()
        if not queue:
            self._ring.append(name)
            self._deficit[name] = 0.0
        queue.append(task)
        self._count += 1

    def pop(self, now: float) -> Pick | None:
        ring = self._ring
        while ring:
            name = ring[0]
            if self._deficit[name] < 1:
                self._deficit[name] += self.weights[name]
                if self._deficit[name] < 1:  # a weight under 1 saves up over rounds
                    ring.rotate(-1)
                    continue
            self._deficit[name] -= 1
            queue = self._queues[name]
            task = queue.popleft()
            self._count -= 1
            if not queue:
                ring.popleft()
                self._deficit[name] = 0.0
            elif self._deficit[name] < 1:
                ring.rotate(-1)
            return Pick(task)
        return None

    def drain(self) -> list[Schedulable]:
        drained = [task for name in self._ring for task in self._queues[name]]
        for queue in self._queues.values():
            queue.clear()
        self._ring.clear()
        self._count = 0
        return drained

    def __len__(self) -> int:
        return self._count


class Edf(Scheduler):
    """Earliest deadline first; `miss` says what a task popped after its deadline gets."""

    def __init__(self, miss: MissPolicy = "run") -> None:
        if miss not in ("run", "drop", "demote"):
            raise InvalidSpec(f"miss must be run, drop or demote; got {miss!r}")
        self.miss: MissPolicy = miss
        self._heap: list[tuple[float, int, Schedulable]] = []
        self._rest: collections.deque[Schedulable] = collections.deque()
        self._order = itertools.count()

    def check(self, *, priority: int, deadline: float | None, tenant: str | None) -> None:
        _refuse_options("Edf()", priority=priority, deadline=None, tenant=tenant)

    def push(self, task: Schedulable, now: float) -> None:
        if task.deadline is None:
            self._rest.append(task)
        else:
            heapq.heappush(self._heap, (task.deadline, next(self._order), task))

    def pop(self, now: float) -> Pick | None:
        heap = self._heap
        if self.miss == "demote":
            demoted = []
            while heap and heap[0][0] < now:  # past its deadline: behind the rest
                task = heapq.heappop(heap)[2]
                self._rest.append(task)
                demoted.append(task)
            if heap:
                return Pick(heapq.heappop(heap)[2], demoted=tuple(demoted))
            return Pick(self._rest.popleft(), demoted=tuple(demoted)) if self._rest else None
        if heap:
            deadline, _, task = heapq.heappop(heap)
            late = deadline < now
            return Pick(task, missed=late, drop=late and self.miss == "drop")
        return Pick(self._rest.popleft()) if self._rest else None

    def drain(self) -> list[Schedulable]:
        drained = [entry[2] for entry in sorted(self._heap)] + list(self._rest)
        self._heap.clear()
        self._rest.clear()
        return drained

    def __len__(self) -> int:
        return len(self._heap) + len(self._rest)
