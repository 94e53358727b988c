"""The daemon's Prometheus metric families, built from the supervisor and its sampler.

Names follow Prometheus conventions: a `corral_` prefix, base units (bytes,
seconds), `_total` only on counters. Every instance metric carries the labels
`instance` (web:0) and `program` (web). State is one series per state with value 1
for the current one and 0 for the others, so a query can sum or alert on any state.
Rendering to text is `corral._observe.metrics.prometheus.render`.
"""

from __future__ import annotations

import time

from corral._lifecycle.states import InstanceState
from corral._observe.metrics.prometheus import Family, Labels
from corral._supervisor.runtime.driver import LIVE
from corral._supervisor.runtime.metrics import MetricsLoop
from corral._supervisor.runtime.supervisor import Supervisor

Samples = list[tuple[Labels, float]]
PREFIX = "corral_"


def families(supervisor: Supervisor, metrics: MetricsLoop, *, now: float) -> list[Family]:
    """Every family the `/metrics` endpoint serves; `now` is the loop clock."""
    wall = time.time()
    states: Samples = []
    up: Samples = []
    restarts: Samples = []
    started: Samples = []
    dropped: Samples = []
    cpu: Samples = []
    cpu_seconds: Samples = []
    rss: Samples = []
    processes: Samples = []
    for name, driver in supervisor.drivers.items():
        machine = driver.machine
        labels = {"instance": name, "program": driver.program.name}
        for state in InstanceState:
            value = 1.0 if machine.state is state else 0.0
            states.append(({**labels, "state": state.value}, value))
        up.append((labels, 1.0 if machine.state is InstanceState.RUNNING else 0.0))
        restarts.append((labels, float(machine.restarts)))
        if machine.state in LIVE:
            started.append((labels, wall - max(0.0, now - machine.since)))
        for stream, nbytes in driver.log_dropped_bytes.items():
            dropped.append(({**labels, "stream": stream}, float(nbytes)))
        sample = metrics.latest.get(name)
        if sample is not None:
            if sample.cpu_percent is not None:
                cpu.append((labels, sample.cpu_percent))
            cpu_seconds.append((labels, sample.cpu_seconds))
            rss.append((labels, float(sample.rss_bytes)))
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
        *_daemon_families(metrics),
    ]


def _daemon_families(metrics: MetricsLoop) -> list[Family]:
    own = metrics.daemon
    found = [
        _gauge(
            "metrics_interval_seconds",
            "Seconds between samples (0 = off).",
            [({}, metrics.settings.interval)],
        ),
        _gauge(
            "metrics_sample_seconds",
            "How long the last sampling tick took.",
            [({}, metrics.tick_seconds)],
        ),
    ]
    if own is not None and own.cpu_percent is not None:
        text = "The daemon's own CPU use over the last interval."
        found.append(_gauge("daemon_cpu_percent", text, [({}, own.cpu_percent)]))
    if own is not None:
        text = "The daemon's own resident memory."
        found.append(_gauge("daemon_memory_rss_bytes", text, [({}, float(own.rss_bytes))]))
    return found


def _gauge(name: str, text: str, samples: Samples) -> Family:
    return Family(PREFIX + name, text, "gauge", samples)


def _counter(name: str, text: str, samples: Samples) -> Family:
    return Family(PREFIX + name, text, "counter", samples)
