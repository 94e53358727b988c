"""A PM2 ecosystem file (`ecosystem.config.js` as plain data, or JSON) as a corral `Draft`.

Each app of `apps` becomes `[programs.NAME]`: `script`, `args` and `interpreter`
make the command (node for a script PM2 would run with node), `instances` the
numprocs, `env` the environment. PM2 restarts after any exit by default, so an
app is `restart = "always"` unless `autorestart` or `stop_exit_codes` says
otherwise. Keys with no equal are `Note`s; PM2's times are milliseconds and
become seconds.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass

from corral._control.importing.expand import escape
from corral._control.importing.jsdata import JsArray, JsObject, parse_data
from corral._control.importing.report import Draft, Origin, read_text, refuse
from corral._control.importing.values import program_name

__all__ = ["convert"]

INTERPRETERS = {
    ".js": "node",
    ".cjs": "node",
    ".mjs": "node",
    ".ts": "ts-node",
    ".py": "python3",
    ".sh": "bash",
    ".rb": "ruby",
    ".php": "php",
    ".pl": "perl",
    ".coffee": "coffee",
}
"""The interpreter PM2 picks by the script's extension (python3 for .py: Debian has no `python`)."""

_DURATION = re.compile(r"(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>ms|s|m|h)?")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}

_LOGS = (
    "dropped: corral writes each instance's logs under [daemon] log_dir as "
    "NAME.INDEX.stdout.log and NAME.INDEX.stderr.log"
)
DROPPED = {
    "watch": "dropped: corral does not watch files; `corral restart NAME` after a change",
    "ignore_watch": "dropped: corral does not watch files",
    "watch_options": "dropped: corral does not watch files",
    "watch_delay": "dropped: corral does not watch files",
    "max_memory_restart": (
        'dropped: corral has no restart at a memory size; sandbox.memory = "SIZE" has the '
        "kernel end it there (it needs cgroups), and it is then restarted"
    ),
    "out_file": _LOGS,
    "error_file": _LOGS,
    "log_file": _LOGS,
    "output": _LOGS,
    "error": _LOGS,
    "log": _LOGS,
    "merge_logs": "dropped: corral keeps one log file per instance and stream",
    "combine_logs": "dropped: corral keeps one log file per instance and stream",
    "log_date_format": (
        "dropped: corral's timestamps have one format (logs.timestamps turns them on)"
    ),
    "log_type": "dropped: corral's logs are the program's lines, timestamped",
    "disable_logs": "dropped: corral always keeps the logs",
    "cron_restart": "dropped: corral has no restart schedule; run `corral restart NAME` from cron",
    "namespace": "dropped: corral has no namespaces of programs",
    "wait_ready": (
        "dropped: PM2's process.send(\"ready\") has no equal; corral's readiness is "
        'notify = "sd_notify" or "fd"'
    ),
    "listen_timeout": "dropped: see ready_timeout with notify",
    "shutdown_with_message": "dropped: corral stops a program with its stop_signal",
    "vizion": "dropped: PM2's version-control metadata",
    "source_map_support": "dropped: a PM2 feature for node",
    "disable_source_map_support": "dropped: a PM2 feature for node",
    "pmx": "dropped: PM2's monitoring",
    "automation": "dropped: PM2's monitoring",
    "autodump": "dropped: PM2's process dump",
    "force": "dropped: corral names each program once",
    "append_env_name": "dropped: corral names programs as written",
    "filter_env": "dropped: corral passes the daemon's environment with the program's additions",
    "post_update": "dropped: PM2's deploy hook",
    "exec_mode": "",
}


