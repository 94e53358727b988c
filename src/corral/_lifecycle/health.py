"""PURE: health checks: what a probe is, where it points, and how its results are counted.

A `HealthCheck` (`[programs.NAME.health]`) names one target: a command to run
(`exec`), a URL to GET (`http`) or an address to connect to (`tcp`), and Docker's
timing keys with Docker's defaults. `Health` is the dimension the lifecycle table
keeps beside the state: `starting | healthy | unhealthy`, the failing streak and the
last results. `counted` applies one probe result by Docker's rules: a success makes
it healthy, `retries` failures in a row make it unhealthy, and failures within
`start_period` of the spawn count for nothing while it is still starting. No I/O:
the runtime (`_supervisor/runtime/health.py`) runs the probes and feeds the results.
"""

from __future__ import annotations

import ipaddress
import math
import urllib.parse
from dataclasses import dataclass
from typing import Literal, NamedTuple, TypeAlias

from corral._errors import InvalidSpec

__all__ = [
    "HEALTH_STATES",
    "KEPT_RESULTS",
    "ON_UNHEALTHY",
    "OUTPUT_HEAD",
    "Health",
    "HealthCheck",
    "HealthState",
    "HttpTarget",
    "OnUnhealthy",
    "ProbeResult",
    "TcpTarget",
    "counted",
    "next_probe_in",
    "parse_probe_address",
    "parse_status_range",
]

HealthState: TypeAlias = Literal["starting", "healthy", "unhealthy"]
HEALTH_STATES: tuple[HealthState, ...] = ("starting", "healthy", "unhealthy")
OnUnhealthy: TypeAlias = Literal["restart", "stop", "none"]
ON_UNHEALTHY: tuple[OnUnhealthy, ...] = ("restart", "stop", "none")
KEPT_RESULTS = 5
"""Probe results kept per instance (Docker keeps 5 too)."""
OUTPUT_HEAD = 200
"""Characters of a probe's output kept with its result."""


@dataclass(frozen=True, slots=True)
class HttpTarget:
    """Where an http probe sends its GET."""

    host: str
    """The address to connect to (IPv6 without brackets)."""
    port: int
    """The TCP port."""
    path: str
    """The request target: path and query, "/" when the URL has none."""
    authority: str
    """The Host header: host and port as the URL wrote them."""


@dataclass(frozen=True, slots=True)
class TcpTarget:
    """Where a tcp probe connects."""

    host: str
    """The address to connect to (IPv6 without brackets)."""
    port: int
    """The TCP port."""


def parse_probe_address(kind: Literal["http", "tcp"], text: str) -> HttpTarget | TcpTarget:
    """The target an `http` URL or a `tcp` "host:port" names, or InvalidSpec saying why.

    The one place probe addresses are read, so a per-instance address (`{index}`
    substituted) is one call. The host may be a name or an address of any network;
    the port must be 1 to 65535.
    """
    if kind == "tcp":
        host, port = _host_port(kind, text, text)
        return TcpTarget(host, port)
    url = urllib.parse.urlsplit(text)
    if url.scheme != "http" or not url.netloc:
        raise InvalidSpec(f'http must be an "http://HOST:PORT/PATH" URL, got {text!r}')
    netloc = url.netloc
    if "@" in netloc:
        raise InvalidSpec(f"http must not carry credentials, got {text!r}")
    if not netloc.rpartition(":")[2].isdigit() or netloc.endswith("]"):
        netloc += ":80"
    host, port = _host_port(kind, netloc, text)
    path = url.path or "/"
    if url.query:
        path += "?" + url.query
    return HttpTarget(host, port, path, url.netloc)


def _host_port(kind: str, text: str, whole: str) -> tuple[str, int]:
    """("host", port) of "host:port" or "[v6]:port"; errors name the key (`kind`)."""
    host, sep, port = text.rpartition(":")
    bracketed = host.startswith("[") and host.endswith("]")
    host = host[1:-1] if bracketed else host
    if not sep or not host or not port.isdigit() or not 0 < int(port) <= 65535:
        expected = '"HOST:PORT" or "[V6]:PORT" with a port 1-65535'
        raise InvalidSpec(f"{kind} must name {expected}, got {whole!r}")
    if bracketed:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise InvalidSpec(f"{kind}: [{host}] is not an IPv6 address, in {whole!r}") from None
    elif ":" in host or any(c in host for c in " /?#[]@"):
        raise InvalidSpec(f"{kind}: {host!r} is not a host name or address (IPv6 goes in [ ])")
    return host, int(port)


