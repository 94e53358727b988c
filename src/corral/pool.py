"""Pool façade: a process pool where a worker's death or a timeout fails only its task.

`Pool` is a `concurrent.futures.Executor` (`submit`, `map`, `shutdown`) with
`schedule(fn, args, kwargs, timeout=..., priority=..., deadline=..., tenant=...)`
for per-task options. Its workers are fresh interpreters started through corral's
one spawn path. Schedulers pick which queued task runs next: `Fifo`, `Priority`
(the default), `Mlfq`, `FairShare`, `Edf`.
"""

from __future__ import annotations

from corral._errors import DeadlineMissed, SoftTimeout, TaskFailed, TaskTimedOut, WorkerDied
from corral._pool.pool import Pool
from corral._pool.scheduling import Edf, FairShare, Fifo, Mlfq, Pick, Priority, Scheduler
from corral._pool.stats import GroupStats, PoolStats

__all__ = [
    "DeadlineMissed",
    "Edf",
    "FairShare",
    "Fifo",
    "GroupStats",
    "Mlfq",
    "Pick",
    "Pool",
    "PoolStats",
    "Priority",
    "Scheduler",
    "SoftTimeout",
    "TaskFailed",
    "TaskTimedOut",
    "WorkerDied",
    "prometheus_text",
]


def prometheus_text(stats: PoolStats, *, pool: str = "pool") -> str:
    """`stats` in the Prometheus text format, labelled `pool=NAME`: tasks started,
    deadline misses and queue-wait p50/p99 per priority and per tenant."""
    from corral._observe.metrics.prometheus import Family, render

    groups = [
        *(({"pool": pool, "priority": str(p)}, g) for p, g in stats.by_priority.items()),
        *(({"pool": pool, "tenant": t}, g) for t, g in stats.by_tenant.items()),
    ]

    def family(name: str, text: str, kind: str, value: str) -> Family:
        samples = [
            (labels, getattr(g, value)) for labels, g in groups if getattr(g, value) is not None
        ]
        return Family(name, text, kind, samples)  # type: ignore[arg-type]

    return render(
        [
            Family("corral_pool_queued_tasks", "Tasks waiting for a worker.", "gauge",
                   [({"pool": pool}, stats.queued)]),
            Family("corral_pool_workers", "Workers started and not ending.", "gauge",
                   [({"pool": pool}, stats.workers)]),
            family("corral_pool_started_tasks_total", "Tasks a worker took.", "counter", "started"),
            family("corral_pool_deadline_misses_total",
                   "Tasks that started or finished after their deadline.", "counter", "misses"),
            family("corral_pool_queue_wait_p50_seconds",
                   "Median queue wait of recent tasks.", "gauge", "wait_p50"),
            family("corral_pool_queue_wait_p99_seconds",
                   "99th percentile queue wait of recent tasks.", "gauge", "wait_p99"),
        ]
    )  # fmt: skip
