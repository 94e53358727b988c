"""`[alerts.NAME]` tables and a program's `restart_on`: checked, then built into `Rule`s.

Kept apart from schema.py (which only names the table, the key and the call): the
kinds of an alert's keys (condition, durations, actions, webhook URL), the checks
that need the whole file (a program the rule names must exist; a state, health
state or signal it compares with must be one), and the rules `restart_on` stands for.
Every problem carries its key path, so the loader reports file, line and key.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from typing import cast
from urllib.parse import urlsplit

from corral._lifecycle.states import InstanceState
from corral._observe.alerts.rules import (
    ACTIONS,
    Action,
    Condition,
    Rule,
    parse_condition,
    parse_duration,
)
from corral._supervisor.config.kinds import (
    COMMAND,
    SIGNAL,
    Invalid,
    Kind,
    Problem,
    described,
    did_you_mean,
    invalid,
    shown,
)
from corral._supervisor.config.positions import KeyPath
from corral._supervisor.config.table import Key, Table, collect
from corral._supervisor.model.program import Program

HEALTH_STATES = ("starting", "healthy", "unhealthy")
RESTART_ON_METRICS = ("memory", "cpu", "memory_percent", "processes", "fds")

_CONDITION = (
    'a condition string: "METRIC OP VALUE" (cpu, memory, memory_percent, processes, '
    'fds; "restarts > N in 60s"), "state == STATE", "health == STATE", '
    '"exit == oom|signal|SIGNAME" or "log|stdout|stderr ~ REGEX"'
)


def _condition(value: object, path: KeyPath) -> Condition:
    if not isinstance(value, str):
        raise invalid(path, _CONDITION, described(value))
    try:
        condition = parse_condition(value)
    except ValueError as exc:
        raise invalid(path, _CONDITION, shown(value), str(exc)) from None
    return _checked_value(condition, path)


def _checked_value(condition: Condition, path: KeyPath) -> Condition:
    """A state, health state or signal name the daemon knows."""
    subject, value = condition.subject, condition.value
    if subject == "state":
        states = [state.value for state in InstanceState]
        if value.upper() not in states:
            hint = did_you_mean(value.upper(), states)
            raise invalid(path, f"state == one of {', '.join(states)}", repr(value), hint)
        return Condition(subject, "==", value=value.upper(), text=condition.text)
    if subject == "health" and value not in HEALTH_STATES:
        expected = f"health == one of {', '.join(HEALTH_STATES)}"
        raise invalid(path, expected, repr(value), did_you_mean(value, HEALTH_STATES))
    if subject == "exit" and value not in ("oom", "signal"):
        names = [s.name for s in signal.Signals]
        if value not in names:
            hint = did_you_mean(value, names)
            raise invalid(path, "exit == oom, signal or a signal name", repr(value), hint)
    return condition


CONDITION = Kind(_CONDITION, _condition)

_DURATION = 'a duration: "60s", "5m", "1h", "500ms" or a number of seconds'


def _duration(value: object, path: KeyPath) -> float:
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise invalid(path, _DURATION, described(value))
    try:
        return parse_duration(value)
    except ValueError:
        raise invalid(path, _DURATION, shown(value)) from None


def _show_duration(value: object) -> str:
    return f'"{value:g}s"' if isinstance(value, float | int) else str(value)


DURATION = Kind(_DURATION, _duration, _show_duration)

_ACTIONS = "an array of actions: " + ", ".join(ACTIONS)


def _actions(value: object, path: KeyPath) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise invalid(path, _ACTIONS, described(value))
    expected = f"one of {', '.join(ACTIONS)}"
    problems = [
        Problem((*path, i), expected, shown(item), did_you_mean(str(item), ACTIONS))
        for i, item in enumerate(value)
        if item not in ACTIONS
    ]
    if problems:
        raise Invalid(problems)
    return tuple(dict.fromkeys(cast(list[str], value)))


ACTION_NAMES = Kind(_ACTIONS, _actions)

_URL = 'an http:// or https:// URL, e.g. "http://127.0.0.1:9000/hook"'


def _url(value: object, path: KeyPath) -> str:
    if not isinstance(value, str):
        raise invalid(path, _URL, described(value))
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        raise invalid(path, _URL, shown(value), str(exc)) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise invalid(path, _URL, shown(value))
    del port
    return value


URL = Kind(_URL, _url)

_RESTART_ON = (
    'a table of METRIC = "THRESHOLD" or "THRESHOLD for DURATION", e.g. '
    '{ memory = "512M", cpu = "90% for 60s" } (memory, cpu, memory_percent, processes, fds)'
)


def _restart_on(value: object, path: KeyPath) -> tuple[tuple[str, str, float], ...]:
    if not isinstance(value, dict):
        raise invalid(path, _RESTART_ON, described(value))
    problems: list[Problem] = []
    found = [
        collect(problems, partial(_one_restart_on, m, v, (*path, m))) for m, v in value.items()
    ]
    if problems:
        raise Invalid(problems)
    return tuple(sorted(cast(list[tuple[str, str, float]], found)))


def _one_restart_on(metric: str, value: object, path: KeyPath) -> tuple[str, str, float]:
    if metric not in RESTART_ON_METRICS:
        expected = f"a metric: {', '.join(RESTART_ON_METRICS)}"
        raise invalid(path, expected, repr(metric), did_you_mean(metric, RESTART_ON_METRICS))
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise invalid(path, '"THRESHOLD" or "THRESHOLD for DURATION"', described(value))
    threshold, _, hold = str(value).partition(" for ")
    try:
        parse_condition(f"{metric} > {threshold.strip()}")
        seconds = parse_duration(hold.strip()) if hold else 0.0
    except ValueError as exc:
        expected = '"THRESHOLD" or "THRESHOLD for DURATION"'
        raise invalid(path, expected, shown(value), str(exc)) from None
    return (metric, threshold.strip(), seconds)


def _show_restart_on(value: object) -> str:
    return "{}" if not value else str(value)


RESTART_ON = Kind(_RESTART_ON, _restart_on, _show_restart_on)


def _program_name(value: object, path: KeyPath) -> str:
    if not isinstance(value, str) or not value:
        raise invalid(path, _PROGRAM_NAME, described(value))
    return value


_PROGRAM_NAME = 'a program name, or "*" for every program'
PROGRAM_NAME = Kind(_PROGRAM_NAME, _program_name)

Check = Callable[[Table, object, KeyPath], dict[str, object]]
"""schema.py's `check_table`: unknown keys, kinds and required keys of one table."""

