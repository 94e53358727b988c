"""The config schema as data: every table, its keys, their kinds and the spec fields they fill.

These tables drive everything a config key does: validation (unknown keys with a
"did you mean", types, bounds, required keys), building the `Program` objects,
and the generated reference (docs/config-reference.md), whose descriptions are
the docstrings of the spec fields unless a key gives config-specific words.
Every problem in a file is collected, so one run reports them all.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar, cast

from corral._lifecycle.health import ON_UNHEALTHY, HealthCheck
from corral._lifecycle.policy import NOTIFY_MODES, RESTART_MODES, RestartPolicy, StartLimit
from corral._paths import (
    AUDIT_LOG_NAME,
    DAEMON_PATH_KEYS,
    DEFAULT_LOG_DIR,
    DEFAULT_SOCKET,
    STATE_FILE_NAME,
    DaemonPaths,
    config_dir,
    daemon_paths,
    resolve,
)
from corral._platform import max_unix_socket_path
from corral._process.retry import Backoff
from corral._process.spec import ProcessSpec
from corral._supervisor.config.alerts import RESTART_ON, build_alerts
from corral._supervisor.config.kinds import (
    ADDRESS,
    BOOLEAN,
    COMMAND,
    DEPENDS_ON,
    ENVIRONMENT,
    EXIT_CODES,
    LISTEN,
    NAMES,
    PATH,
    SIGNAL,
    SIZE,
    TEXT,
    Invalid,
    Kind,
    Problem,
    choice,
    described,
    did_you_mean,
    integer,
    invalid,
    number,
    split_address,
    with_index,
)
from corral._supervisor.config.listeners import build_listeners
from corral._supervisor.config.positions import KeyPath, format_key
from corral._supervisor.config.sandbox import SANDBOX
from corral._supervisor.config.sandbox_values import GROUP, MODE
from corral._supervisor.config.secrets import (
    DEFAULT_TOKEN_NAME,
    TOKENS,
    check_private,
    read_token,
)
from corral._supervisor.config.settings import (
    MIN_INTERVAL,
    ApiToken,
    CompatSettings,
    Config,
    DaemonSettings,
    MetricsSettings,
    WebSettings,
)
from corral._supervisor.config.table import (
    Key,
    Table,
    as_table,
    build_spec,
    collect,
    construct,
)
from corral._supervisor.model.dependencies import FAILURE_POLICIES, find_cycle
from corral._supervisor.model.program import LogPolicy, Program
from corral._supervisor.model.sockets import MAX_BACKLOG, SocketSpec

T = TypeVar("T")

DAEMON_STDIO: Mapping[str, str] = {"stdin": "devnull", "stdout": "capture", "stderr": "capture"}
"""Programs read /dev/null and the daemon captures their output into log files."""


SECONDS = number(0, what="seconds")

BACKOFF = Table(
    "backoff",
    Backoff,
    (
        Key("initial", SECONDS, Backoff),
        Key("factor", number(1), Backoff),
        Key("max", SECONDS, Backoff),
        Key("jitter", number(0, 1), Backoff),
    ),
    doc="The delay before each restart of an instance that failed to start.",
)

START_LIMIT = Table(
    "start_limit",
    StartLimit,
    (Key("burst", integer(1), StartLimit), Key("interval", SECONDS, StartLimit)),
    doc="How many starts in a window an instance gets before it is left in FATAL.",
)

HEALTH = Table(
    "health",
    HealthCheck,
    (
        Key("exec", COMMAND, HealthCheck),
        Key("http", TEXT, HealthCheck),
        Key("tcp", TEXT, HealthCheck),
        Key("interval", SECONDS, HealthCheck),
        Key("timeout", SECONDS, HealthCheck),
        Key("retries", integer(1), HealthCheck),
        Key("start_period", SECONDS, HealthCheck),
        Key("start_interval", SECONDS, HealthCheck),
        Key("status", TEXT, HealthCheck),
        Key("body", TEXT, HealthCheck, default="unset"),
    ),
    doc=(
        "A liveness probe of each instance, with Docker's keys and defaults: exactly one of "
        "`exec`, `http`, `tcp`. How each kind passes and fails, and how failures are "
        "counted: docs/daemon.md, Health checks. Absent: no probe."
    ),
    optional=True,
)

LOGS = Table(
    "logs",
    LogPolicy,
    (
        Key("timestamps", BOOLEAN, LogPolicy, default="`[daemon]` `log_timestamps`"),
        Key("max_bytes", SIZE, LogPolicy),
        Key("backups", integer(0), LogPolicy),
    ),
    doc="How the instance's stdout and stderr are written under the daemon's log_dir.",
)

PROGRAM = Table(
    "programs.NAME",
    Program,
    (
        Key(
            "command",
            with_index(COMMAND),
            ProcessSpec,
            "argv",
            required=True,
            note=(
                "`{index}` in an argument becomes the instance's number (0 for NAME:0), "
                "and `{9100 + index}` or `{index - 1}` that number plus or minus a constant: "
                "one port per instance. Braces that name `index` may hold only `index`, "
                "integers, `+` and `-` (anything else is an error when the file is read); "
                "`{{index}}` is the text `{index}`; every other brace is left as it is."
            ),
        ),
        Key("numprocs", integer(1), Program),
        Key("max_unavailable", integer(1), Program),
        Key(
            "depends_on",
            DEPENDS_ON,
            Program,
            doc=(
                "Programs to start first, each with the condition it must reach: "
                '"started" (every instance RUNNING, which with `notify` means ready), '
                '"healthy" (RUNNING, and its health check passing where it has one) or '
                '"completed" (every instance EXITED with an expected code: a one-shot). '
                "`corral start` of this program starts them first; stopping one of them "
                "stops this program first. A name no program has, the program itself, or "
                "a cycle is an error when the file is read."
            ),
        ),
        Key(
            "on_dependency_failure",
            choice(FAILURE_POLICIES),
            Program,
            doc=(
                "When a dependency fails while this program runs (an instance of it goes "
                'FATAL or exits unexpectedly): "stop" this program, "restart" it once the '
                'dependency is back, or "ignore" it.'
            ),
        ),
        Key(
            "directory",
            PATH,
            ProcessSpec,
            "cwd",
            default="the daemon's directory",
            doc=(
                "Working directory of the program; corral does not check it exists until it "
                "starts the program."
            ),
        ),
        Key(
            "environment",
            with_index(ENVIRONMENT),
            ProcessSpec,
            "env_add",
            note=(
                "Kept sorted by name, so reordering the table is not a change on reload. "
                "Values take `{index}` arithmetic as `command` does (names do not)."
            ),
        ),
        Key("autostart", BOOLEAN, Program),
        Key("restart", choice(RESTART_MODES), RestartPolicy, "mode"),
        Key("exit_codes", EXIT_CODES, RestartPolicy),
        Key("start_seconds", SECONDS, RestartPolicy),
        Key("backoff", BACKOFF, RestartPolicy),
        Key("start_limit", START_LIMIT, RestartPolicy),
        Key("notify", choice(NOTIFY_MODES), RestartPolicy, note="See docs/daemon.md, Readiness."),
        Key("ready_timeout", SECONDS, RestartPolicy),
        Key("watchdog", SECONDS, RestartPolicy),
        Key("health", HEALTH, RestartPolicy),
        Key("on_unhealthy", choice(ON_UNHEALTHY), RestartPolicy),
        Key("stop_signal", SIGNAL, ProcessSpec),
        Key("stop_timeout", SECONDS, Program),
        Key("priority", integer(), Program),
        Key("logs", LOGS, Program),
        Key("sandbox", SANDBOX, ProcessSpec),
        Key(
            "sockets",
            NAMES,
            Program,
            doc=(
                "Names of `[sockets.NAME]` tables of this file, handed to every instance as "
                "fds 3, 4, ... in this order, with LISTEN_FDS, LISTEN_FDNAMES and LISTEN_PID "
                "set (systemd's socket activation). Fds of the program's own start at 3 + "
                "the number of its sockets."
            ),
        ),
        Key("restart_on", RESTART_ON, Program, note="See docs/alerts.md, restart_on."),
    ),
    doc=(
        "One table per program; NAME (letters, digits, _ . -) names the program and its "
        "instances NAME:0 ... NAME:N-1. Only `command` is required. NAME must be short "
        "enough that its longest log file name (NAME.INDEX.stdout.log.BACKUPS) fits the "
        "255 bytes of a file name, and no argument of `command` may hold a NUL byte: "
        "both are refused when the file is read."
    ),
    renamed={
        "autorestart": "restart",
        "startsecs": "start_seconds",
        "startretries": "start_limit",
        "stopsignal": "stop_signal",
        "stopwaitsecs": "stop_timeout",
        "exitcodes": "exit_codes",
    },
)

DAEMON = Table(
    "daemon",
    DaemonSettings,
    (
        Key(
            "socket",
            PATH,
            DaemonSettings,
            default=f'`"{DEFAULT_SOCKET}"` (beside the config file)',
            note=(
                "Resolved, it must fit a unix socket address: at most 107 bytes on Linux "
                "(corral asks the platform); a longer one, the default too, is an error "
                "when the file is read. "
                "`corral -c FILE` finds the daemon through this key and its default."
            ),
        ),
        Key(
            "log_dir",
            PATH,
            DaemonSettings,
            default=f'`"{DEFAULT_LOG_DIR}"` (beside the config file)',
        ),
        Key(
            "state_file",
            PATH,
            DaemonSettings,
            default=f'`"{STATE_FILE_NAME}"` beside the socket',
            note=(
                "Beside the socket by default: both describe the running daemon, and a "
                "runtime directory such as /run/corral is cleared by a reboot, exactly "
                "when the programs it names are gone too."
            ),
        ),
        Key(
            "audit_log",
            PATH,
            DaemonSettings,
            default=f'`"{AUDIT_LOG_NAME}"` beside the state file',
        ),
        Key("log_timestamps", BOOLEAN, DaemonSettings),
        Key("log_group", GROUP, DaemonSettings),
        Key("http_listen", ADDRESS, DaemonSettings),
        Key(
            "http_token_file",
            PATH,
            DaemonSettings,
            "http_tokens",
            default="unset",
            doc=(
                "A file holding one bearer token the TCP listener accepts, named "
                f'"{DEFAULT_TOKEN_NAME}" in the audit log (surrounding whitespace ignored). '
                "Read when the config is loaded; refused unless it is a regular file owned "
                "by the daemon's user that group and others cannot read or write, holding "
                "at least 16 visible ASCII characters."
            ),
        ),
        Key(
            "tokens",
            TOKENS,
            DaemonSettings,
            "http_tokens",
            default="unset",
            doc=(
                "Named bearer tokens, `[[daemon.tokens]]` tables with `name` and `file`: "
                "each file is checked as `http_token_file` is, and the audit log records "
                "the name of the token a TCP request carried. `http_listen` needs at least "
                "one token, from this key or `http_token_file`."
            ),
        ),
        Key("tls_cert_file", PATH, DaemonSettings, note="Set both TLS keys or neither."),
        Key("tls_key_file", PATH, DaemonSettings),
    ),
    doc=(
        "The daemon's own settings. Relative paths resolve against the config file's "
        "directory and `~` expands, for the daemon and for `corral -c FILE` alike."
    ),
)

METRICS = Table(
    "metrics",
    MetricsSettings,
    (
        Key("interval", number(0, what="seconds"), MetricsSettings),
        Key("history", integer(1, 1_000_000), MetricsSettings),
    ),
    doc=(
        "Resource sampling of every running instance: what `corral metrics`, the "
        "`/v1/metrics` API and the Prometheus endpoint `/metrics` report "
        "([metrics.md](metrics.md))."
    ),
)

SOCKET = Table(
    "sockets.NAME",
    SocketSpec,
    (
        Key(
            "listen",
            LISTEN,
            SocketSpec,
            required=True,
            doc=(
                'A TCP address, "127.0.0.1:8080" or "[::1]:8080", or a unix socket path; a '
                "relative path resolves against the config file's directory."
            ),
            note=(
                "Bound when the file is read, by `corral daemon` and by `reload`: an "
                "address in use, or a unix path longer than 107 bytes, is an error at this "
                "key (the daemon exits 2; a reload is refused and the running config kept). "
                "A unix socket file nobody answers on is replaced."
            ),
        ),
        Key("backlog", integer(1, MAX_BACKLOG), SocketSpec),
        Key("mode", MODE, SocketSpec),
    ),
    doc=(
        "A listening socket the daemon owns: bound once and held open while the programs "
        "that list it in `sockets` restart, so a connection made meanwhile waits in the "
        "backlog. Each instance gets it as systemd socket activation does (LISTEN_FDS, "
        "LISTEN_PID, LISTEN_FDNAMES = NAME; fds from 3 in the order of its `sockets`). A "
        "reload keeps an unchanged socket open; a changed backlog or mode is applied to "
        "it; a changed `listen` is a new socket and restarts the programs that use it."
    ),
)

COMPAT = Table(
    "compat",
    CompatSettings,
    (Key("supervisord", BOOLEAN, CompatSettings),),
    doc="Compatibility with other process managers' clients ([supervisord.md](supervisord.md)).",
)


WEB = Table(
    "web",
    WebSettings,
    (Key("enabled", BOOLEAN, WebSettings),),
    doc=(
        "The web dashboard ([web.md](web.md)): served at `/` on the TCP listener, behind "
        "a login with one of its tokens. It needs `http_listen`, and TLS unless the "
        "listener is on a loopback address."
    ),
)

TOP_LEVEL = ("alerts", "compat", "daemon", "listeners", "metrics", "programs", "sockets", "web")


def build_config(data: Mapping[str, object], *, path: str) -> Config:
    """The whole `Config` from parsed TOML, or `Invalid` with every problem found."""
    problems = [_unknown_key(TOP_LEVEL, (name,)) for name in data if name not in TOP_LEVEL]
    daemon = collect(problems, lambda: build_daemon(data.get("daemon", {}), path))
    context = _Context(config_dir(path), daemon.log_timestamps if daemon else True)
    sockets = collect(problems, lambda: build_sockets(data.get("sockets", {}), context))
    programs = collect(problems, lambda: build_programs(data.get("programs", {}), context))
    metrics = collect(problems, lambda: build_metrics(data.get("metrics", {})))
    compat = collect(problems, lambda: build_compat(data.get("compat", {})))
    web = collect(problems, lambda: build_web(data.get("web", {}), daemon))
    if programs is not None and sockets is not None:
        problems += _unknown_sockets(programs, {socket.name for socket in sockets})
    if programs is not None:
        problems += _dependency_problems(programs)
    raw_alerts = data.get("alerts", {})
    alerts = collect(problems, lambda: build_alerts(raw_alerts, programs or (), check_table))
    raw_listeners = data.get("listeners", {})
    listeners = collect(problems, lambda: build_listeners(raw_listeners, check_table))
    if problems or daemon is None or programs is None or metrics is None or sockets is None:
        raise Invalid(problems)
    return Config(
        path=path,
        daemon=daemon,
        programs=programs,
        metrics=metrics,
        sockets=sockets,
        compat=compat or CompatSettings(),
        alerts=alerts or (),
        listeners=listeners or (),
        web=web or WebSettings(),
    )


def build_sockets(raw: object, context: _Context) -> tuple[SocketSpec, ...]:
    """Every [sockets.NAME] table, by name; a unix path resolved and checked for bind()."""
    if not isinstance(raw, dict):
        raise invalid(("sockets",), "a table of sockets: [sockets.NAME]", described(raw))
    problems: list[Problem] = []
    built = [collect(problems, partial(build_socket, name, raw[name], context)) for name in raw]
    if problems:
        raise Invalid(problems)
    return tuple(sorted(cast(list[SocketSpec], built), key=lambda socket: socket.name))


def build_socket(name: str, raw: object, context: _Context) -> SocketSpec:
    """One [sockets.NAME] table."""
    path: KeyPath = ("sockets", name)
    values = check_table(SOCKET, raw, path)
    listen = cast(str, values["listen"])
    if "/" in listen:
        values["listen"] = listen = resolve(context.base_dir, listen)
        limit, length = max_unix_socket_path(), len(os.fsencode(listen))
        if length > limit:
            expected = f"a unix socket path of at most {limit} bytes"
            raise invalid((*path, "listen"), expected, f"{length} bytes: {listen}")
    return cast(SocketSpec, construct(SOCKET, values, path, {"name": name}))


def _unknown_sockets(programs: tuple[Program, ...], defined: set[str]) -> list[Problem]:
    """A problem at each name in a program's `sockets` that no [sockets.NAME] defines."""
    problems = []
    for program in programs:
        for index, name in enumerate(program.sockets):
            if name not in defined:
                where = ("programs", program.name, "sockets", index)
                expected = "the name of a [sockets.NAME] table" + (
                    f": {', '.join(sorted(defined))}" if defined else " (there is none)"
                )
                problems.append(Problem(where, expected, repr(name), did_you_mean(name, defined)))
    return problems


