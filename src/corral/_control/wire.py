"""JSON shapes of the API's requests and replies, shared by the server and the client.

The status reply is the read model itself (`_supervisor.view`, stdlib-only, encoded by
`to_json`, decoded by `from_json`); the other replies are TypedDicts the server fills
from Operations' results and the views. Nothing here imports the daemon, so the CLI can
use it at no cost. The OpenAPI document (server/openapi.py) is generated from these.
"""

from __future__ import annotations

from typing import TypedDict

from corral._supervisor.view import AlertsView, InspectView, SecurityView, StatusView

API_PREFIX = "/v1"
"""Every JSON route's path starts with this."""

PROMETHEUS_PATH = "/metrics"
"""Where Prometheus scrapes: outside /v1, the path every exporter uses."""

StatusReply = StatusView
"""GET /v1/status: the daemon and the instances asked about."""

InspectReply = InspectView
"""GET /v1/inspect/{name}: one snapshot of an instance's process tree."""

SecurityReply = SecurityView
"""GET /v1/security/{name}: how exposed an instance is, check by check."""
AlertsReply = AlertsView
"""GET /v1/alerts: the alerts firing now, and the counts of their actions."""


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
    """Body of POST /v1/start, /v1/stop."""

    targets: list[str]


class RestartRequest(TargetsRequest, total=False):
    """Body of POST /v1/restart."""

    rolling: bool
    """Restart each named program `max_unavailable` instances at a time, each batch
    RUNNING again before the next stops (programs only)."""


class ScaleRequest(TypedDict):
    """Body of POST /v1/scale."""

    program: str
    count: int


class SignalRequest(TypedDict):
    """Body of POST /v1/signal."""

    signal: str
    targets: list[str]


class LogsReply(TypedDict):
    """GET /v1/logs/{name}"""

    name: str
    stream: str
    lines: list[str]


class ProfileReply(TypedDict):
    """GET /v1/sandbox/{name}/apparmor"""

    program: str
    """The program the profile is for."""
    profile: str
    """The AppArmor profile's text, to be loaded with apparmor_parser."""


class ReloadReply(TypedDict):
    """POST /v1/reload"""

    added: list[str]
    removed: list[str]
    changed: list[str]
    unchanged: list[str]
    notes: list[str]


class EventJSON(TypedDict):
    """One event of the log, or a notice of the event stream about events a reader missed.

    A notice ("gap", "overflow", "reset") is not an event of the log: its `seq` is None,
    its `subject` "", and its `data` says which events it is about (docs/daemon.md).
    """

    seq: int | None
    """Position in the log: 1 for the first event, then +1 for each; never reused.
    None for a stream notice."""
    time: float
    """Wall-clock time of emission (seconds since the epoch)."""
    kind: str
    """What happened, dotted lower case: "state", "log.dropped", "daemon", ..."""
    subject: str
    """What it happened to, such as "web:0"; "" for the daemon as a whole."""
    data: dict[str, object]
    """Details; for "state": old, new, pid, reason."""


class EventsReply(TypedDict):
    """GET /v1/events?since=SEQ (without follow)"""

    events: list[EventJSON]
    """Events newer than `since`, oldest first (those pushed out of the ring are gone)."""
    last_seq: int
    """The newest event's number: pass it as `since` to ask for what follows."""


class AcceptedReply(TypedDict):
    """POST /v1/shutdown: the request is taken; the daemon stops its programs and exits."""

    ok: bool


class ErrorDetail(TypedDict):
    """What went wrong."""

    status: int
    """The HTTP status, repeated."""
    message: str
    """One line fit to show a user."""


class ErrorReply(TypedDict):
    """Any non-2xx reply."""

    error: ErrorDetail


NOTICE_KINDS = ("gap", "overflow", "reset")
"""The kinds of stream notices; no event of the log has one of these kinds."""
