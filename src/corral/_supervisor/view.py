"""The read model: immutable views of the daemon and its instances, the one source every
surface reads (status, metrics, Prometheus, the state file, the OpenAPI document).

A view is built once per request from the drivers (`runtime/snapshot.py`) and then only
read, so every surface of one request sees the same moment. The types are immutable
records of JSON-ready values with no imports beyond the standard library: the CLI
decodes replies into them without importing the daemon, and `to_json` is the daemon's
encoding, so the JSON shape, the CLI's reading of it and the published schema are one
definition. Field docstrings become the OpenAPI descriptions.

They share the small base `View` rather than being frozen dataclasses because
`corral status` imports this module: six slotted frozen dataclasses cost the CLI about
6 ms of start-up (each compiles its methods at import), NamedTuples 1-2 ms, `View`
subclasses almost nothing. `dataclass_transform` makes mypy check them as frozen,
keyword-only dataclasses all the same.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar, dataclass_transform

T = TypeVar("T", bound="View")


@dataclass_transform(kw_only_default=True, frozen_default=True)
class View:
    """Base of the views: built with keywords, immutable, compared and shown by value."""

    _fields: ClassVar[tuple[str, ...]] = ()
    """The subclass's field names, in order (its own annotations)."""
    _names: ClassVar[frozenset[str]] = frozenset()
    """The same, as a set: a constructor call naming exactly these takes the fast path."""

    def __init_subclass__(cls) -> None:
        cls._fields = tuple(inspect.get_annotations(cls))  # as written: not evaluated
        cls._names = frozenset(cls._fields)

    def __init__(self, **values: object) -> None:
        # A status of 1,000 instances builds 2,000 views per request: one set comparison
        # and one dict update, not a setattr per field.
        cls = type(self)
        if values.keys() != cls._names:
            values = cls._completed(values)
        self.__dict__.update(values)

    @classmethod
    def _completed(cls, values: dict[str, object]) -> dict[str, object]:
        """`values` with the defaults of fields left out; TypeError naming a missing or
        unknown field."""
        unknown = values.keys() - cls._names
        if unknown:
            raise TypeError(f"{cls.__name__}() has no field {', '.join(sorted(unknown))}")
        completed = dict(values)
        for name in cls._fields:
            if name in values:
                continue
            if name not in cls.__dict__:  # a class attribute is the field's default
                raise TypeError(f"{cls.__name__}() needs {name}=")
            completed[name] = cls.__dict__[name]
        return completed

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable; cannot set {name}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable; cannot delete {name}")

    def values(self) -> tuple[object, ...]:
        """The field values, in field order."""
        return tuple(getattr(self, name) for name in self._fields)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.values() == other.values()

    def __hash__(self) -> int:
        return hash(self.values())

    def __repr__(self) -> str:
        shown = ", ".join(f"{n}={v!r}" for n, v in zip(self._fields, self.values(), strict=True))
        return f"{type(self).__name__}({shown})"


class TreeView(View):
    """The process tree of an instance, as the state file records it."""

    root: int
    """The pid of the process corral started."""
    pgid: int
    """Its process group."""
    marker: str
    """The CORRAL_TREE=... entry every member's environment carries."""
    cgroup: tuple[str, ...] = ()
    """The instance's cgroup directories (empty without a cgroup)."""


class SampleView(View):
    """The sampler's last reading of an instance's tree."""

    cpu_percent: float | None
    """CPU use over the last sampling interval, 100 = one core (None on the first tick)."""
    cpu_seconds: float
    """CPU time of the tree's live members."""
    memory_rss: int
    """Resident memory of the tree's live members, in bytes."""
    processes: int
    """Live members of the tree."""
    fds: int | None = None
    """Open fds of the tree's live members; None unless an alert rule watches fds (counting
    them costs a directory read per process per tick)."""


class NotifyView(View):
    """What a `notify` program said of itself, and what of it was ignored."""

    protocol: str
    """How it says it is ready: "sd_notify" or "fd"."""
    socket: str | None
    """Its NOTIFY_SOCKET (sd_notify), once made; None for "fd"."""
    status: str | None
    """The last `STATUS=` its current process sent, if any."""
    phase: str | None
    """"reloading" (`RELOADING=1`, until `READY=1`), "stopping" (`STOPPING=1`) or None."""
    main_pid: int | None
    """The last `MAINPID=` accepted (a member of its tree), if any."""
    ignored: int
    """Datagrams ignored because their sender could not be named or was not in its tree."""
    malformed: int
    """Datagrams ignored as malformed: too large, not UTF-8, a line without '='."""


