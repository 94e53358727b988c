"""The readiness keys: notify, ready_timeout and watchdog, and their errors at file:line:key."""

from __future__ import annotations

import pytest

from tests.supervisor.config.parsing import FILE, config_error, parse

PROGRAM = ("[programs.web]", "command = ['true']")


def test_absent_keys_keep_start_seconds_as_the_readiness_rule() -> None:
    restart = parse(*PROGRAM).programs[0].restart
    assert (restart.notify, restart.ready_timeout, restart.watchdog) == (None, 90.0, 0.0)


def test_the_keys_fill_the_restart_policy() -> None:
    restart = (
        parse(*PROGRAM, 'notify = "sd_notify"', "ready_timeout = 30", "watchdog = 2.5")
        .programs[0]
        .restart
    )
    assert (restart.notify, restart.ready_timeout, restart.watchdog) == ("sd_notify", 30.0, 2.5)
    assert parse(*PROGRAM, 'notify = "fd"').programs[0].restart.notify == "fd"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            'notify = "systemd"',
            "programs.web.notify: expected one of sd_notify, fd; got 'systemd'",
        ),
        ("notify = true", "programs.web.notify: expected one of sd_notify, fd; got a boolean true"),
        ("ready_timeout = -1", "programs.web.ready_timeout: expected seconds >= 0; got -1"),
        (
            'ready_timeout = "30s"',
            "programs.web.ready_timeout: expected seconds >= 0; got a string '30s'",
        ),
        ("watchdog = -0.5", "programs.web.watchdog: expected seconds >= 0; got -0.5"),
        ("watchdog = [10]", "programs.web.watchdog: expected seconds >= 0; got an array [10]"),
    ],
)
def test_a_bad_value_names_file_line_and_key(line: str, message: str) -> None:
    error = config_error(*PROGRAM, 'notify = "sd_notify"' if "notify" not in line else "", line)
    assert (error.file, error.line) == (FILE, 4)
    assert str(error).startswith(f"{FILE}:4: {message}")


def test_watchdog_without_sd_notify_is_an_error_at_the_watchdog_key() -> None:
    error = config_error(*PROGRAM, 'notify = "fd"', "watchdog = 10")
    assert (error.file, error.line, error.key) == (FILE, 4, "programs.web.watchdog")
    assert error.hint == 'watchdog needs notify = "sd_notify": pings come by that protocol'
    error = config_error(*PROGRAM, "watchdog = 10")
    assert (error.line, error.key) == (3, "programs.web.watchdog")


def test_ready_timeout_without_notify_is_an_error_at_its_key() -> None:
    error = config_error(*PROGRAM, "ready_timeout = 5")
    assert (error.file, error.line, error.key) == (FILE, 3, "programs.web.ready_timeout")
    assert error.expected == "notify set too"
