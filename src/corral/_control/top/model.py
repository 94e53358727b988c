"""What `corral top` shows, as data: rows of instances and the daemon's header, fed by events.

PURE: no I/O, no clock (times are passed in), no textual. `Fleet.load` takes one
`GET /v1/status` reply; `Fleet.apply` takes each message of the event stream (the
"state" and "health" events of the log and the stream's "metrics" sample) and says
what it changed, so the view redraws only those rows. Sorting and filtering are
`Fleet.rows`.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["COLUMNS", "Change", "Fleet", "Header", "Row"]

HISTORY = 30
"""Samples kept per instance for its sparklines."""

LIVE = frozenset({"STARTING", "RUNNING", "STOPPING"})
"""States in which an instance has a process."""

ENDED = frozenset({"BACKOFF", "EXITED", "FATAL", "STOPPED"})
"""States entered when a process ended."""


@dataclass(slots=True)
class Row:
    """One instance as the table shows it."""

    name: str
    program: str
    state: str
    health: str | None = None
    """healthy, unhealthy, starting; None without a health check."""
    pid: int | None = None
    since: float | None = None
    """Wall-clock time it entered its current live state (uptime = now - since)."""
    restarts: int = 0
    last_exit: str | None = None
    reason: str = ""
    cpu_percent: float | None = None
    rss: int | None = None
    memory_limit: int | None = None
    """Its sandbox's cgroup memory_max in bytes, if it has one."""
    processes: int | None = None
    fds: int | None = None
    """Open fds of its tree, when the sample carries them (None: not measured)."""
    cpu_history: deque[float] = field(default_factory=lambda: deque(maxlen=HISTORY))
    rss_history: deque[float] = field(default_factory=lambda: deque(maxlen=HISTORY))

    def uptime(self, now: float) -> float | None:
        """Seconds in its live state at `now`, None when not live."""
        return None if self.since is None else max(0.0, now - self.since)

    @property
    def memory_share(self) -> float | None:
        """RSS as a % of its memory limit, None without both."""
        if self.rss is None or not self.memory_limit:
            return None
        return 100.0 * self.rss / self.memory_limit


@dataclass(slots=True)
class Header:
    """The daemon and the host, for the header line."""

    version: str = "?"
    started: float | None = None
    """Wall-clock time the daemon started."""
    interval: float = 0.0
    host_cpu: float | None = None
    memory_used: int | None = None
    memory_total: int | None = None
    load: tuple[float, ...] = ()
    daemon_cpu: float | None = None
    daemon_rss: int | None = None
    samples: int = 0
    """Metrics messages received."""


@dataclass(frozen=True, slots=True)
class Change:
    """What one message changed."""

    rows: frozenset[str] = frozenset()
    """Instances whose row changed."""
    added: bool = False
    """A row appeared (the table's set of rows must be rebuilt)."""
    header: bool = False
    reload: bool = False
    """The daemon's set of instances may have changed (a reload): fetch status again."""


NOTHING = Change()


def _value(row: Row, column: str) -> Any:
    """The value a row sorts by in `column`; None when it has none (sorted last)."""
    if column == "uptime":
        return None if row.since is None else -row.since  # a longer uptime: an earlier start
    return getattr(row, column)


COLUMNS = (
    "name",
    "state",
    "health",
    "pid",
    "uptime",
    "restarts",
    "last_exit",
    "cpu_percent",
    "rss",
    "memory_share",
    "fds",
)
"""The sortable columns, in table order."""