@dataclass(slots=True)
class _App:
    draft: Draft
    name: str
    data: JsObject
    file: str
    env_name: str | None
    """`--env NAME`: the env_NAME merged over env."""

    def origin(self, key: str) -> Origin:
        return Origin(self.file, self.data.lines.get(key, self.data.line))

    def put(self, path: tuple[str, ...], item: object, key: str) -> None:
        self.draft.put(("programs", self.name, *path), item, self.origin(key), key)

    def note(self, key: str, action: str) -> None:
        self.draft.note(self.origin(key), key, action)

    def text(self, key: str) -> str:
        item = self.data[key]
        if not isinstance(item, str):
            refuse(self.origin(key), "a string", _shown(item), key)
        return item

    def number(self, key: str) -> float:
        item = self.data[key]
        if isinstance(item, bool) or not isinstance(item, int | float) or item < 0:
            refuse(self.origin(key), "a number >= 0", _shown(item), key)
        return item

    def seconds(self, key: str) -> float:
        """A PM2 time: milliseconds as a number, or a string like "500ms", "10s", "1m"."""
        item = self.data[key]
        if isinstance(item, str):
            match = _DURATION.fullmatch(item.strip())
            if match is None:
                refuse(self.origin(key), 'milliseconds, or a time like "10s"', _shown(item), key)
            return float(match["number"]) * _UNIT_SECONDS[match["unit"] or "ms"]
        return self.number(key) / 1000


def _shown(item: object) -> str:
    return (
        repr(item) if not isinstance(item, JsObject | JsArray) else type(item).__name__[2:].lower()
    )


def convert(path: str, env_name: str | None = None) -> Draft:
    """The draft of the ecosystem file at `path`; `ConfigError` at what is not plain data.

    `env_name` merges each app's `env_NAME` over its `env`, as `pm2 start --env NAME`.
    """
    data = parse_data(read_text(path), path)
    draft = Draft(source=path, kind="pm2")
    if isinstance(data, JsObject) and "apps" in data:
        apps = data["apps"]
        for key in data:
            if key != "apps":
                draft.note(
                    Origin(path, data.lines[key]),
                    key,
                    "dropped: only apps are imported (PM2's deploy is not corral's)",
                )
    else:
        apps = data
    if isinstance(apps, JsObject):
        apps = _one(apps)
    if not isinstance(apps, JsArray) or not apps:
        line = apps.line if isinstance(apps, JsArray | JsObject) else 1
        refuse(
            Origin(path, line), "apps: an array of app objects, each with a script", _shown(apps)
        )
    for app, line in zip(apps, apps.lines, strict=True):
        if not isinstance(app, JsObject):
            refuse(Origin(path, line), "an app object with a script", _shown(app))
        _app(draft, app, path, env_name)
    return draft


def _one(app: JsObject) -> JsArray:
    apps = JsArray(app.line)
    apps.append(app)
    apps.lines.append(app.line)
    return apps


def _app(draft: Draft, data: JsObject, path: str, env_name: str | None) -> None:
    if "script" not in data:
        refuse(Origin(path, data.line), "an app with a script", "none", "script")
    script = data["script"]
    if not isinstance(script, str) or not script:
        refuse(Origin(path, data.lines["script"]), "a string", _shown(script), "script")
    raw_name = data.get("name", os.path.splitext(os.path.basename(script))[0])
    if not isinstance(raw_name, str) or not raw_name:
        refuse(
            Origin(path, data.lines.get("name", data.line)),
            "a name string",
            _shown(raw_name),
            "name",
        )
    name = program_name(raw_name)
    if name in draft.programs:
        refuse(Origin(path, data.line), "apps with distinct names", f"{raw_name!r} again")
    draft.programs[name] = {}
    app = _App(draft, name, data, path, env_name)
    if name != raw_name:
        app.note("name", f"renamed to {name!r}: corral's names are letters, digits, _ . -")
    numprocs = _instances(app)
    environment = _environment(app, numprocs)
    _command(app)
    app.put(("restart",), "always", "script")
    _other_keys(app)
    if environment:
        app.put(
            ("environment",),
            dict(sorted(environment.items())),
            "env" if "env" in data else "script",
        )


def _other_keys(app: _App) -> None:
    """Every key that maps on its own (KEYS), or is dropped with a note."""
    env_name = app.env_name
    for key in app.data:
        handler = KEYS.get(key)
        if handler is not None:
            handler(app, key)
        elif env_name is not None and key == f"env_{env_name}":
            app.note(key, f"merged over env, as `pm2 start --env {env_name}` does")
        elif key.startswith("env_"):
            app.note(
                key,
                f"dropped: the variables of `pm2 start --env {key[4:]}` (corral import "
                f"--env {key[4:]} merges them)",
            )
        elif key in DROPPED:
            if DROPPED[key]:
                app.note(key, DROPPED[key])
        elif key not in HANDLED:
            app.note(key, "dropped: not a PM2 setting this import knows")