def _dependency_problems(programs: tuple[Program, ...]) -> list[Problem]:
    """A problem at each `depends_on` name no program has; else at a cycle's first edge."""
    defined = {program.name: program for program in programs}
    problems = [
        Problem(
            ("programs", program.name, "depends_on", name),
            "the name of a [programs.NAME] table",
            repr(name),
            did_you_mean(name, defined),
        )
        for program in programs
        for name, _ in program.depends_on
        if name not in defined
    ]
    problems += [
        Problem(
            ("programs", program.name, "depends_on", program.name),
            "another program (a program cannot wait for itself)",
            repr(program.name),
        )
        for program in programs
        if any(name == program.name for name, _ in program.depends_on)
    ]
    if problems:
        return problems
    cycle = find_cycle(defined)
    if cycle is None:
        return []
    where = ("programs", cycle[0], "depends_on", cycle[1])
    return [Problem(where, "no dependency cycle", " -> ".join(cycle))]


def build_metrics(raw: object) -> MetricsSettings:
    """The [metrics] table."""
    values = check_table(METRICS, raw, ("metrics",))
    interval = _get(values, "interval", 1.0)
    if interval != 0 and interval < MIN_INTERVAL:
        expected = f"0 (off) or at least {MIN_INTERVAL:g} seconds"
        raise invalid(("metrics", "interval"), expected, described(interval))
    return cast(MetricsSettings, construct(METRICS, values, ("metrics",), {}))