class HealthResultView(View):
    """One health probe's result."""

    ago: float
    """Seconds since it finished."""
    ok: bool
    """It passed."""
    output: str
    """The head (at most 200 characters) of what it said or why it failed."""


class HealthView(View):
    """The health check of an instance's current (or last) process."""

    kind: str
    """exec, http or tcp."""
    target: str
    """What it probes: the command, the URL or the address."""
    state: str
    """starting (no pass yet, and fewer than `retries` counted failures), healthy or
    unhealthy."""
    streak: int
    """Counted failures in a row (not those within `start_period` before the first pass)."""
    results: tuple[HealthResultView, ...]
    """The last 5 results, oldest first."""


class InstanceView(View):
    """One instance (web:0) at one moment."""

    name: str
    """The instance, such as "web:0"."""
    program: str
    """The program it belongs to, such as "web"."""
    state: str
    """STOPPED, STARTING, RUNNING, BACKOFF, STOPPING, EXITED or FATAL."""
    pid: int | None
    """The pid of its process while it has one (STARTING, RUNNING, STOPPING)."""
    uptime: float | None
    """Seconds since it entered its current live state (None unless live)."""
    restarts: int
    """Automatic restarts so far."""
    last_exit: str | None
    """How its last process ended: "exit 1", "SIGKILL", "OOM-killed (SIGKILL)" or None."""
    reason: str
    """Why it is in its state (empty when there is nothing to say)."""
    cpu_seconds: float | None
    """CPU time of its tree, read for this request (None when not measured or not live)."""
    cpu_percent: float | None
    """CPU use over the sampler's last interval, else the average since start."""
    memory_rss: int | None
    """Resident memory of its tree in bytes, read for this request."""
    processes: int | None
    """Live processes in its tree, read for this request."""
    limits: dict[str, object] | None
    """The sandbox limits applied to the current process (None without a sandbox)."""
    cgroup: dict[str, int | float | None] | None
    """Usage read from its cgroup: memory_current, memory_peak, cpu_seconds, pids,
    oom_kills (None without cgroup limits, when not live, or not measured)."""
    log_dropped_bytes: dict[str, int]
    """Output bytes each stream's log could not write (a full disk), by stream."""
    sample: SampleView | None
    """The sampler's last reading (None before the first, or when it was not running)."""
    tree: TreeView | None
    """Its current (or last, until swept) process tree; None before the first spawn."""
    notify: NotifyView | None = None
    """What it said through its readiness protocol; None without `notify`."""
    health: HealthView | None = None
    """Its health check's state and last results; None without one (or before a spawn)."""
    state_age: float | None = None
    """Seconds since it entered its current state (None from an older daemon)."""


class SamplerView(View):
    """The metrics sampler: its settings and its last tick."""

    interval: float
    """Seconds between samples; 0 when sampling is off."""
    taken_at: float | None
    """Wall-clock time of the last sample; None before the first (or when off)."""
    sample_seconds: float
    """How long the last tick took: the sampler's own cost."""
    daemon_cpu_percent: float | None
    """The daemon's own CPU use over the last interval."""
    daemon_memory_rss: int | None
    """The daemon's own resident memory in bytes."""


class SocketView(View):
    """One listening socket the daemon holds (`[sockets.NAME]`)."""

    name: str
    """The socket's name: what programs list in `sockets`, and its LISTEN_FDNAMES."""
    listen: str
    """The address as configured (a unix path made absolute)."""
    bound: str
    """The address it is bound to: `listen`, with the port chosen for a TCP port 0."""
    kind: str
    """ "tcp" or "unix"."""
    backlog: int
    """Connections queued before one is accepted."""
    mode: str | None
    """A unix socket file's permissions in octal ("660"); null when not set."""
    programs: tuple[str, ...]
    """The programs whose instances get it, in config order."""


class DaemonView(View):
    """The daemon itself at one moment."""

    version: str
    """corral's version."""
    pid: int
    """The daemon's process id."""
    uptime: float
    """Seconds since the daemon started."""
    config: str
    """The path of the config file it runs (and reloads)."""
    states: dict[str, int]
    """How many instances are in each state (every state named, zeros included)."""
    sampler: SamplerView
    """The metrics sampler."""
    sockets: tuple[SocketView, ...] = ()
    """The listening sockets the daemon holds for its programs, by name."""


