"""The daemon's Prometheus metric families, read from the read model (`_supervisor.view`).

Names follow Prometheus conventions: a `corral_` prefix, base units (bytes,
seconds), `_total` only on counters. Every instance metric carries the labels
`instance` (web:0) and `program` (web). State is one series per state with value 1
for the current one and 0 for the others, so a query can sum or alert on any state.
Rendering to text is `corral._observe.metrics.prometheus.render`.
"""

from __future__ import annotations

from corral._lifecycle.states import InstanceState
from corral._observe.metrics.prometheus import Family, Labels
from corral._supervisor.view import SamplerView, StatusView

Samples = list[tuple[Labels, float]]
PREFIX = "corral_"
_STATES = tuple(state.value for state in InstanceState)


def families(view: StatusView, *, wall: float) -> list[Family]:
    """Every family the `/metrics` endpoint serves, read from one view; `wall` is time.time()."""
    states: Samples = []
    up: Samples = []
    restarts: Samples = []
    started: Samples = []
    dropped: Samples = []
    cpu: Samples = []
    cpu_seconds: Samples = []
    rss: Samples = []
    processes: Samples = []
    healthy: Samples = []
    streak: Samples = []
    for instance in view.instances:
        labels = {"instance": instance.name, "program": instance.program}
        for state in _STATES:
            states.append(({**labels, "state": state}, 1.0 if instance.state == state else 0.0))
        up.append((labels, 1.0 if instance.state == InstanceState.RUNNING.value else 0.0))
        restarts.append((labels, float(instance.restarts)))
        if instance.uptime is not None:
            started.append((labels, wall - instance.uptime))
        for stream, nbytes in instance.log_dropped_bytes.items():
            dropped.append(({**labels, "stream": stream}, float(nbytes)))
        health = instance.health
        if health is not None and instance.pid is not None:
            healthy.append((labels, 1.0 if health.state == "healthy" else 0.0))
            streak.append((labels, float(health.streak)))
        sample = instance.sample
        if sample is not None:
            if sample.cpu_percent is not None:
                cpu.append((labels, sample.cpu_percent))
            cpu_seconds.append((labels, sample.cpu_seconds))
            rss.append((labels, float(sample.memory_rss)))
            processes.append((labels, float(sample.processes)))
    return [
        _gauge("instance_state", "1 for the instance's current state, 0 for the others.", states),
        _gauge("instance_up", "1 while the instance is RUNNING.", up),
        _counter("instance_restarts_total", "Automatic restarts of the instance.", restarts),
        _gauge(
            "instance_start_time_seconds",
            "When the instance's process entered its current state (Unix time).",
            started,
        ),
        _counter(
            "instance_log_dropped_bytes_total",
            "Output bytes the instance's log could not write (disk full, I/O error).",
            dropped,
        ),
        _gauge(
            "instance_cpu_percent",
            "CPU use of the instance's process tree over the last sampling interval "
            "(100 = one core).",
            cpu,
        ),
        _gauge(
            "instance_cpu_seconds",
            "CPU time of the instance's live processes (falls when a child exits).",
            cpu_seconds,
        ),
        _gauge("instance_memory_rss_bytes", "Resident memory of the instance's tree.", rss),
        _gauge("instance_processes", "Live processes in the instance's tree.", processes),
        _gauge(
            "instance_healthy",
            "1 while the health check of the instance's live process passes (healthy), "
            "0 while it is starting or unhealthy; absent without a check or a process.",
            healthy,
        ),
        _gauge(
            "instance_health_failing_streak",
            "Counted health probe failures in a row of the instance's live process.",
            streak,
        ),
        *_daemon_families(view.daemon.sampler),
    ]


def _daemon_families(sampler: SamplerView) -> list[Family]:
    found = [
        _gauge(
            "metrics_interval_seconds",
            "Seconds between samples (0 = off).",
            [({}, sampler.interval)],
        ),
        _gauge(
            "metrics_sample_seconds",
            "How long the last sampling tick took.",
            [({}, sampler.sample_seconds)],
        ),
    ]
    if sampler.daemon_cpu_percent is not None:
        text = "The daemon's own CPU use over the last interval."
        found.append(_gauge("daemon_cpu_percent", text, [({}, sampler.daemon_cpu_percent)]))
    if sampler.daemon_memory_rss is not None:
        text = "The daemon's own resident memory."
        rss = float(sampler.daemon_memory_rss)
        found.append(_gauge("daemon_memory_rss_bytes", text, [({}, rss)]))
    return found


def _gauge(name: str, text: str, samples: Samples) -> Family:
    return Family(PREFIX + name, text, "gauge", samples)


def _counter(name: str, text: str, samples: Samples) -> Family:
    return Family(PREFIX + name, text, "counter", samples)