class Fleet:
    """Every instance's row and the header; changed only by `load` and `apply`."""

    def __init__(self) -> None:
        self.rows: dict[str, Row] = {}
        self.header = Header()
        self.last_seq: int | None = None

    def load(self, status: Mapping[str, Any], now: float) -> None:
        """Replace everything with one status reply (`GET /v1/status`) read at `now`."""
        daemon = status["daemon"]
        self.header.version = str(daemon["version"])
        self.header.started = now - float(daemon["uptime"])
        sampler = daemon.get("sampler") or {}
        self.header.interval = float(sampler.get("interval") or 0.0)
        self.header.daemon_cpu = sampler.get("daemon_cpu_percent")
        self.header.daemon_rss = sampler.get("daemon_memory_rss")
        old, self.rows = self.rows, {}
        for item in status["instances"]:
            row = _row(item, now)
            kept = old.get(row.name)
            if kept is not None:
                row.cpu_history, row.rss_history = kept.cpu_history, kept.rss_history
            self.rows[row.name] = row

    def apply(self, event: Mapping[str, Any]) -> Change:
        """Fold one message of the event stream in; what it changed."""
        kind = event.get("kind")
        if kind == "metrics":
            return self._sampled(event["time"], event["data"])
        if kind == "state":
            return self._state(event["subject"], event["time"], event["data"])
        if kind == "health":
            row = self.rows.get(event["subject"])
            if row is None:
                return NOTHING
            row.health = event["data"].get("new")
            return Change(rows=frozenset({row.name}))
        if kind in ("daemon", "reset", "gap"):
            return Change(reload=True)
        return NOTHING

    def seed_history(self, name: str, points: Iterable[Mapping[str, Any]]) -> bool:
        """Put the daemon's kept samples (`GET /v1/metrics/NAME/history`) before the
        ones received since; False if there is no such row."""
        row = self.rows.get(name)
        if row is None:
            return False
        received = list(zip(row.cpu_history, row.rss_history, strict=True))
        kept = [
            (float(p.get("cpu_percent") or 0.0), float(p.get("rss_bytes") or 0)) for p in points
        ]
        row.cpu_history.clear()
        row.rss_history.clear()
        for cpu, rss in kept[: max(0, len(kept) - len(received))] + received:
            row.cpu_history.append(cpu)
            row.rss_history.append(rss)
        return True

    def counts(self) -> dict[str, int]:
        """Instances by state."""
        found: dict[str, int] = {}
        for row in self.rows.values():
            found[row.state] = found.get(row.state, 0) + 1
        return found

    def visible(self, text: str = "", sort: str = "name", reverse: bool = False) -> list[Row]:
        """The rows whose name or state contains `text`, sorted by `sort` (then by name);
        rows without a value in `sort` come last in either order."""
        needle = text.lower()
        rows: Iterable[Row] = self.rows.values()
        if needle:
            rows = [r for r in rows if needle in r.name.lower() or needle in r.state.lower()]
        keyed = [(_value(row, sort), row) for row in rows]
        present = [pair for pair in keyed if pair[0] is not None]
        present.sort(key=lambda pair: (pair[0], pair[1].name), reverse=reverse)
        missing = sorted((row for value, row in keyed if value is None), key=lambda r: r.name)
        return [row for _, row in present] + missing

    def _state(self, name: str, when: float, data: Mapping[str, Any]) -> Change:
        row = self.rows.get(name)
        added = row is None
        if row is None:
            row = self.rows[name] = Row(name=name, program=name.partition(":")[0], state="")
        old, new = data.get("old"), str(data.get("new"))
        row.state, row.pid, row.reason = new, data.get("pid"), str(data.get("reason") or "")
        if new in LIVE and old not in LIVE:
            row.since = when
        elif new not in LIVE:
            row.since, row.pid = None, None
            row.cpu_percent, row.rss, row.processes, row.fds = None, None, None, None
        if old == "BACKOFF" and new == "STARTING":
            row.restarts += 1
        if old in LIVE and new in ENDED and row.reason:
            row.last_exit = exit_of(row.reason)
        return Change(rows=frozenset({name}), added=added, header=True)

    def _sampled(self, when: float, data: Mapping[str, Any]) -> Change:
        header = self.header
        header.samples += 1
        header.interval = float(data.get("interval") or header.interval)
        host = data.get("host")
        if host is not None:
            header.host_cpu = host.get("cpu_percent")
            header.memory_used = host.get("memory_used")
            header.memory_total = host.get("memory_total")
            header.load = tuple(host.get("load") or ())
        header.daemon_cpu = data.get("daemon_cpu_percent")
        header.daemon_rss = data.get("daemon_memory_rss")
        columns = list(data.get("columns") or ())
        at = {name: columns.index(name) if name in columns else None for name in _SAMPLED}
        changed: set[str] = set()
        for name, values in (data.get("instances") or {}).items():
            row = self.rows.get(name)
            if row is not None:
                _take(row, values, at)
                changed.add(name)
        return Change(rows=frozenset(changed), header=True)


def exit_of(reason: str) -> str:
    """How a process ended, from a state event's reason: "exit 3" of "exited
    unexpectedly (exit 3); restart 4 in 0.1 s"; the reason up to its first ";" otherwise."""
    found = re.search(r"\(([^()]+)\)", reason)
    return found.group(1) if found else reason.partition(";")[0]


_SAMPLED = ("cpu_percent", "memory_rss", "processes", "fds")


def _take(row: Row, values: list[Any], at: Mapping[str, int | None]) -> None:
    def get(name: str) -> Any:
        index = at[name]
        return None if index is None or index >= len(values) else values[index]

    row.cpu_percent, row.rss = get("cpu_percent"), get("memory_rss")
    row.processes, row.fds = get("processes"), get("fds")
    row.cpu_history.append(float(row.cpu_percent or 0.0))
    row.rss_history.append(float(row.rss or 0))


def _row(item: Mapping[str, Any], now: float) -> Row:
    health = item.get("health")
    uptime = item.get("uptime")
    sample = item.get("sample") or {}
    limits = item.get("limits") or {}
    limit = limits.get("cgroup.memory_max")  # the plan's summary (_sandbox/cgroup_plan.py)
    return Row(
        name=item["name"],
        program=item["program"],
        state=item["state"],
        health=None if not health else health.get("state"),
        pid=item.get("pid"),
        since=None if uptime is None else now - float(uptime),
        restarts=int(item.get("restarts") or 0),
        last_exit=item.get("last_exit"),
        reason=str(item.get("reason") or ""),
        cpu_percent=item.get("cpu_percent", sample.get("cpu_percent")),
        rss=item.get("memory_rss", sample.get("memory_rss")),
        memory_limit=limit if isinstance(limit, int) else None,
        processes=item.get("processes", sample.get("processes")),
        fds=item.get("fds"),
    )