def build_compat(raw: object) -> CompatSettings:
    """The [compat] table."""
    values = check_table(COMPAT, raw, ("compat",))
    return cast(CompatSettings, construct(COMPAT, values, ("compat",), {}))


def build_web(raw: object, daemon: DaemonSettings | None) -> WebSettings:
    """The [web] table: the dashboard needs the TCP listener, and TLS off loopback."""
    values = check_table(WEB, raw, ("web",))
    web = cast(WebSettings, construct(WEB, values, ("web",), {}))
    if not web.enabled or daemon is None:
        return web
    where: KeyPath = ("web", "enabled")
    if daemon.http_listen is None:
        hint = "the dashboard is served on the TCP listener: set [daemon] http_listen"
        raise invalid(where, "[daemon] http_listen set too", "true", hint=hint)
    host, _ = split_address(daemon.http_listen)
    if daemon.tls_cert_file is None and not _loopback(host):
        hint = "a browser would send the token and cookie in clear: set tls_cert_file"
        expected = "TLS on a listener that is not loopback"
        raise invalid(where, expected, daemon.http_listen, hint=hint)
    return web


def _loopback(host: str) -> bool:
    """Whether a listener's host is a loopback address (127.0.0.0/8, ::1, localhost)."""
    return host in {"localhost", "::1"} or (host.startswith("127.") and host.count(".") == 3)