def _instances(app: _App) -> int:
    """instances (a count, "max" or -1), with cluster mode noted."""
    data = app.data
    count = 1
    if "instances" in data:
        item = data["instances"]
        cpus = os.cpu_count() or 1
        if isinstance(item, bool):
            refuse(app.origin("instances"), 'a count >= 1, "max" or -1', _shown(item), "instances")
        if item in ("max", 0, -1, "-1"):
            count = max(1, cpus - 1) if item in (-1, "-1") else cpus
            app.note(
                "instances",
                f"approximated: {item!r} is {count}, from the CPUs of the machine importing",
            )
        elif isinstance(item, int) and not isinstance(item, bool) and item > 0:
            count = item
        else:
            refuse(app.origin("instances"), 'a count >= 1, "max" or -1', _shown(item), "instances")
        app.put(("numprocs",), count, "instances")
    mode = data.get("exec_mode", "fork")
    if mode in ("cluster", "cluster_mode"):
        app.note(
            "exec_mode",
            "approximated: each instance is a process of its own; they do not share a "
            "listening port as node's cluster workers do (give each its port, or use "
            "[sockets.NAME])",
        )
    elif mode not in ("fork", "fork_mode"):
        refuse(app.origin("exec_mode"), "fork or cluster", _shown(mode), "exec_mode")
    return count


def _environment(app: _App, numprocs: int) -> dict[str, str]:
    """env, with PM2's per-instance variables (instance_var, increment_var) and port."""
    data = app.data
    environment = _variables(app, "env")
    if app.env_name is not None:
        environment |= _variables(app, f"env_{app.env_name}")
    if "port" in data:
        environment["PORT"] = str(int(app.number("port")))
    variable = data.get("instance_var", "NODE_APP_INSTANCE")
    if not isinstance(variable, str) or not variable:
        refuse(app.origin("instance_var"), "a variable name", _shown(variable), "instance_var")
    if numprocs > 1 or "instance_var" in data:
        environment[variable] = "{index}"
    if "increment_var" in data:
        name = app.text("increment_var")
        base = environment.get(name, "")
        if not base.isdigit():
            refuse(
                app.origin("increment_var"),
                f"a variable env sets to a number ({name})",
                repr(base) if base else "unset",
                "increment_var",
            )
        environment[name] = f"{{{int(base)}+index}}"
    return environment


def _variables(app: _App, key: str) -> dict[str, str]:
    """One env object of an app as strings (PM2 stringifies numbers and booleans)."""
    env = app.data.get(key, JsObject(app.data.line))
    if not isinstance(env, JsObject):
        refuse(app.origin(key), "an object of NAME: value", _shown(env), key)
    variables: dict[str, str] = {}
    for name, item in env.items():
        if isinstance(item, JsObject | JsArray) or item is None:
            origin = Origin(app.file, env.lines[name])
            refuse(origin, "a string, number or boolean", _shown(item), f"{key}.{name}")
        variables[name] = escape(_stringified(item))
    return variables


def _stringified(item: object) -> str:
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, float) and item.is_integer():
        return str(int(item))
    return str(item)


def _command(app: _App) -> None:
    """script, args, interpreter (and its args) as an argv; the directory PM2 runs it in."""
    data = app.data
    script = app.text("script")
    base = os.path.dirname(app.file)
    directory = os.path.join(base, os.path.expanduser(app.text("cwd"))) if "cwd" in data else base
    key = "interpreter" if "interpreter" in data else "exec_interpreter"
    interpreter = app.text(key) if key in data else None
    words = _words(app, "interpreter_args") + _words(app, "node_args")
    if interpreter is None:
        interpreter = INTERPRETERS.get(os.path.splitext(script)[1], "node")
        if os.path.splitext(script)[1] not in INTERPRETERS:
            app.note(
                "script",
                "approximated: run with node, as PM2 runs a script it has no interpreter "
                'for (interpreter: "none" runs it as a program)',
            )
    argv = [script] if interpreter == "none" else [interpreter, *words, script]
    app.put(("command",), [escape(word) for word in (*argv, *_words(app, "args"))], "script")
    app.put(("directory",), directory, "cwd" if "cwd" in data else "script")


