"""What a config file yields: the daemon's own settings and the programs, as values.

Both are frozen and compared by value, so a reload can diff an old `Config`
against a new one. load.py builds them and re-exports them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from corral._errors import InvalidSpec
from corral._observe.alerts.rules import Rule
from corral._supervisor.config.listeners import ListenerSpec
from corral._supervisor.model.program import Program
from corral._supervisor.model.sockets import SocketSpec


@dataclass(frozen=True, slots=True)
class ApiToken:
    """A bearer token the TCP listener accepts, and the name the audit log records for it."""

    name: str
    """Who holds the token, as `[[daemon.tokens]]` names it ("default" for `http_token_file`)."""
    secret: str = field(repr=False)
    """The token itself: visible ASCII, at least MIN_TOKEN_BYTES long."""


MIN_TOKEN_BYTES = 16
"""A shorter token is refused at load: 16 random bytes are beyond guessing over a socket."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DaemonSettings:
    """The daemon's own settings: where it listens, logs and checkpoints."""

    socket: str
    """The unix socket the HTTP API listens on (mode 0600)."""
    log_dir: str
    """Directory for the programs' log files, one file per instance and stream."""
    state_file: str
    """Checkpoint of what runs (the daemon, and each live instance's process tree), kept
    current and removed at a clean shutdown; a daemon that finds it left by one that died
    ends the programs still running there before starting its own (docs/daemon.md)."""
    audit_log: str
    """JSON lines, one per mutating API call and per refused request: when, who, what and
    the result (docs/security.md). Created with mode 0600; `corral audit` reads it."""
    log_timestamps: bool = True
    """Default for every program's logs.timestamps."""
    log_group: str | int | None = None
    """The group that may read the log files (they are 0640, in a 0750 directory when the
    daemon creates it); unset, the daemon's own group, so only root reads them."""
    http_listen: str | None = None
    """Also serve the API on this TCP address ("127.0.0.1:9180"), for Prometheus and
    remote clients; every request must carry `Authorization: Bearer TOKEN`."""
    http_tokens: tuple[ApiToken, ...] = ()
    """The bearer tokens the TCP listener accepts, read from their files at load."""
    tls_cert_file: str | None = None
    """PEM certificate chain the TCP listener presents: with `tls_key_file`, the listener
    speaks TLS (HTTPS) instead of plaintext HTTP."""
    tls_key_file: str | None = None
    """PEM private key of `tls_cert_file`; like a token file, only the daemon's user may
    read it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricsSettings:
    """How often the daemon samples its programs' resource use, and how much it keeps."""

    interval: float = 5.0
    """Seconds between samples of every running instance's CPU %, memory and process
    count (0 turns sampling off; status then shows CPU as the average since start)."""
    history: int = 120
    """Samples kept per instance for `corral metrics NAME --history` and the API
    (120 at 5 s is the last 10 minutes; about 12 bytes a sample)."""

    def __post_init__(self) -> None:
        if self.interval != 0 and self.interval < MIN_INTERVAL:
            raise InvalidSpec(f"interval must be 0 (off) or at least {MIN_INTERVAL:g} seconds")
        if self.history < 1:
            raise InvalidSpec("history must be at least 1")


MIN_INTERVAL = 0.1
"""Shorter intervals would let sampling, not the programs, dominate the daemon's CPU."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CompatSettings:
    """Protocols of other process managers the daemon also speaks (docs/supervisord.md)."""

    supervisord: bool = False
    """Serve supervisord's XML-RPC interface at `/RPC2` (and its `/logtail` and
    `/mainlogtail` pages), so supervisorctl and the tools built on it drive this daemon;
    the programs then see the SUPERVISOR_* environment variables supervisord sets."""


@dataclass(frozen=True, slots=True, kw_only=True)
class WebSettings:
    """The web dashboard (docs/web.md): off unless asked for."""

    enabled: bool = False
    """Serve the dashboard at `/` on the TCP listener (`http_listen`), behind a login with
    one of its tokens; a non-loopback listener needs TLS. Read when the daemon starts."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    """A whole validated config file: built all at once or not at all."""

    path: str
    """The config file, absolute."""
    daemon: DaemonSettings
    """The [daemon] table."""
    metrics: MetricsSettings = MetricsSettings()
    """The [metrics] table."""
    web: WebSettings = WebSettings()
    """The [web] table."""
    programs: tuple[Program, ...]
    """Every [programs.NAME] table, ordered by (priority, name): the start order."""
    sockets: tuple[SocketSpec, ...] = ()
    """Every [sockets.NAME] table, by name."""
    compat: CompatSettings = CompatSettings()
    """The [compat] table."""
    alerts: tuple[Rule, ...] = ()
    """Every [alerts.NAME] rule, then those the programs' `restart_on` stand for."""
    listeners: tuple[ListenerSpec, ...] = ()
    """Every [listeners.NAME] table, by name (docs/supervisord.md, Event listeners)."""

    def program_map(self) -> dict[str, Program]:
        """Programs by name, in start order."""
        return {program.name: program for program in self.programs}