def build_daemon(raw: object, config_file: str) -> DaemonSettings:
    """The [daemon] table, with every path made absolute (corral._paths, as the CLI does)."""
    values = check_table(DAEMON, raw, ("daemon",))
    paths = daemon_paths(
        config_file, {key: cast(str, values[key]) for key in DAEMON_PATH_KEYS if key in values}
    )
    problems: list[Problem] = []
    collect(problems, partial(check_socket_path, paths.socket, given="socket" in values))
    listen = cast("str | None", values.get("http_listen"))
    tokens = collect(problems, partial(_read_tokens, values, paths, config_dir(config_file)))
    if listen is not None and not tokens and tokens is not None:
        hint = "the TCP listener requires a bearer token: set http_token_file or [[daemon.tokens]]"
        problems.append(Problem(("daemon", "http_listen"), "a token set too", "none", hint))
    collect(problems, partial(_check_tls, paths, listen))
    if problems:
        raise Invalid(problems)
    return DaemonSettings(
        socket=paths.socket,
        log_dir=paths.log_dir,
        state_file=paths.state_file,
        audit_log=paths.audit_log,
        log_timestamps=_get(values, "log_timestamps", True),
        log_group=cast("str | int | None", values.get("log_group")),
        http_listen=listen,
        http_tokens=tokens or (),
        tls_cert_file=paths.tls_cert_file,
        tls_key_file=paths.tls_key_file,
    )


