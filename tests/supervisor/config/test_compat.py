"""The [compat] table: off by default, a boolean, errors at file, line and key."""

from __future__ import annotations

from tests.supervisor.config.parsing import FILE, config_error, parse

PROGRAM = ("[programs.web]", "command = ['true']")


def test_supervisord_compatibility_is_off_unless_asked_for() -> None:
    assert parse(*PROGRAM).compat.supervisord is False
    assert parse(*PROGRAM, "[compat]", "supervisord = true").compat.supervisord is True


def test_a_value_that_is_not_a_boolean_is_named_at_its_key() -> None:
    error = config_error(*PROGRAM, "[compat]", 'supervisord = "yes"')
    assert (error.file, error.line, error.key) == (FILE, 4, "compat.supervisord")
    assert error.got == "a string 'yes'"


def test_an_unknown_key_of_compat_gets_a_did_you_mean() -> None:
    error = config_error(*PROGRAM, "[compat]", "supervisor = true")
    assert (error.line, error.key) == (4, "compat.supervisor")
    assert error.hint == "did you mean supervisord?"