def _words(app: _App, key: str) -> list[str]:
    """A string split like a shell, or an array of strings."""
    if key not in app.data:
        return []
    item = app.data[key]
    if isinstance(item, str):
        try:
            return shlex.split(item)
        except ValueError as exc:
            refuse(app.origin(key), "arguments with balanced quotes", f"{item!r} ({exc})", key)
    if isinstance(item, list) and all(isinstance(word, str) for word in item):
        return [str(word) for word in item]
    refuse(app.origin(key), "a string or an array of strings", _shown(item), key)


def _autorestart(app: _App, key: str) -> None:
    item = app.data[key]
    if not isinstance(item, bool):
        refuse(app.origin(key), "true or false", _shown(item), key)
    if not item:
        app.put(("restart",), "never", key)


def _stop_exit_codes(app: _App, key: str) -> None:
    item = app.data[key]
    codes = item if isinstance(item, list) else [item]
    if not all(isinstance(code, int) and not isinstance(code, bool) for code in codes):
        refuse(app.origin(key), "an exit code or an array of them", _shown(item), key)
    if app.data.get("autorestart", True) is not False:
        app.put(("restart",), "on-failure", key)
    app.put(("exit_codes",), list(codes), key)


def _max_restarts(app: _App, key: str) -> None:
    count = int(app.number(key))
    app.put(("start_limit", "burst"), count + 1, key)
    app.note(
        key,
        f"approximated: start_limit.burst = {count + 1} starts within 60 s; PM2 counts "
        "restarts in a row that ran less than min_uptime",
    )


def _min_uptime(app: _App, key: str) -> None:
    app.put(("start_seconds",), app.seconds(key), key)


def _restart_delay(app: _App, key: str) -> None:
    delay = app.seconds(key)
    app.put(("backoff",), {"initial": delay, "factor": 1.0, "max": delay, "jitter": 0.0}, key)
    app.note(key, f"approximated: a fixed backoff of {delay:g} s before each restart")


def _exp_backoff(app: _App, key: str) -> None:
    delay = app.seconds(key)
    app.put(("backoff",), {"initial": delay, "factor": 1.5, "max": 15.0, "jitter": 0.0}, key)
    app.note(
        key, f"approximated: backoff from {delay:g} s, times 1.5, at most 15 s, as PM2 grows it"
    )


def _kill_timeout(app: _App, key: str) -> None:
    app.put(("stop_timeout",), app.seconds(key), key)


def _time(app: _App, key: str) -> None:
    if app.data[key] is True:
        app.put(("logs", "timestamps"), True, key)


def _user(app: _App, key: str) -> None:
    app.put(("sandbox", "user"), app.data[key], key)


def _group(app: _App, key: str) -> None:
    app.put(("sandbox", "group"), app.data[key], key)


def _treekill(app: _App, key: str) -> None:
    if app.data[key] is False:
        app.note(key, "dropped: corral always signals the whole process tree")


def _kill_signal(app: _App, key: str) -> None:
    app.put(("stop_signal",), app.text(key), key)


def _autostart(app: _App, key: str) -> None:
    item = app.data[key]
    if not isinstance(item, bool):
        refuse(app.origin(key), "true or false", _shown(item), key)
    app.put(("autostart",), item, key)


KEYS: dict[str, Callable[[_App, str], None]] = {
    "autorestart": _autorestart,
    "autostart": _autostart,
    "stop_exit_codes": _stop_exit_codes,
    "max_restarts": _max_restarts,
    "min_uptime": _min_uptime,
    "restart_delay": _restart_delay,
    "exp_backoff_restart_delay": _exp_backoff,
    "kill_timeout": _kill_timeout,
    "kill_signal": _kill_signal,
    "time": _time,
    "user": _user,
    "uid": _user,
    "gid": _group,
    "treekill": _treekill,
}
HANDLED = frozenset(
    {
        "name",
        "script",
        "args",
        "interpreter",
        "exec_interpreter",
        "interpreter_args",
        "node_args",
        "cwd",
        "instances",
        "env",
        "port",
        "instance_var",
        "increment_var",
    }
)
"""Keys read while building the command, numprocs and environment."""