def _read_tokens(
    values: Mapping[str, object], paths: DaemonPaths, base: str
) -> tuple[ApiToken, ...]:
    """Every token the config names, read and checked (corral._supervisor.config.secrets)."""
    problems: list[Problem] = []
    found: list[ApiToken | None] = []
    if paths.http_token_file is not None:
        where: KeyPath = ("daemon", "http_token_file")
        read = partial(read_token, DEFAULT_TOKEN_NAME, paths.http_token_file, where)
        found.append(collect(problems, read))
    named = cast("tuple[tuple[str, str], ...]", values.get("tokens", ()))
    for index, (name, file) in enumerate(named):
        where = ("daemon", "tokens", index, "file")
        if name == DEFAULT_TOKEN_NAME and paths.http_token_file is not None:
            hint = f"http_token_file's token is named {DEFAULT_TOKEN_NAME}"
            problems.append(Problem((*where[:-1], "name"), "another name", repr(name), hint))
            continue
        found.append(collect(problems, partial(read_token, name, resolve(base, file), where)))
    if problems:
        raise Invalid(problems)
    return tuple(token for token in found if token is not None)


def _check_tls(paths: DaemonPaths, listen: str | None) -> None:
    """Both TLS files or neither, with a listener to use them; the key private like a token."""
    cert, key = paths.tls_cert_file, paths.tls_key_file
    if cert is None and key is None:
        return
    if cert is None or key is None:
        missing = "tls_cert_file" if cert is None else "tls_key_file"
        given = "tls_key_file" if cert is None else "tls_cert_file"
        raise invalid(("daemon", given), f"{missing} set too", hint="TLS needs both files")
    if listen is None:
        hint = "TLS is for the TCP listener: set http_listen"
        raise invalid(("daemon", "tls_cert_file"), "http_listen set too", hint=hint)
    os.close(check_private(key, ("daemon", "tls_key_file"), "a key file"))