class StatusView(View):
    """The whole read model: the daemon and the instances one request asked about."""

    daemon: DaemonView
    """The daemon (its counts cover every instance, named or not)."""
    instances: tuple[InstanceView, ...]
    """The instances asked about, in config order."""


class OpenFileView(View):
    """One open fd of a process."""

    fd: int
    """The descriptor number."""
    kind: str
    """file, pipe, socket, anon (eventfd, pidfd, ...), device or other."""
    target: str
    """What it points to: a path, "pipe:[123]", or a socket's protocol and address."""
    remote: str = ""
    """A connected inet socket's peer address (empty otherwise)."""
    listening: bool = False
    """A socket that listens for connections."""


class ProcessView(View):
    """One process of an instance's tree, as /proc showed it at one moment."""

    pid: int
    """Its pid."""
    ppid: int
    """Its parent's pid."""
    state: str
    """Its state as /proc/PID/status writes it ("S (sleeping)")."""
    wchan: str
    """The kernel function it waits in (empty when running or unknown)."""
    cmdline: tuple[str, ...]
    """Its command line."""
    exe: str
    """The executable it runs."""
    cwd: str
    """Its working directory."""
    uids: tuple[int, ...]
    """Real, effective, saved and filesystem uid."""
    gids: tuple[int, ...]
    """Real, effective, saved and filesystem gid."""
    threads: int
    """Its threads."""
    fds: tuple[OpenFileView, ...]
    """Its open fds, in order."""
    limits: dict[str, str]
    """Each resource limit as "soft / hard" ("1024 / 524288", "unlimited / unlimited")."""
    namespaces: dict[str, str]
    """Each namespace it is in ("net:[4026531840]"): compare them across processes."""
    cgroups: tuple[str, ...]
    """Its cgroups, as /proc/PID/cgroup lists them."""
    capabilities: dict[str, str]
    """CapInh, CapPrm, CapEff, CapBnd and CapAmb, as hex masks."""
    seccomp: str
    """disabled, strict or filter."""
    no_new_privs: bool
    """Whether it (and what it runs) can no longer gain privileges."""
    environment: dict[str, str]
    """Its environment; values of names that look secret (TOKEN, PASSWORD, KEY, ...)
    are shown as "***"."""
    gone: bool
    """It exited while it was read: what could not be read is empty."""


class InspectView(View):
    """One snapshot of an instance's process tree (`corral inspect`)."""

    name: str
    """The instance."""
    program: str
    """Its program."""
    state: str
    """Its state when the snapshot was taken."""
    pid: int | None
    """The pid of the process corral started, while it has one."""
    processes: tuple[ProcessView, ...]
    """Every live member of its tree (the membership stop acts on), root first."""
    cgroup: dict[str, int | float | None] | None
    """Usage read from its cgroup (None without cgroup limits or when not live)."""
    notes: tuple[str, ...]
    """What the snapshot could not include, and why."""


class ExposureView(View):
    """One check of `corral security`: a way out of the sandbox, open or closed."""

    check: str
    """A short, stable name ("root", "cap-sys-admin", "namespace-net")."""
    description: str
    """What was found, in words."""
    exposed: bool
    """Whether this way is open."""
    weight: int
    """How much it counts towards the score."""
    key: str
    """The key under [programs.NAME] that closes it."""
    source: str
    """running: read from the live process; config: from the sandbox spec."""


class SecurityView(View):
    """How exposed an instance is (`corral security`): every check and a score."""

    name: str
    """The instance."""
    program: str
    """Its program."""
    pid: int | None
    """The process the running checks were read from, while it has one."""
    score: float
    """0.0 (every check closed) to 10.0 (every check open): the open share of the weight."""
    rating: str
    """OK (<= 2), MEDIUM (<= 5), EXPOSED (<= 8) or UNSAFE."""
    exposures: tuple[ExposureView, ...]
    """Every check, open ones first, heaviest first."""
    notes: tuple[str, ...]
    """What the score leaves out, and why."""


class AlertView(View):
    """One alert firing now: a rule whose condition holds for one instance."""

    alert: str
    """The rule's name ([alerts.NAME], or PROGRAM.restart_on.METRIC)."""
    instance: str
    """The instance it fires for."""
    program: str
    """Its program."""
    condition: str
    """The rule's condition, as written."""
    since: float
    """When the condition began to hold (or first occurred), seconds since the epoch."""
    fired_at: float
    """When the rule fired, seconds since the epoch."""
    value: float | str | None
    """The last value seen: a metric's figure, a state, an exit reason or a log line."""
    count: int
    """Occurrences since it fired (exit and log rules; 1 for the others)."""
    actions: tuple[str, ...]
    """What the rule does: restart, stop, signal, command, webhook, event."""


