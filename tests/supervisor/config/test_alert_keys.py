"""[alerts.NAME] tables and restart_on: the rules they make, and their errors at file:line:key."""

from __future__ import annotations

import pytest

from corral._observe.alerts.rules import Action
from tests.supervisor.config.parsing import FILE, config_error, parse

PROGRAM = ("[programs.web]", "command = ['true']")


def test_an_alert_table_is_a_rule_with_its_actions() -> None:
    config = parse(
        *PROGRAM,
        "[alerts.big]",
        'program = "web"',
        'condition = "memory > 512M"',
        'for = "60s"',
        'actions = ["restart", "webhook"]',
        'webhook = "http://127.0.0.1:9/hook"',
        'repeat = "5m"',
    )
    [rule] = config.alerts
    assert (rule.name, rule.program, rule.hold, rule.repeat) == ("big", "web", 60.0, 300.0)
    assert rule.condition.threshold == 512 * 2**20
    assert rule.actions == (Action("restart"), Action("webhook", "http://127.0.0.1:9/hook"))


def test_defaults_watch_every_program_and_emit_events() -> None:
    [rule] = parse(*PROGRAM, "[alerts.dead]", 'condition = "state == fatal"').alerts
    assert (rule.program, rule.condition.value, rule.actions) == ("*", "FATAL", (Action("event"),))


def test_a_command_or_webhook_key_alone_adds_its_action() -> None:
    [rule] = parse(
        *PROGRAM, "[alerts.oom]", 'condition = "exit == oom"', "command = ['logger', 'oom']"
    ).alerts
    assert rule.actions == (Action("event"), Action("command", ("logger", "oom")))


def test_restart_on_is_shorthand_for_restart_rules() -> None:
    config = parse(*PROGRAM, 'restart_on = { memory = "512M", cpu = "90% for 60s" }')
    assert config.programs[0].restart_on == (("cpu", "90%", 60.0), ("memory", "512M", 0.0))
    cpu, memory = config.alerts
    assert (cpu.name, cpu.condition.text, cpu.hold) == ("web.restart_on.cpu", "cpu > 90%", 60.0)
    assert (memory.condition.threshold, memory.actions) == (512 * 2**20, (Action("restart"),))


@pytest.mark.parametrize(
    ("lines", "line", "message"),
    [
        (
            ['condition = "disk > 90%"'],
            4,
            "alerts.a.condition: expected a condition string",
        ),
        (
            ['condition = "memory > 1G"', 'program = "wbe"'],
            5,
            "alerts.a.program: expected the name of a [programs.NAME] table",
        ),
        (['condition = "state == DEAD"'], 4, "alerts.a.condition: expected state == one of"),
        (['condition = "exit == oom"', 'for = "5s"'], 5, "alerts.a.for: expected no for"),
        (['condition = "cpu > 1"', 'for = "soon"'], 5, "alerts.a.for: expected a duration"),
        (['condition = "cpu > 1"', 'actions = ["reboot"]'], 5, "alerts.a.actions[0]: expected"),
        (['condition = "cpu > 1"', 'actions = ["signal"]'], 5, "alerts.a.actions: expected signal"),
        (['condition = "cpu > 1"', 'webhook = "ftp://x/"'], 5, "alerts.a.webhook: expected an"),
        (['condition = "cpu > 1"', "colour = 1"], 5, "alerts.a.colour: expected a key of alerts.a"),
        (["program = 'web'"], 3, "alerts.a.condition: expected a condition string"),
    ],
)
def test_a_bad_rule_names_file_line_and_key(lines: list[str], line: int, message: str) -> None:
    error = config_error(*PROGRAM, "[alerts.a]", *lines)
    assert (error.file, error.line) == (FILE, line)
    assert str(error).startswith(f"{FILE}:{line}: {message}")


def test_a_bad_restart_on_names_its_entry() -> None:
    error = config_error(*PROGRAM, 'restart_on = { memry = "1G" }')
    assert str(error).startswith(f"{FILE}:3: programs.web.restart_on.memry: expected a metric")
    error = config_error(*PROGRAM, 'restart_on = { memory = "lots" }')
    assert str(error).startswith(f"{FILE}:3: programs.web.restart_on.memory: expected")