def check_socket_path(socket: str, *, given: bool) -> None:
    """`Invalid` at `[daemon] socket` if bind() cannot take the path: AF_UNIX paths are short.

    Checked at load, so a daemon refuses to start (and a reload is refused) with a
    message naming the key, not with a traceback from bind(). `given` is false when
    the path is the default beside the config file.
    """
    limit, length = max_unix_socket_path(), len(os.fsencode(socket))
    if length <= limit:
        return
    default = f"the default, {DEFAULT_SOCKET} beside the config file: set a shorter socket"
    hint = None if given else default
    expected = f"a unix socket path of at most {limit} bytes"
    raise invalid(("daemon", "socket"), expected, f"{length} bytes: {socket}", hint)


@dataclass(frozen=True, slots=True)
class _Context:
    base_dir: str
    log_timestamps: bool


def build_programs(raw: object, context: _Context) -> tuple[Program, ...]:
    """Every [programs.NAME] table, ordered by (priority, name)."""
    if not isinstance(raw, dict):
        raise invalid(("programs",), "a table of programs: [programs.NAME]", described(raw))
    problems: list[Problem] = []
    programs = [collect(problems, partial(build_program, name, raw[name], context)) for name in raw]
    if problems:
        raise Invalid(problems)
    return tuple(sorted(cast(list[Program], programs), key=lambda p: (p.priority, p.name)))


