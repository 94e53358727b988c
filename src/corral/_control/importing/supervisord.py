"""A supervisord config (with its includes) as a corral `Draft`.

Each `[program:x]` (and `[fcgi-program:x]`) becomes `[programs.x]`; each of its
keys maps to corral's key where one exists (`KEYS` below says which), and every
other key, section and `[group:x]` is a `Note` saying what was done with it.
Values are expanded as supervisord expands them (expand.py); `%(ENV_X)s` takes
the importing shell's environment, and the draft records each variable used.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NoReturn

from corral._control.importing import values as v
from corral._control.importing.expand import Pieces, escape, expand, first_text, index_text, varies
from corral._control.importing.ini import Entry, Section, read_config
from corral._control.importing.report import Draft, refuse

__all__ = ["convert"]

SECTION_KINDS = ("program", "fcgi-program", "group", "eventlistener", "rpcinterface", "ctlplugin")
PLAIN_SECTIONS = ("supervisord", "unix_http_server", "inet_http_server", "supervisorctl")

_LOGS_DIR = "corral writes it under [daemon] log_dir as NAME.INDEX.{stream}.log"
_DROPPED_DAEMON = {
    "logfile": (
        "dropped: corral's daemon logs to its stdout (its events); programs' logs are under log_dir"
    ),
    "logfile_maxbytes": "dropped: corral's own log is its stdout",
    "logfile_backups": "dropped: corral's own log is its stdout",
    "loglevel": "dropped: corral has no log level",
    "pidfile": (
        "dropped: corral's state file ([daemon] state_file) records the daemon and its programs"
    ),
    "nodaemon": "dropped: `corral daemon` runs in the foreground unless given --detach",
    "silent": "dropped: corral's daemon always prints its events",
    "minfds": "dropped: set sandbox.rlimits = { nofile = N } on the programs that need it",
    "minprocs": "dropped: set sandbox.rlimits = { nproc = N } on the programs that need it",
    "nocleanup": "dropped: corral removes rotated logs past logs.backups",
    "strip_ansi": "dropped: corral keeps program output as written",
    "identifier": "dropped: corral has no RPC identifier",
    "user": (
        "dropped: corral's daemon runs as the user who starts it (set sandbox.user per program)"
    ),
    "directory": "dropped: programs without directory run in the daemon's working directory",
    "umask": "dropped: set sandbox.umask per program",
}
_DROPPED_HTTP = {
    "unix_http_server": (
        "dropped: corral's API socket is [daemon] socket (default corral.sock beside the "
        "config, mode 0600); supervisord's path is not reused, so both can run side by side"
    ),
    "inet_http_server": (
        "dropped: corral's TCP listener is [daemon] http_listen, which needs a bearer token "
        "file (http_token_file); set both by hand"
    ),
}


@dataclass(slots=True)
class _Program:
    """One program section being converted."""

    draft: Draft
    name: str
    section: Section
    numprocs: int
    names: dict[str, object]
    """The expansions of this section (process_num's start included)."""
    sizes: dict[str, tuple[int, Entry]] = field(default_factory=dict)

    def put(self, key: tuple[str, ...], value: object, entry: Entry) -> None:
        self.draft.put(("programs", self.name, *key), value, entry.origin, entry.key)

    def note(self, entry: Entry, action: str) -> None:
        self.draft.note(entry.origin, entry.key, action)

    def single(self, entry: Entry, pieces: Pieces) -> str:
        """A value corral holds once for every instance: instance 0's, noted if they differ."""
        if varies(pieces) and self.numprocs > 1:
            self.note(
                entry, "approximated: corral has one value for every instance; used instance 0's"
            )
        return first_text(pieces)

    def per_instance(self, entry: Entry, pieces: Pieces) -> str:
        """A value with `{index}` arithmetic; noted where corral cannot match supervisord."""
        if self.numprocs == 1:
            return escape(first_text(pieces))
        text, exact = index_text(pieces, self.numprocs)
        if not exact:
            self.note(
                entry,
                f"approximated: corral's {{index}} is a plain number, so this is {text!r}",
            )
        return text


Handler = Callable[[_Program, Entry, Pieces], None]


def convert(path: str) -> Draft:
    """The draft of the supervisord config at `path`; `ConfigError` on input it cannot read."""
    env = {f"ENV_{name}": value for name, value in os.environ.items()}
    draft = Draft(source=os.path.abspath(path), kind="supervisord")

    def expand_include(section: Section, entry: Entry) -> str:
        names = {**env, "here": section.here, "host_node_name": platform.node()}
        return first_text(expand(entry.value, names, entry.origin, entry.key, draft.expanded))

    sections = read_config(path, expand_include)
    kinds = [(section, *_kind(section)) for section in sections]
    groups = _groups(kinds, env, draft)
    defaults: dict[str, str] = {}
    for section, kind, _ in kinds:
        if kind == "supervisord":
            defaults = _supervisord(draft, section, env)
    for section, kind, name in kinds:
        if kind in ("program", "fcgi-program"):
            _program(draft, section, kind, name, groups.get(name), env, defaults)
        elif kind in _DROPPED_HTTP:
            draft.note(section.origin, f"[{section.name}]", _DROPPED_HTTP[kind])
        elif kind == "supervisorctl":
            draft.note(
                section.origin,
                "[supervisorctl]",
                "dropped: corral's CLI finds the daemon with -c CONFIG or --socket PATH",
            )
        elif kind in ("rpcinterface", "ctlplugin"):
            draft.note(
                section.origin,
                f"[{section.name}]",
                "dropped: corral has no RPC or supervisorctl plugins",
            )
        elif kind == "eventlistener":
            draft.note(
                section.origin,
                f"[{section.name}]",
                "dropped: corral has no supervisord event listeners; the program is not imported",
            )
    if not draft.programs:
        refuse(draft.source, "at least one [program:NAME] section", "none")
    return draft


def _kind(section: Section) -> tuple[str, str]:
    """("program", "web") for [program:web]; ("supervisord", "") for [supervisord]."""
    kind, colon, name = section.name.partition(":")
    if not colon and kind in PLAIN_SECTIONS:
        return kind, ""
    if colon and kind in SECTION_KINDS and name.strip():
        return kind, name.strip()
    known = ", ".join(
        [f"[{s}]" for s in PLAIN_SECTIONS] + [f"[{k}:NAME]" for k in SECTION_KINDS] + ["[include]"]
    )
    refuse(section.origin, f"a section supervisord knows: {known}", f"[{section.name}]")


def _groups(
    kinds: list[tuple[Section, str, str]], env: dict[str, str], draft: Draft
) -> dict[str, str]:
    """Program name -> its [group:x]'s name; each group noted, a missing member refused."""
    programs = {name for _, kind, name in kinds if kind in ("program", "fcgi-program")}
    member_of: dict[str, str] = {}
    for section, kind, group in kinds:
        if kind != "group":
            continue
        entry = section.entries.get("programs")
        if entry is None:
            refuse(
                section.origin, f"a programs = ... key in [{section.name}]", "nothing", "programs"
            )
        for key, other in section.entries.items():
            if key not in ("programs", "priority"):
                refuse(other.origin, "programs or priority in a group", f"unknown key {key!r}", key)
        names = {**env, "here": section.here, "host_node_name": platform.node()}
        listed = first_text(expand(entry.value, names, entry.origin, "programs", draft.expanded))
        members = [name.strip() for name in listed.split(",") if name.strip()]
        for name in members:
            if name not in programs:
                refuse(entry.origin, "names of [program:NAME] sections", repr(name), "programs")
            member_of[name] = group
        draft.note(
            section.origin,
            f"[{section.name}]",
            f"dropped: corral has no groups; {', '.join(members)} are programs of their own "
            f"(supervisorctl's {group}:NAME is corral's NAME); %(group_name)s is {group!r}",
        )
        if "priority" in section.entries:
            draft.note(
                section.entries["priority"].origin,
                "priority",
                "dropped: each program's own priority orders it",
            )
    return member_of


def _supervisord(draft: Draft, section: Section, env: dict[str, str]) -> dict[str, str]:
    """The [supervisord] section: childlogdir is log_dir; its environment every program's."""
    names = {**env, "here": section.here, "host_node_name": platform.node()}
    environment: dict[str, str] = {}
    for key, entry in section.entries.items():
        text = first_text(expand(entry.value, names, entry.origin, key, draft.expanded))
        if key == "childlogdir":
            directory = os.path.join(section.here, os.path.expanduser(text))
            draft.put(("daemon", "log_dir"), directory, entry.origin, key)
            draft.note(
                entry.origin,
                key,
                "mapped to [daemon] log_dir: every program's logs go there as "
                "NAME.INDEX.stdout.log",
            )
        elif key == "environment":
            environment = v.key_values(text, entry.origin, key)
            draft.note(
                entry.origin,
                key,
                "approximated: added to every program's environment (a program's own value wins)",
            )
        elif key in _DROPPED_DAEMON:
            draft.note(entry.origin, key, _DROPPED_DAEMON[key])
        else:
            _unknown(entry, [*_DROPPED_DAEMON, "childlogdir", "environment"], "[supervisord]")
    return environment


def _unknown(entry: Entry, known: list[str], where: str) -> NoReturn:
    import difflib

    close = difflib.get_close_matches(entry.key, known, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    refuse(
        entry.origin,
        f"a key supervisord knows in {where}",
        f"unknown key {entry.key!r}{hint}",
        entry.key,
    )


def _program(  # noqa: PLR0917 - one call site, each argument a different thing
    draft: Draft,
    section: Section,
    kind: str,
    name: str,
    group: str | None,
    env: dict[str, str],
    defaults: dict[str, str],
) -> None:
    entries = section.entries
    base: dict[str, object] = {
        **env,
        "here": section.here,
        "program_name": name,
        "group_name": group or name,
        "host_node_name": platform.node(),
    }

    def number(key: str, default: int, minimum: int) -> int:
        entry = entries.get(key)
        if entry is None:
            return default
        text = first_text(expand(entry.value, base, entry.origin, key, draft.expanded))
        return v.integer(text, entry.origin, key, minimum)

    numprocs, start = number("numprocs", 1, 1), number("numprocs_start", 0, 0)
    names = {**base, "numprocs": numprocs, "process_num": start}
    corral_name = v.program_name(name)
    if corral_name in draft.programs:
        refuse(
            section.origin,
            "program names that stay distinct in corral",
            f"{name!r} becomes {corral_name!r}, taken already",
        )
    if corral_name != name:
        draft.note(
            section.origin,
            f"[{section.name}]",
            f"renamed to {corral_name!r}: corral's names are letters, digits, _ . -",
        )
    if "command" not in entries:
        refuse(section.origin, f"a command = ... key in [{section.name}]", "nothing", "command")
    program = _Program(draft, corral_name, section, numprocs, names)
    draft.programs[corral_name] = {}
    keys = KEYS if kind == "program" else {**KEYS, **FCGI_KEYS}
    for key, entry in entries.items():
        handler = keys.get(key)
        if handler is None:
            _unknown(entry, list(keys), f"[{section.name}]")
        handler(program, entry, expand(entry.value, names, entry.origin, key, draft.expanded))
    _logs(program)
    if defaults:
        own = draft.programs[corral_name].get("environment", {})
        merged = (
            {**{k: escape(x) for k, x in defaults.items()}, **own}
            if isinstance(own, dict)
            else defaults
        )
        draft.programs[corral_name]["environment"] = dict(sorted(merged.items()))
    if kind == "fcgi-program":
        _fcgi(program)


def _command(p: _Program, entry: Entry, pieces: Pieces) -> None:
    p.put(
        ("command",), v.split_command(p.per_instance(entry, pieces), entry.origin, entry.key), entry
    )


def _process_name(p: _Program, entry: Entry, pieces: Pieces) -> None:
    if entry.value != "%(program_name)s":
        p.note(
            entry, f"dropped: corral names the instances {p.name}:0 ... {p.name}:{p.numprocs - 1}"
        )


def _numprocs(p: _Program, entry: Entry, pieces: Pieces) -> None:
    p.put(("numprocs",), p.numprocs, entry)


def _numprocs_start(p: _Program, entry: Entry, pieces: Pieces) -> None:
    start = v.integer(first_text(pieces), entry.origin, entry.key)
    if start:
        p.note(
            entry,
            "approximated: corral numbers instances from 0; %(process_num)d became "
            f"{{{start}+index}}",
        )


def _integer_key(target: tuple[str, ...], minimum: int = 0) -> Handler:
    def handle(p: _Program, entry: Entry, pieces: Pieces) -> None:
        p.put(target, v.integer(p.single(entry, pieces), entry.origin, entry.key, minimum), entry)

    return handle


def _priority(p: _Program, entry: Entry, pieces: Pieces) -> None:
    try:
        p.put(("priority",), int(p.single(entry, pieces)), entry)
    except ValueError:
        refuse(entry.origin, "an integer", repr(first_text(pieces)), entry.key)


def _autostart(p: _Program, entry: Entry, pieces: Pieces) -> None:
    p.put(("autostart",), v.boolean(p.single(entry, pieces), entry.origin, entry.key), entry)


def _startretries(p: _Program, entry: Entry, pieces: Pieces) -> None:
    retries = v.integer(p.single(entry, pieces), entry.origin, entry.key)
    p.put(("start_limit", "burst"), retries + 1, entry)
    p.note(
        entry,
        f"approximated: start_limit.burst = {retries + 1} (the first start and {retries} "
        "retries) within start_limit.interval, 60 s; supervisord counts failed starts in a "
        "row, corral every start in the window, and retries after corral's backoff "
        "(0.1 s doubling to 30 s), not after 1 s, 2 s, 3 s ...",
    )


def _autorestart(p: _Program, entry: Entry, pieces: Pieces) -> None:
    text = p.single(entry, pieces).lower()
    if text == "unexpected":
        mode = "on-failure"
    elif text in ("true", "false", "yes", "no", "on", "off", "1", "0"):
        mode = "always" if v.boolean(text, entry.origin, entry.key) else "never"
    else:
        refuse(entry.origin, "true, false or unexpected", repr(first_text(pieces)), entry.key)
    p.put(("restart",), mode, entry)
    if mode == "never":
        p.note(
            entry,
            "approximated: restart = never; corral does not retry a start that fails (an exit "
            "within start_seconds) either, where supervisord retries it startretries times",
        )


def _startsecs(p: _Program, entry: Entry, pieces: Pieces) -> None:
    p.put(("start_seconds",), v.integer(p.single(entry, pieces), entry.origin, entry.key), entry)
    p.note(
        entry,
        "mapped to start_seconds, the same test (up this long is RUNNING; an exit before, "
        "whatever its code, is a failed start); a failed start is retried after corral's "
        "backoff (0.1 s doubling to 30 s), not after supervisord's 1 s, 2 s, 3 s ...",
    )


def _exitcodes(p: _Program, entry: Entry, pieces: Pieces) -> None:
    codes = [
        v.integer(code, entry.origin, entry.key)
        for code in p.single(entry, pieces).split(",")
        if code.strip()
    ]
    p.put(("exit_codes",), codes, entry)


def _stopsignal(p: _Program, entry: Entry, pieces: Pieces) -> None:
    p.put(("stop_signal",), p.single(entry, pieces).strip(), entry)


def _as_group(p: _Program, entry: Entry, pieces: Pieces) -> None:
    p.note(
        entry,
        "dropped: corral always signals the whole process group (and members that left "
        "it), SIGKILL included",
    )


def _user(p: _Program, entry: Entry, pieces: Pieces) -> None:
    p.put(("sandbox", "user"), p.single(entry, pieces), entry)


def _umask(p: _Program, entry: Entry, pieces: Pieces) -> None:
    p.put(("sandbox", "umask"), p.single(entry, pieces), entry)


def _directory(p: _Program, entry: Entry, pieces: Pieces) -> None:
    text = os.path.expanduser(p.single(entry, pieces))
    if not os.path.isabs(text):
        text = os.path.join(p.section.here, text)
        p.note(
            entry,
            f"approximated: the relative directory is taken beside the file that names it: {text}",
        )
    p.put(("directory",), text, entry)


def _environment(p: _Program, entry: Entry, pieces: Pieces) -> None:
    pairs = v.key_values(p.per_instance(entry, pieces), entry.origin, entry.key)
    p.put(("environment",), dict(sorted(pairs.items())), entry)


def _redirect_stderr(p: _Program, entry: Entry, pieces: Pieces) -> None:
    if v.boolean(p.single(entry, pieces), entry.origin, entry.key):
        p.note(
            entry, "dropped: corral keeps stderr in a log file of its own, NAME.INDEX.stderr.log"
        )


def _logfile(stream: str) -> Handler:
    def handle(p: _Program, entry: Entry, pieces: Pieces) -> None:
        text = first_text(pieces)
        if text.upper() == "AUTO":
            return
        if text.upper() == "NONE":
            p.note(entry, f"dropped: corral always keeps the {stream} log, under [daemon] log_dir")
        elif text.lower() == "syslog":
            p.note(
                entry,
                "dropped: corral does not send output to syslog; "
                f"{_LOGS_DIR.format(stream=stream)}",
            )
        else:
            p.note(entry, f"dropped ({text}): {_LOGS_DIR.format(stream=stream)}")

    return handle


def _log_size(what: str) -> Handler:
    def handle(p: _Program, entry: Entry, pieces: Pieces) -> None:
        text = p.single(entry, pieces)
        amount = (
            v.byte_size(text, entry.origin, entry.key)
            if what == "max_bytes"
            else v.integer(text, entry.origin, entry.key)
        )
        p.sizes[entry.key] = (amount, entry)

    return handle


def _logs(p: _Program) -> None:
    """logs.max_bytes and logs.backups: one each for both streams, stdout's winning."""
    for what, suffix in (("max_bytes", "logfile_maxbytes"), ("backups", "logfile_backups")):
        out, err = p.sizes.get(f"stdout_{suffix}"), p.sizes.get(f"stderr_{suffix}")
        chosen = out or err
        if chosen is None:
            continue
        p.put(("logs", what), chosen[0], chosen[1])
        if out and err and out[0] != err[0]:
            p.note(
                err[1],
                f"approximated: corral has one logs.{what} for both streams; stdout's "
                f"{out[0]} is used",
            )


def _dropped(action: str) -> Handler:
    def handle(p: _Program, entry: Entry, pieces: Pieces) -> None:
        p.note(entry, action)

    return handle


def _fcgi(p: _Program) -> None:
    """[fcgi-program:x]'s socket as a [sockets.x] handed to the program."""
    entries = p.section.entries
    entry = entries.get("socket")
    if entry is None:
        refuse(p.section.origin, f"a socket = ... key in [{p.section.name}]", "nothing", "socket")
    address = first_text(expand(entry.value, p.names, entry.origin, "socket", p.draft.expanded))
    if address.startswith("tcp://"):
        host, _, port = address.removeprefix("tcp://").rpartition(":")
        host = {"": "0.0.0.0", "*": "0.0.0.0", "localhost": "127.0.0.1"}.get(host, host)
        listen = f"{host}:{port}"
    elif address.startswith("unix://"):
        listen = address.removeprefix("unix://")
    else:
        refuse(entry.origin, "tcp://HOST:PORT or unix:///PATH", repr(address), "socket")
    p.draft.put(("sockets", p.name, "listen"), listen, entry.origin, "socket")
    p.put(("sockets",), [p.name], entry)
    p.note(
        entry,
        f"approximated: [sockets.{p.name}] listens on {listen} and is handed over as fd 3 "
        "with LISTEN_FDS (systemd's socket activation), not as stdin as FastCGI expects",
    )
    backlog = entries.get("socket_backlog")
    if backlog is not None:
        p.draft.put(
            ("sockets", p.name, "backlog"),
            v.integer(backlog.value, backlog.origin, "socket_backlog", 1),
            backlog.origin,
            "socket_backlog",
        )
    mode = entries.get("socket_mode")
    if mode is not None:
        p.draft.put(("sockets", p.name, "mode"), mode.value, mode.origin, "socket_mode")


def _handled_elsewhere(p: _Program, entry: Entry, pieces: Pieces) -> None:
    """Read by _fcgi."""


KEYS: dict[str, Handler] = {
    "command": _command,
    "process_name": _process_name,
    "numprocs": _numprocs,
    "numprocs_start": _numprocs_start,
    "priority": _priority,
    "autostart": _autostart,
    "startsecs": _startsecs,
    "startretries": _startretries,
    "autorestart": _autorestart,
    "exitcodes": _exitcodes,
    "stopsignal": _stopsignal,
    "stopwaitsecs": _integer_key(("stop_timeout",)),
    "stopasgroup": _as_group,
    "killasgroup": _as_group,
    "user": _user,
    "redirect_stderr": _redirect_stderr,
    "stdout_logfile": _logfile("stdout"),
    "stderr_logfile": _logfile("stderr"),
    "stdout_logfile_maxbytes": _log_size("max_bytes"),
    "stderr_logfile_maxbytes": _log_size("max_bytes"),
    "stdout_logfile_backups": _log_size("backups"),
    "stderr_logfile_backups": _log_size("backups"),
    "stdout_capture_maxbytes": _dropped("dropped: corral has no capture mode"),
    "stderr_capture_maxbytes": _dropped("dropped: corral has no capture mode"),
    "stdout_events_enabled": _dropped(
        "dropped: corral has no log events; `corral logs -f` follows the log"
    ),
    "stderr_events_enabled": _dropped(
        "dropped: corral has no log events; `corral logs -f` follows the log"
    ),
    "stdout_syslog": _dropped("dropped: corral does not send output to syslog"),
    "stderr_syslog": _dropped("dropped: corral does not send output to syslog"),
    "environment": _environment,
    "directory": _directory,
    "umask": _umask,
    "serverurl": _dropped("dropped: corral sets no SUPERVISOR_SERVER_URL"),
}
"""supervisord's [program:x] keys and what each becomes."""

FCGI_KEYS: dict[str, Handler] = {
    "socket": _handled_elsewhere,
    "socket_backlog": _handled_elsewhere,
    "socket_mode": _handled_elsewhere,
    "socket_owner": _dropped("dropped: the daemon's user owns the socket file"),
}
