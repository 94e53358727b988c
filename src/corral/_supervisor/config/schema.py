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

from corral._lifecycle.policy import RESTART_MODES, RestartPolicy, StartLimit
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
from corral._supervisor.config.kinds import (
    ADDRESS,
    BOOLEAN,
    COMMAND,
    ENVIRONMENT,
    EXIT_CODES,
    PATH,
    SIGNAL,
    SIZE,
    Invalid,
    Kind,
    Problem,
    choice,
    described,
    did_you_mean,
    integer,
    invalid,
    number,
)
from corral._supervisor.config.positions import KeyPath, format_key
from corral._supervisor.config.sandbox import SANDBOX
from corral._supervisor.config.sandbox_values import GROUP
from corral._supervisor.config.secrets import (
    DEFAULT_TOKEN_NAME,
    TOKENS,
    check_private,
    read_token,
)
from corral._supervisor.config.settings import (
    MIN_INTERVAL,
    ApiToken,
    Config,
    DaemonSettings,
    MetricsSettings,
)
from corral._supervisor.config.table import (
    Key,
    Table,
    as_table,
    build_spec,
    collect,
    construct,
)
from corral._supervisor.model.program import LogPolicy, Program

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
        Key("command", COMMAND, ProcessSpec, "argv", required=True),
        Key("numprocs", integer(1), Program),
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
            ENVIRONMENT,
            ProcessSpec,
            "env_add",
            note="Kept sorted by name, so reordering the table is not a change on reload.",
        ),
        Key("autostart", BOOLEAN, Program),
        Key("restart", choice(RESTART_MODES), RestartPolicy, "mode"),
        Key("exit_codes", EXIT_CODES, RestartPolicy),
        Key("start_seconds", SECONDS, RestartPolicy),
        Key("backoff", BACKOFF, RestartPolicy),
        Key("start_limit", START_LIMIT, RestartPolicy),
        Key("stop_signal", SIGNAL, ProcessSpec),
        Key("stop_timeout", SECONDS, Program),
        Key("priority", integer(), Program),
        Key("logs", LOGS, Program),
        Key("sandbox", SANDBOX, ProcessSpec),
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

TOP_LEVEL = ("daemon", "metrics", "programs")


def build_config(data: Mapping[str, object], *, path: str) -> Config:
    """The whole `Config` from parsed TOML, or `Invalid` with every problem found."""
    problems = [_unknown_key(TOP_LEVEL, (name,)) for name in data if name not in TOP_LEVEL]
    daemon = collect(problems, lambda: build_daemon(data.get("daemon", {}), path))
    context = _Context(config_dir(path), daemon.log_timestamps if daemon else True)
    programs = collect(problems, lambda: build_programs(data.get("programs", {}), context))
    metrics = collect(problems, lambda: build_metrics(data.get("metrics", {})))
    if problems or daemon is None or programs is None or metrics is None:
        raise Invalid(problems)
    return Config(path=path, daemon=daemon, programs=programs, metrics=metrics)


def build_metrics(raw: object) -> MetricsSettings:
    """The [metrics] table."""
    values = check_table(METRICS, raw, ("metrics",))
    interval = _get(values, "interval", 1.0)
    if interval != 0 and interval < MIN_INTERVAL:
        expected = f"0 (off) or at least {MIN_INTERVAL:g} seconds"
        raise invalid(("metrics", "interval"), expected, described(interval))
    return cast(MetricsSettings, construct(METRICS, values, ("metrics",), {}))


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
    for key in PROGRAM.keys:
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
    parts[Program]["restart"] = build_spec(RestartPolicy, parts[RestartPolicy], path, "program")
    return build_spec(Program, parts[Program], path, "program")


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