def build_program(name: str, raw: object, context: _Context) -> Program:
    """One [programs.NAME] table as a Program; stdio belongs to the daemon's log capture."""
    path: KeyPath = ("programs", name)
    values = check_table(PROGRAM, raw, path)
    parts: dict[type[Any], dict[str, Any]] = {
        ProcessSpec: dict(DAEMON_STDIO),
        RestartPolicy: {},
        Program: {"name": name},
    }
    where: dict[str, KeyPath] = {}
    for key in PROGRAM.keys:
        if key.name in values:
            where[key.target] = (*path, key.name)
        if isinstance(key.kind, Table):
            if key.kind.optional and key.name not in values:
                continue
            nested = as_table(values.get(key.name, {}))
            defaults = {"timestamps": context.log_timestamps} if key.kind is LOGS else {}
            parts[key.spec][key.target] = construct(key.kind, nested, (*path, key.name), defaults)
        elif key.name in values:
            value = values[key.name]
            if key.kind is PATH:
                value = resolve(context.base_dir, cast(str, value))
            parts[key.spec][key.target] = value
    parts[Program]["process"] = build_spec(ProcessSpec, parts[ProcessSpec], path, "program")
    if "ready_timeout" in values and "notify" not in values:
        hint = "ready_timeout is how long a notify program has to say it is ready"
        raise invalid((*path, "ready_timeout"), "notify set too", hint=hint)
    restart = build_spec(RestartPolicy, parts[RestartPolicy], path, "program", where)
    parts[Program]["restart"] = restart
    if restart.health is not None:  # a probe target rendered for an instance is blamed on its key
        where |= {kind: (*path, "health", kind) for kind in ("exec", "http", "tcp")}
    return build_spec(Program, parts[Program], path, "program", where)


def check_table(table: Table, raw: object, path: KeyPath) -> dict[str, object]:
    """Each key's checked value by name (nested tables as dicts), or `Invalid` with all problems."""
    if not isinstance(raw, dict):
        raise invalid(path, f"a table ({table.title})", described(raw))
    problems: list[Problem] = []
    values: dict[str, object] = {}
    for name, value in raw.items():
        key = table.key(name)
        if key is None:
            problems.append(_unknown_key(table, (*path, name)))
            continue
        values[name] = collect(problems, partial(check_value, key, value, (*path, name)))
    problems += [_missing(key, (*path, key.name)) for key in table.keys if _lacks(table, raw, key)]
    if problems:
        raise Invalid(problems)
    return values


def check_value(key: Key, value: object, path: KeyPath) -> object:
    """One key's checked value; a nested table's is a dict of its checked values."""
    if isinstance(key.kind, Table):
        return check_table(key.kind, value, path)
    return key.kind.convert(value, path)


def _get(values: Mapping[str, object], name: str, default: T) -> T:
    """A checked value (its kind made it the default's type), or the default."""
    return cast(T, values.get(name, default))


def _lacks(table: Table, raw: Mapping[str, object], key: Key) -> bool:
    """A required key is missing, and no misspelling of it (reported on its own) is there."""
    if not key.required or key.name in raw:
        return False
    unknown = [str(name) for name in raw if table.key(name) is None]
    if not unknown:
        return True
    import difflib  # only for a bad config: a running daemon need not hold it (130 KiB)

    return not any(difflib.get_close_matches(name, [key.name], n=1) for name in unknown)


def _missing(key: Key, path: KeyPath) -> Problem:
    expected = key.kind.expected if isinstance(key.kind, Kind) else "a table"
    return Problem(path, expected, "nothing", f"{key.name} is required")


def _unknown_key(table: Table | tuple[str, ...], path: KeyPath) -> Problem:
    name = str(path[-1])
    known = [key.name for key in table.keys] if isinstance(table, Table) else list(table)
    renamed = table.renamed.get(name) if isinstance(table, Table) else None
    hint = f"did you mean {renamed}? ({name} is supervisord's name)" if renamed else None
    where = format_key(path[:-1]) or "the top level"
    expected = f"a key of {where}: " + ", ".join(sorted(known))
    return Problem(path, expected, f"unknown key {name!r}", hint or did_you_mean(name, known))
