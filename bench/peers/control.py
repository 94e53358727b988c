"""Workload 4, control: the status of every instance through each daemon's API.

Measured inside the scale workload's largest session (1,000 instances), on one
kept connection, after a few unrecorded warm-up calls:

| peer | call |
|---|---|
| corral | `GET /v1/status` over the unix socket (corral's own `Client`) |
| supervisord | XML-RPC `supervisor.getAllProcessInfo` over its unix socket |
| circus | zmq `status` through `circus.client.CircusClient` (per watcher, not per process) |
| PM2 | `pm2.list()` through PM2's node API (what `pm2 jlist` calls) |
"""

from __future__ import annotations

from pathlib import Path

from bench.peers.peer import Adapter, SessionError
from bench.peers.report import Metric, percentile

WARMUP = 3


def metrics(n: int) -> list[Metric]:
    return [
        Metric(f"control{n}.api_p50", f"{n} x sleep: status through the API, p50", "ms", 2),
        Metric(f"control{n}.api_p99", f"{n} x sleep: status through the API, p99", "ms", 2),
    ]


def measure(adapter: Adapter, run: Path, calls: int) -> dict[str, float | None]:
    """p50 and p99 in ms of `calls` status calls after WARMUP unrecorded ones."""
    try:
        times = adapter.api_status(run, calls + WARMUP)[WARMUP:]
    except Exception as exc:  # any client's failure ends this session's sample, not the run
        raise SessionError(f"{adapter.name} status API: {exc!r}") from exc
    return {
        "api_p50": percentile(times, 0.5) * 1000,
        "api_p99": percentile(times, 0.99) * 1000,
    }
