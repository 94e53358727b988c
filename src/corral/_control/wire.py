"""JSON shapes of the API's requests and replies, shared by the server and the client.

Plain TypedDicts with no imports from the layers below, so the CLI can use them
without importing the daemon. The server fills them from Operations' results.
"""

from __future__ import annotations

from typing import TypedDict

API_PREFIX = "/v1"


class InstanceJSON(TypedDict):
    """One row of `status`."""

    name: str
    program: str
    state: str
    pid: int | None
    uptime: float | None
    restarts: int
    last_exit: str | None
    reason: str
    cpu_seconds: float | None
    cpu_percent: float | None
    memory_rss: int | None
    processes: int | None
    limits: dict[str, object] | None
    cgroup: dict[str, int | float | None] | None


class StatusReply(TypedDict):
    """GET /v1/status"""

    instances: list[InstanceJSON]


class InstanceMetricsJSON(TypedDict):
    """One row of `metrics`: the last sample (None when the instance was not running)."""

    name: str
    program: str
    state: str
    cpu_percent: float | None
    cpu_seconds: float | None
    memory_rss: int | None
    processes: int | None


class MetricsReply(TypedDict):
    """GET /v1/metrics"""

    interval: float
    taken_at: float | None
    sample_seconds: float
    daemon_cpu_percent: float | None
    daemon_memory_rss: int | None
    instances: list[InstanceMetricsJSON]


class PointJSON(TypedDict):
    """One kept sample of an instance."""

    time: float
    cpu_percent: float | None
    rss_bytes: int
    processes: int


class HistoryReply(TypedDict):
    """GET /v1/metrics/{name}/history"""

    name: str
    points: list[PointJSON]


class OutcomeJSON(TypedDict):
    """One instance's result of start/stop/restart/signal."""

    name: str
    ok: bool
    state: str
    message: str


class OutcomesReply(TypedDict):
    """POST /v1/start, /v1/stop, /v1/restart, /v1/signal"""

    results: list[OutcomeJSON]


class TargetsRequest(TypedDict):
    """Body of POST /v1/start, /v1/stop, /v1/restart."""

    targets: list[str]


class SignalRequest(TypedDict):
    """Body of POST /v1/signal."""

    signal: str
    targets: list[str]


class LogsReply(TypedDict):
    """GET /v1/logs/{name}"""

    name: str
    stream: str
    lines: list[str]


class ReloadReply(TypedDict):
    """POST /v1/reload"""

    added: list[str]
    removed: list[str]
    changed: list[str]
    unchanged: list[str]
    notes: list[str]


class ErrorReply(TypedDict):
    """Any non-2xx reply."""

    error: dict[str, object]


class EventJSON(TypedDict):
    """One event of the log, or a notice of the event stream about events a reader missed.

    A notice ("gap", "overflow", "reset") is not an event of the log: its `seq` is None,
    its `subject` "", and its `data` says which events it is about (docs/daemon.md).
    """

    seq: int | None
    time: float
    kind: str
    subject: str
    data: dict[str, object]


class EventsReply(TypedDict):
    """GET /v1/events?since=SEQ (without follow)"""

    events: list[EventJSON]
    last_seq: int


NOTICE_KINDS = ("gap", "overflow", "reset")
"""The kinds of stream notices; no event of the log has one of these kinds."""
