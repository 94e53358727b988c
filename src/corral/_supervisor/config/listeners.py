"""`[listeners.NAME]` tables: supervisord-style event listeners (docs/supervisord.md).

Kept apart from schema.py (which only names the table and the call): the event
names a listener may subscribe to, checked one by one so a wrong name is refused
at its own key path (file, line, key).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import cast

from corral._supervisor.config.alerts import Check
from corral._supervisor.config.kinds import (
    COMMAND,
    Invalid,
    Kind,
    Problem,
    described,
    did_you_mean,
    integer,
    invalid,
    shown,
)
from corral._supervisor.config.positions import KeyPath
from corral._supervisor.config.table import Key, Table, collect

__all__ = ["EVENT_NAMES", "LISTENER", "ListenerSpec", "build_listeners"]

PROCESS_STATES = ("STARTING", "RUNNING", "BACKOFF", "STOPPING", "EXITED", "STOPPED", "FATAL")
"""The supervisord process states a PROCESS_STATE_X event names."""

EVENT_NAMES = (
    "PROCESS_STATE",
    *(f"PROCESS_STATE_{state}" for state in PROCESS_STATES),
    "TICK_5",
    "TICK_60",
)
"""The supervisord event names a listener may ask for; PROCESS_STATE means all its kinds."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ListenerSpec:
    """One event listener: a process the daemon feeds events over its stdin."""

    name: str
    """The listener's name: supervisord's pool name in each event's header."""
    command: tuple[str, ...]
    """The listener's command, run by the daemon with its stdin and stdout as pipes."""
    events: tuple[str, ...]
    """The supervisord event names it receives (PROCESS_STATE for all process states)."""
    buffer_size: int = 10
    """Events kept for it while it is busy; one more drops the oldest (an event says so)."""


_EVENTS = "an array of supervisord event names: " + ", ".join(EVENT_NAMES)


def _events(value: object, path: KeyPath) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise invalid(path, _EVENTS, described(value))
    problems = [
        Problem((*path, i), f"one of {', '.join(EVENT_NAMES)}", shown(item),
                did_you_mean(str(item), EVENT_NAMES))
        for i, item in enumerate(value)
        if item not in EVENT_NAMES
    ]  # fmt: skip
    if problems:
        raise Invalid(problems)
    return tuple(dict.fromkeys(cast(list[str], value)))


EVENTS = Kind(_EVENTS, _events)

LISTENER = Table(
    "listeners.NAME",
    ListenerSpec,
    (
        Key("command", COMMAND, ListenerSpec, required=True),
        Key("events", EVENTS, ListenerSpec, required=True),
        Key("buffer_size", integer(1, 100_000), ListenerSpec),
    ),
    doc=(
        "A supervisord event listener ([supervisord.md](supervisord.md), Event listeners): "
        "a process the daemon runs and restarts, speaking supervisord's READY/RESULT "
        "protocol on its stdin and stdout. NAME is its pool name."
    ),
)


def build_listeners(raw: object, check: Check) -> tuple[ListenerSpec, ...]:
    """Every [listeners.NAME] table, by name."""
    if not isinstance(raw, dict):
        raise invalid(("listeners",), "a table of listeners: [listeners.NAME]", described(raw))
    problems: list[Problem] = []
    built = [collect(problems, partial(_build_listener, name, raw[name], check)) for name in raw]
    if problems:
        raise Invalid(problems)
    return tuple(sorted(cast(list[ListenerSpec], built), key=lambda spec: spec.name))


def _build_listener(name: str, raw: object, check: Check) -> ListenerSpec:
    values = check(LISTENER, raw, ("listeners", name))
    return ListenerSpec(
        name=name,
        command=cast(tuple[str, ...], values["command"]),
        events=cast(tuple[str, ...], values["events"]),
        buffer_size=cast(int, values.get("buffer_size", 10)),
    )