def parse_status_range(text: str) -> tuple[int, int]:
    """(low, high) of "200-399" or "204"; InvalidSpec unless 100 <= low <= high <= 599."""
    low, dash, high = text.partition("-")
    ends = (low, high if dash else low)
    if not all(end.strip().isdigit() for end in ends):
        raise InvalidSpec(f'status must be a range like "200-399" or one code, got {text!r}')
    first, last = (int(end) for end in ends)
    if not 100 <= first <= last <= 599:
        raise InvalidSpec(f"status must be codes 100 to 599, low to high, got {text!r}")
    return first, last


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthCheck:
    """A liveness probe: exactly one of `exec`, `http`, `tcp`, and when to run it."""

    exec: tuple[str, ...] | None = None
    """A command run through corral's spawn path, without a shell: exit 0 passes; any other
    exit, a signal, or running past `timeout` (its tree is then killed) fails."""
    http: str | None = None
    """An `http://HOST:PORT/PATH` URL: one HTTP/1.1 GET on a new connection; a status
    within `status` (and `body` in the answer, if set) passes; a refused or reset
    connection, a malformed answer or no answer within `timeout` fails."""
    tcp: str | None = None
    """A `HOST:PORT` (`[::1]:PORT` for IPv6) address: a connection accepted within
    `timeout` passes (it is closed at once); refused or too slow fails. `{index}` (and
    `{9100 + index}`) in an address or an exec argument is the instance's number, as in
    `command`."""
    interval: float = 30.0
    """Seconds between the end of one probe and the start of the next, the first one
    counted from the spawn (Docker's default)."""
    timeout: float = 30.0
    """Seconds a probe may take; a probe still running then fails (Docker's default)."""
    retries: int = 3
    """Failures in a row that make the instance unhealthy (Docker's default)."""
    start_period: float = 0.0
    """Seconds after the spawn during which failures are not counted while it has not yet
    passed once; probes then run every `start_interval`."""
    start_interval: float = 5.0
    """Seconds between probes during `start_period` (Docker's default)."""
    status: str = "200-399"
    """http only: the status codes that pass, "LOW-HIGH" or one code."""
    body: str | None = None
    """http only: text the answer's body must contain to pass (the first 64 KiB are read)."""

    def __post_init__(self) -> None:
        targets = [name for name in ("exec", "http", "tcp") if getattr(self, name) is not None]
        if len(targets) != 1:
            got = " and ".join(targets) if targets else "none"
            raise InvalidSpec(f"a health check needs exactly one of exec, http, tcp; got {got}")
        if self.exec is not None and not self.exec:
            raise InvalidSpec("exec must name a command")
        for name in ("interval", "timeout", "start_interval"):
            value = getattr(self, name)
            if not math.isfinite(value) or value <= 0:
                raise InvalidSpec(f"{name} must be a number of seconds > 0, got {value!r}")
        if not math.isfinite(self.start_period) or self.start_period < 0:
            raise InvalidSpec(f"start_period must be seconds >= 0, got {self.start_period!r}")
        if self.retries < 1:
            raise InvalidSpec(f"retries must be >= 1, got {self.retries}")
        parse_status_range(self.status)
        if self.http is None and (self.status != "200-399" or self.body is not None):
            raise InvalidSpec("status and body are for http probes only")
        for kind in ("http", "tcp"):
            address = getattr(self, kind)
            if address is not None and "{" not in address:  # a template: the program
                parse_probe_address(kind, address)  # checks it rendered for each instance

    @property
    def kind(self) -> Literal["exec", "http", "tcp"]:
        """Which kind of probe this is."""
        return "exec" if self.exec is not None else "http" if self.http is not None else "tcp"


class ProbeResult(NamedTuple):
    """One probe's outcome, as status shows it."""

    at: float
    """When it finished (monotonic seconds, as the machine's `now`)."""
    ok: bool
    """It passed."""
    output: str
    """The head of what it said or why it failed, at most OUTPUT_HEAD characters."""


class Health(NamedTuple):
    """The health dimension of one live process: reset at each spawn."""

    started: float
    """When the process was spawned: `start_period` counts from here."""
    state: HealthState = "starting"
    """starting until the first pass (or `retries` counted failures), then healthy or
    unhealthy."""
    streak: int = 0
    """Counted failures in a row (failures within the start period are not counted)."""
    results: tuple[ProbeResult, ...] = ()
    """The last KEPT_RESULTS results, oldest first."""


def counted(health: Health, check: HealthCheck, ok: bool, output: str, now: float) -> Health:
    """`health` after one probe result, by Docker's rules."""
    results = (*health.results, ProbeResult(now, ok, output[:OUTPUT_HEAD]))[-KEPT_RESULTS:]
    if ok:
        return health._replace(state="healthy", streak=0, results=results)
    if health.state == "starting" and now - health.started < check.start_period:
        return health._replace(results=results)
    streak = health.streak + 1
    state: HealthState = "unhealthy" if streak >= check.retries else health.state
    return health._replace(state=state, streak=streak, results=results)


def next_probe_in(health: Health, check: HealthCheck, now: float) -> float:
    """Seconds until the next probe: `start_interval` within the start period while it is
    still starting, else `interval`."""
    in_start = health.state == "starting" and now - health.started < check.start_period
    return check.start_interval if in_start else check.interval
