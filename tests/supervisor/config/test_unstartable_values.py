"""Values that would load and then fail every start are refused at load, with file, line and key.

A program whose log file name would pass NAME_MAX (255 bytes) cannot open its logs,
and an argument holding NUL cannot be passed to exec: both used to pass validation
and fail at start.
"""

from __future__ import annotations

import pytest

from corral._supervisor.model.program import NAME_MAX, log_file_name
from tests.supervisor.config.parsing import FILE, config_error, parse


def _longest_name(numprocs: int, backups: int) -> int:
    """The longest program name whose last instance's oldest backup log still fits."""
    room = NAME_MAX - len(log_file_name("", numprocs - 1, "stdout") + f".{backups}")
    return room


def test_a_program_name_whose_log_file_name_would_pass_name_max_is_refused_at_its_table() -> None:
    name = "a" * (_longest_name(1, 5) + 1)
    error = config_error("# corral", f"[programs.{name}]", "command = ['true']")
    assert (error.file, error.line, error.key) == (FILE, 2, f"programs.{name}")
    assert error.hint is not None
    assert f"its log file name would be {NAME_MAX + 1} bytes" in error.hint
    assert f"at most {NAME_MAX}" in error.hint


def test_the_longest_name_whose_log_files_fit_is_accepted() -> None:
    name = "a" * _longest_name(1, 5)
    config = parse(f"[programs.{name}]", "command = ['true']")
    assert config.programs[0].name == name


def test_more_instances_and_backups_make_the_derived_name_longer() -> None:
    name = "a" * _longest_name(1, 5)  # fits with one instance and 5 backups
    error = config_error(
        f"[programs.{name}]", "command = ['true']", "numprocs = 10", "logs = { backups = 10 }"
    )
    assert error.key == f"programs.{name}"


def test_a_nul_in_a_command_argument_is_reported_at_that_argument() -> None:
    error = config_error("[programs.web]", 'command = ["/bin/echo", "ok", "a\\u0000b"]')
    assert (error.file, error.line, error.key) == (FILE, 2, "programs.web.command[2]")
    assert error.expected == "arguments without NUL bytes"


def test_a_nul_in_a_command_string_is_reported_at_the_command() -> None:
    error = config_error("[programs.web]", 'command = "/bin/echo a\\u0000b"')
    assert (error.line, error.key) == (2, "programs.web.command")
    assert error.expected == "arguments without NUL bytes"


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ('directory = "/tmp/a\\u0000b"', "programs.web.directory"),
        ('environment = { A = "x\\u0000y" }', "programs.web.environment.A"),
        ('environment = { "A\\u0000B" = "x" }', 'programs.web.environment."A\\u0000B"'),
    ],
)
def test_a_nul_in_the_directory_or_environment_is_reported_at_its_key(line: str, key: str) -> None:
    error = config_error("[programs.web]", "command = ['true']", line)
    assert (error.line, error.key) == (3, key)