class AlertsView(View):
    """What fires now, and how the alerts' actions have fared (`corral alerts`)."""

    rules: int
    """Rules in the config (restart_on entries included)."""
    firing: tuple[AlertView, ...]
    """Every alert firing now, by alert then instance."""
    actions: dict[str, int]
    """Counts since the daemon started: webhooks delivered, failed, retried and dropped;
    commands run, failed and dropped; restarts done and refused by the start limit."""


def to_json(view: View) -> dict[str, Any]:
    """The JSON object of a view: nested views become objects, tuples lists."""
    data = json_fields(view)
    for name in _nested_fields(type(view)):
        data[name] = _encode(data[name])
    return data


def json_fields(view: object) -> dict[str, Any]:
    """A view's fields by name, nested views left as they are: the `default` of a JSON
    encoder, which calls it again for each nested view it meets. The text is what
    `to_json` gives, without its whole tree of dicts built first (a status reply is
    encoded a slice of instances at a time: `Response.json`)."""
    if not isinstance(view, View):
        raise TypeError(f"{type(view).__name__} is not JSON serializable")
    values = view.__dict__
    return {name: values[name] for name in view._fields}


def _encode(value: object) -> object:
    if isinstance(value, View):
        return to_json(value)
    if isinstance(value, tuple):
        return [_encode(item) for item in value]
    return value


def _nested_fields(cls: type[View]) -> tuple[str, ...]:
    """The fields of `cls` that may hold views or tuples: the only ones to encode further."""
    found = _NESTED_FIELDS.get(cls)
    if found is None:
        annotations = inspect.get_annotations(cls)
        found = tuple(
            n for n in cls._fields if "View" in annotations[n] or "tuple" in annotations[n]
        )
        _NESTED_FIELDS[cls] = found
    return found


_NESTED_FIELDS: dict[type[View], tuple[str, ...]] = {}
"""View type -> its fields annotated with a view or a tuple (worked out on first use)."""


def from_json(cls: type[T], data: object) -> T:
    """The view of type `cls` in a decoded JSON reply; ValueError naming what is missing.

    Nested views and tuples of views are rebuilt; other values are taken as sent (the
    daemon sends what `to_json` made, and the API tests check it against the schema).
    """
    if not isinstance(data, Mapping):
        raise ValueError(f"{cls.__name__}: expected an object, got {type(data).__name__}")
    values: dict[str, object] = {}
    for name in cls._fields:
        if name not in data:
            if name in cls.__dict__:  # a field with a default (newer than the sender): the default
                continue
            raise ValueError(f"{cls.__name__}: the reply has no {name!r}")
        values[name] = _decode(_NESTED.get((cls.__name__, name)), data[name])
    return cls(**values)


def _decode(nested: tuple[type[View], bool] | None, value: object) -> object:
    if nested is None or value is None:
        return tuple(value) if isinstance(value, list) else value
    kind, many = nested
    if many:
        if not isinstance(value, list):
            raise ValueError(f"expected a list of {kind.__name__}, got {type(value).__name__}")
        return tuple(from_json(kind, item) for item in value)
    return from_json(kind, value)


_NESTED: dict[tuple[str, str], tuple[type[View], bool]] = {
    ("InstanceView", "sample"): (SampleView, False),
    ("InstanceView", "tree"): (TreeView, False),
    ("InstanceView", "notify"): (NotifyView, False),
    ("InstanceView", "health"): (HealthView, False),
    ("HealthView", "results"): (HealthResultView, True),
    ("DaemonView", "sampler"): (SamplerView, False),
    ("DaemonView", "sockets"): (SocketView, True),
    ("StatusView", "daemon"): (DaemonView, False),
    ("StatusView", "instances"): (InstanceView, True),
    ("ProcessView", "fds"): (OpenFileView, True),
    ("InspectView", "processes"): (ProcessView, True),
    ("SecurityView", "exposures"): (ExposureView, True),
    ("AlertsView", "firing"): (AlertView, True),
}
"""(view, field) -> the view type it holds and whether a tuple of them: what `from_json`
rebuilds. Written out because resolving annotations at run time costs the CLI its
start-up (a test checks this table against the annotations)."""