ALERT = Table(
    "alerts.NAME",
    Rule,
    (
        Key("program", PROGRAM_NAME, Rule, default='`"*"`'),
        Key(
            "condition",
            CONDITION,
            Rule,
            required=True,
            doc="What the rule watches (docs/alerts.md, Conditions).",
        ),
        Key(
            "for",
            DURATION,
            Rule,
            "hold",
            default='`"0s"`',
            doc=(
                "How long a metric, state or health condition must hold, unbroken, before the "
                "rule fires. Not for exit or log conditions, which fire when they occur."
            ),
        ),
        Key("repeat", DURATION, Rule, default='`"1h"`'),
        Key("clear_after", DURATION, Rule, default='`"60s"`'),
        Key(
            "actions",
            ACTION_NAMES,
            Rule,
            default='`["event"]`, plus "command" and "webhook" when those keys are set',
            doc=(
                "What the rule does when it fires: restart, stop or signal the instance (once "
                "per firing); run `command` or POST to `webhook` (at firing, each repeat and "
                "resolving); event only. Firing and resolving are always events."
            ),
        ),
        Key("signal", SIGNAL, Rule, default="unset", doc='The signal of the "signal" action.'),
        Key(
            "command",
            COMMAND,
            Rule,
            default="unset",
            doc=(
                'The command of the "command" action, run by the daemon with CORRAL_ALERT_* '
                "variables (docs/alerts.md)."
            ),
        ),
        Key(
            "webhook",
            URL,
            Rule,
            default="unset",
            doc=('The URL the "webhook" action POSTs a JSON payload to (docs/alerts.md).'),
        ),
    ),
    doc=(
        "One alert rule. NAME names the alert; its condition is checked for every "
        "instance of `program`. See [alerts.md](alerts.md)."
    ),
)


