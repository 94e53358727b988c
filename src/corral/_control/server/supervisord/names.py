"""supervisord's names and records of corral's instances.

A program is a supervisord *group*, each of its instances a *process* named by its
index: corral's `web:0` is group `web`, process `0`, so supervisord's "group:name"
is corral's instance name as it is (docs/supervisord.md). supervisord refuses a
colon in a process name, so `%(process_num)d` is the template that gives a real
supervisord the same names.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Mapping

from corral._supervisor.view import InstanceView

__all__ = ["STATES", "info_dict", "split_namespec"]

STATES: Mapping[str, int] = {
    "STOPPED": 0,
    "STARTING": 10,
    "RUNNING": 20,
    "BACKOFF": 30,
    "STOPPING": 40,
    "EXITED": 100,
    "FATAL": 200,
    "UNKNOWN": 1000,
}
"""supervisord's process state codes, by the state names corral shares with it."""

RUNNING_STATES = frozenset({"RUNNING", "BACKOFF", "STARTING"})
"""What supervisord counts as running: start refuses them, group stops act on them."""
STOPPED_STATES = frozenset({"STOPPED", "EXITED", "FATAL", "UNKNOWN"})
"""What supervisord counts as stopped: stop refuses them, a group may be removed."""
SIGNALLABLE_STATES = frozenset({"RUNNING", "STARTING", "STOPPING"})
"""The states in which supervisord sends a signal."""


def split_namespec(namespec: str) -> tuple[str, str | None]:
    """(group, process) of "group:process"; process None for "group:*" or "group:".

    A bare name is a process of the group of that name, as supervisord reads it.
    """
    group, colon, process = namespec.partition(":")
    if not colon:
        return namespec, namespec
    return group, (None if process in ("", "*") else process)


def process_name(view: InstanceView) -> str:
    """The process part of an instance's name (its index)."""
    return view.name.rpartition(":")[2]


def info_dict(view: InstanceView, logs: tuple[str, str], *, now: float) -> dict[str, object]:
    """supervisord's process info struct of one instance; `now` is the wall clock.

    Corral keeps how long an instance has been in its state, not when it last started
    and stopped: `start` is when it entered its live state (0 if it never ran), `stop`
    when it entered its resting state (0 while live).
    """
    state = view.state
    age = view.state_age or 0.0
    entered = int(now - (view.uptime if view.uptime is not None else age))
    ran = view.pid is not None or view.last_exit is not None or view.restarts > 0
    live = state not in STOPPED_STATES and state != "BACKOFF"
    start = entered if live else (entered if ran else 0)
    stop = 0 if live else entered
    spawnerr = view.reason if state in ("BACKOFF", "FATAL") else ""
    info: dict[str, object] = {
        "name": process_name(view),
        "group": view.program,
        "start": start,
        "stop": stop,
        "now": int(now),
        "state": STATES.get(state, STATES["UNKNOWN"]),
        "statename": state if state in STATES else "UNKNOWN",
        "spawnerr": spawnerr,
        "exitstatus": _exit_code(view.last_exit),
        "logfile": logs[0],
        "stdout_logfile": logs[0],
        "stderr_logfile": logs[1],
        "pid": view.pid or 0,
    }
    info["description"] = describe(info)
    return info


def describe(info: Mapping[str, object]) -> str:
    """The `description` text supervisord derives from an info struct (cesi parses it)."""
    state, start, stop = info["statename"], info["start"], info["stop"]
    assert isinstance(start, int)
    assert isinstance(stop, int)
    if state == "RUNNING":
        now = info["now"]
        assert isinstance(now, int)
        uptime = datetime.timedelta(seconds=max(0, now - start))
        return f"pid {info['pid']}, uptime {uptime}"
    if state in ("FATAL", "BACKOFF"):
        return str(info["spawnerr"]) or f'unknown error (try "tail {info["name"]}")'
    if state in ("STOPPED", "EXITED"):
        if not start:
            return "Not started"
        return time.strftime("%b %d %I:%M %p", time.localtime(stop))
    return ""


def _exit_code(last_exit: str | None) -> int:
    """The exit code of "exit N" (the read model's words); 0 for a signal or nothing."""
    if last_exit is None or not last_exit.startswith("exit "):
        return 0
    code = last_exit[5:]
    return int(code) if code.isdigit() else 0