def build_alerts(raw: object, programs: Iterable[Program], check: Check) -> tuple[Rule, ...]:
    """Every [alerts.NAME] table as a Rule, then the rules of each program's `restart_on`."""
    if not isinstance(raw, dict):
        raise invalid(("alerts",), "a table of alerts: [alerts.NAME]", described(raw))
    known = {program.name for program in programs}
    problems: list[Problem] = []
    built = [
        collect(problems, partial(_build_alert, name, raw[name], known, check)) for name in raw
    ]
    if problems:
        raise Invalid(problems)
    rules = [rule for rule in built if rule is not None]
    return (*rules, *restart_on_rules(programs))


def _build_alert(
    name: str,
    raw: object,
    known: set[str],
    check: Check,
) -> Rule:
    path: KeyPath = ("alerts", name)
    values = check(ALERT, raw, path)
    program = cast(str, values.get("program", "*"))
    if program != "*" and program not in known:
        expected = 'the name of a [programs.NAME] table, or "*"'
        raise invalid((*path, "program"), expected, repr(program), did_you_mean(program, known))
    condition = cast(Condition, values["condition"])
    if "for" in values and not condition.lasting:
        hint = "exit and log conditions fire when they occur; clear_after says when they resolve"
        raise invalid((*path, "for"), "no for with this condition", shown(values["for"]), hint)
    return Rule(
        name,
        program,
        condition,
        hold=cast(float, values.get("for", 0.0)),
        repeat=cast(float, values.get("repeat", 3600.0)),
        clear_after=cast(float, values.get("clear_after", 60.0)),
        actions=_rule_actions(values, path),
    )


_ARGUMENT_OF = {"signal": "signal", "command": "command", "webhook": "webhook"}


def _rule_actions(values: Mapping[str, object], path: KeyPath) -> tuple[Action, ...]:
    given = cast("tuple[str, ...] | None", values.get("actions"))
    names = given or ("event", *(key for key in ("command", "webhook") if key in values))
    problems = [
        Problem((*path, key), f'"{key}" in actions too', shown(values[key]),
                f'{key} is the argument of the "{key}" action')
        for key in _ARGUMENT_OF if key in values and key not in names
    ]  # fmt: skip
    problems += [
        Problem((*path, "actions"), f"{key} set too", shown(list(names)),
                f'the "{key}" action needs its {key} key')
        for key in _ARGUMENT_OF if key in names and key not in values
    ]  # fmt: skip
    if problems:
        raise Invalid(problems)
    actions = []
    for name in names:
        argument = values.get(_ARGUMENT_OF.get(name, ""), "")
        if isinstance(argument, signal.Signals):
            argument = argument.name
        actions.append(Action(name, cast("str | tuple[str, ...]", argument)))
    return tuple(actions)


def restart_on_rules(programs: Iterable[Program]) -> list[Rule]:
    """The rule each `restart_on` entry stands for: METRIC > THRESHOLD for HOLD -> restart."""
    return [
        Rule(
            f"{program.name}.restart_on.{metric}",
            program.name,
            parse_condition(f"{metric} > {threshold}"),
            hold=hold,
            repeat=0.0,
            actions=(Action("restart"),),
        )
        for program in programs
        for metric, threshold, hold in program.restart_on
    ]
