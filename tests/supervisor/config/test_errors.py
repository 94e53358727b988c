"""Every invalid config raises ConfigError naming the file, line and key, and what was expected."""

from __future__ import annotations

import pytest

from corral._errors import ConfigError, CorralError
from tests.supervisor.config.parsing import FILE, config_error, parse

PROGRAM = ("[programs.web]", "command = ['true']")
"""A valid program whose table starts on line 1; the line under test is line 3."""


def where(error: ConfigError) -> tuple[str, int | None, str | None]:
    return error.file, error.line, error.key


# -- the message -----------------------------------------------------------------


def test_the_message_reads_file_line_key_expected_got() -> None:
    error = config_error(*PROGRAM, 'restart = "sometimes"')
    assert str(error) == (
        f"{FILE}:3: programs.web.restart: expected one of always, on-failure, never; "
        "got 'sometimes'"
    )
    assert isinstance(error, CorralError)


def test_a_near_miss_gets_a_did_you_mean() -> None:
    error = config_error(*PROGRAM, 'restart = "on_failure"')
    assert error.hint == "did you mean on-failure?"
    assert str(error).endswith("got 'on_failure'; did you mean on-failure?")


# -- TOML syntax -----------------------------------------------------------------


def test_a_toml_syntax_error_takes_line_and_column_from_the_parser() -> None:
    error = config_error("[programs.web]", "command ['true']")
    assert where(error) == (FILE, 2, None)
    assert error.column == 9
    assert error.expected == "'=' after a key in a key/value pair"
    assert str(error) == f"{FILE}:2:9: expected '=' after a key in a key/value pair"


def test_an_unclosed_array_is_reported_at_the_end_of_the_document() -> None:
    error = config_error("[programs.web]", "exit_codes = [0,", "  2")
    assert where(error) == (FILE, 3, None)
    assert (error.expected, error.hint) == ("valid TOML", "Unclosed array")


def test_a_program_declared_twice_names_the_table() -> None:
    error = config_error(*PROGRAM, "[programs.web]", "command = ['false']")
    assert where(error) == (FILE, 3, "programs.web")
    assert error.expected == "each table declared once"
    assert error.got == "a second [programs.web]"


def test_a_key_set_twice_is_reported_at_the_second() -> None:
    error = config_error(*PROGRAM, "command = ['false']")
    assert where(error) == (FILE, 3, None)
    assert error.expected == "each key defined once"


# -- unknown keys ----------------------------------------------------------------


def test_a_misspelt_program_key_suggests_the_right_one() -> None:
    error = config_error("[programs.web]", "comand = ['true']")
    assert where(error) == (FILE, 2, "programs.web.comand")
    assert error.got == "unknown key 'comand'"
    assert error.hint == "did you mean command?"
    assert "command, depends_on, directory" in error.expected
    assert error.more == ()  # the misspelling is the one problem, not also a missing command


def test_a_misspelt_top_level_table_suggests_the_right_one() -> None:
    error = config_error(*PROGRAM, "[deamon]", "socket = '/tmp/x.sock'")
    assert where(error) == (FILE, 3, "deamon")
    assert error.expected == (
        "a key of the top level: alerts, compat, daemon, listeners, metrics, programs, sockets, web"
    )
    assert error.hint == "did you mean daemon?"


def test_a_misspelt_key_inside_an_inline_table_is_found() -> None:
    error = config_error(*PROGRAM, "backoff = { initail = 1 }")
    assert where(error) == (FILE, 3, "programs.web.backoff.initail")
    assert error.hint == "did you mean initial?"


def test_a_supervisord_key_name_suggests_the_corral_one() -> None:
    error = config_error(*PROGRAM, "autorestart = true")
    assert where(error) == (FILE, 3, "programs.web.autorestart")
    assert error.hint == "did you mean restart? (autorestart is supervisord's name)"


# -- wrong types -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "key", "expected", "got"),
    [
        ('numprocs = "2"', "numprocs", "an integer >= 1", "a string '2'"),
        ("numprocs = true", "numprocs", "an integer >= 1", "a boolean true"),
        ("priority = 1.5", "priority", "an integer", "a float 1.5"),
        ("autostart = 1", "autostart", "true or false", "an integer 1"),
        ("stop_timeout = '10'", "stop_timeout", "seconds >= 0", "a string '10'"),
        ("stop_timeout = false", "stop_timeout", "seconds >= 0", "a boolean false"),
        ("exit_codes = 0", "exit_codes", "an array of exit codes (integers 0-255)", "an integer 0"),
        ("backoff = 1", "backoff", "a table (backoff)", "an integer 1"),
        ("logs.backups = true", "logs.backups", "an integer >= 0", "a boolean true"),
        ("directory = ['/srv']", "directory", "a path string", "an array ['/srv']"),
        (
            "stop_signal = 1.0",
            "stop_signal",
            "a signal name or number (TERM, SIGTERM, 15)",
            "a float 1.0",
        ),
    ],
)
def test_a_value_of_the_wrong_type_names_the_type_it_has(
    line: str, key: str, expected: str, got: str
) -> None:
    error = config_error(*PROGRAM, line)
    assert where(error) == (FILE, 3, f"programs.web.{key}")
    assert (error.expected, error.got) == (expected, got)


def test_a_command_must_be_a_string_or_an_array_of_strings() -> None:
    error = config_error("[programs.web]", "command = 5")
    assert where(error) == (FILE, 2, "programs.web.command")
    assert error.expected == "a command: an array of strings, or one string split like a shell"
    assert error.got == "an integer 5"


def test_a_command_argument_that_is_not_a_string_is_pointed_at() -> None:
    error = config_error("[programs.web]", "command = [", "  'sleep',", "  60,", "]")
    assert where(error) == (FILE, 4, "programs.web.command[1]")
    assert error.got == "an integer 60"


def test_an_environment_value_must_be_a_string_or_an_integer() -> None:
    error = config_error(*PROGRAM, "environment = { DEBUG = true }")
    assert where(error) == (FILE, 3, "programs.web.environment.DEBUG")
    assert (error.expected, error.got) == ("a string or an integer", "a boolean true")
    assert error.hint == 'quote it: DEBUG = "..."'


def test_programs_must_be_tables() -> None:
    error = config_error("[[programs]]", "command = 'true'")
    assert where(error) == (FILE, 1, "programs")
    assert error.expected == "a table of programs: [programs.NAME]"


# -- bad values ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "key", "expected", "got"),
    [
        ("numprocs = 0", "numprocs", "an integer >= 1", "0"),
        ("stop_timeout = -1", "stop_timeout", "seconds >= 0", "-1"),
        ("start_seconds = -0.5", "start_seconds", "seconds >= 0", "-0.5"),
        ("start_seconds = nan", "start_seconds", "seconds >= 0", "nan"),
        ("backoff.factor = 0.5", "backoff.factor", "a number >= 1", "0.5"),
        ("backoff = { jitter = 1.5 }", "backoff.jitter", "a number from 0 to 1", "1.5"),
        ("start_limit = { burst = 0 }", "start_limit.burst", "an integer >= 1", "0"),
        ("exit_codes = [0, 256]", "exit_codes[1]", "an exit code from 0 to 255", "256"),
        ("logs.backups = -1", "logs.backups", "an integer >= 0", "-1"),
        ("directory = ''", "directory", "a path string", "''"),
    ],
)
def test_a_value_out_of_range_names_the_range(line: str, key: str, expected: str, got: str) -> None:
    error = config_error(*PROGRAM, line)
    assert where(error) == (FILE, 3, f"programs.web.{key}")
    assert (error.expected, error.got) == (expected, got)


def test_an_unknown_signal_name_suggests_a_close_one() -> None:
    error = config_error(*PROGRAM, 'stop_signal = "TREM"')
    assert where(error) == (FILE, 3, "programs.web.stop_signal")
    assert (error.got, error.hint) == ("'TREM'", "did you mean TERM?")


def test_an_unknown_signal_number_is_rejected() -> None:
    error = config_error(*PROGRAM, "stop_signal = 999")
    assert where(error) == (FILE, 3, "programs.web.stop_signal")
    assert error.got == "999"


@pytest.mark.parametrize("command", ["[]", "''", "['']", "'   '"])
def test_an_empty_command_is_rejected(command: str) -> None:
    error = config_error(*PROGRAM[:1], f"command = {command}")
    assert where(error) == (FILE, 2, "programs.web.command")
    assert error.expected == "a command with a program name"


def test_a_command_string_a_shell_could_not_split_is_rejected() -> None:
    error = config_error("[programs.web]", 'command = "echo \'unclosed"')
    assert where(error) == (FILE, 2, "programs.web.command")
    assert (error.expected, error.hint) == (
        "a command line a shell could split",
        "No closing quotation",
    )


@pytest.mark.parametrize("size", ['"10 parsecs"', '"1.5G"', '"-5K"', "-1", '"K"'])
def test_a_bad_size_names_the_units(size: str) -> None:
    error = config_error(*PROGRAM, f"logs = {{ max_bytes = {size} }}")
    assert where(error) == (FILE, 3, "programs.web.logs.max_bytes")
    assert error.expected.startswith("a size: bytes as an integer >= 0")


def test_a_program_name_the_spec_rejects_is_reported_at_its_table() -> None:
    error = config_error('[programs."bad name"]', "command = 'true'")
    assert where(error) == (FILE, 1, 'programs."bad name"')
    assert error.expected == "a valid program"
    assert error.hint is not None
    assert "program name 'bad name' must start with" in error.hint


# -- missing keys ----------------------------------------------------------------


def test_a_program_without_a_command_is_reported_at_its_table() -> None:
    error = config_error("# corral", "[programs.web]", "numprocs = 2")
    assert where(error) == (FILE, 2, "programs.web.command")
    assert (error.got, error.hint) == ("nothing", "command is required")


# -- several problems ------------------------------------------------------------


def test_every_problem_is_reported_and_the_first_in_the_file_is_raised() -> None:
    error = config_error(
        "[programs.web]",
        "command = ['true']",
        "stop_timeout = -1",
        "numprocs = 0",
        "[daemon]",
        "socket = 5",
    )
    assert where(error) == (FILE, 3, "programs.web.stop_timeout")
    assert [where(more) for more in error.more] == [
        (FILE, 4, "programs.web.numprocs"),
        (FILE, 6, "daemon.socket"),
    ]
    assert str(error).splitlines() == [error.headline] + [m.headline for m in error.more]


def test_a_broken_program_does_not_hide_problems_in_the_others() -> None:
    error = config_error(
        "[programs.a]",
        "priority = 1",
        "[programs.b]",
        "command = 'true'",
        "numprocs = -3",
    )
    keys = [error.key, *(more.key for more in error.more)]
    assert keys == ["programs.a.command", "programs.b.numprocs"]


def test_a_valid_config_is_not_affected_by_the_problems_of_another() -> None:
    with pytest.raises(ConfigError):
        parse(*PROGRAM, "numprocs = 0")
    assert parse(*PROGRAM).programs[0].numprocs == 1


# -- {index} arithmetic ------------------------------------------------------------


def test_a_malformed_index_expression_in_command_names_its_argument() -> None:
    error = config_error("[programs.web]", "command = ['web', '--port', '{9100 * index}']")
    assert where(error) == (FILE, 2, "programs.web.command[2]")
    assert error.expected.startswith("{index} arithmetic: index, integers, + and -")
    assert error.got == "'{9100 * index}'"
    assert "is not {index} arithmetic" in str(error.hint)


def test_a_malformed_index_expression_in_a_command_string_names_the_key() -> None:
    error = config_error("[programs.web]", "command = 'web --port {index*2}'")
    assert where(error) == (FILE, 2, "programs.web.command")


def test_a_malformed_index_expression_in_environment_names_the_variable() -> None:
    error = config_error(*PROGRAM, "environment = { PORT = '{index+x}', NAME = '{x}' }")
    assert where(error) == (FILE, 3, "programs.web.environment.PORT")
    assert error.hint == "{index+x} in '{index+x}' is not {index} arithmetic"


def test_index_arithmetic_is_kept_for_each_instance_to_substitute() -> None:
    config = parse("[programs.web]", "command = 'web --port \"{9100 + index}\"'", "numprocs = 2")
    assert config.programs[0].instance_process(1).argv == ("web", "--port", "9101")


def test_an_unquoted_spaced_expression_in_a_command_string_says_to_quote_it() -> None:
    error = config_error("[programs.web]", "command = 'web --port {9100 + index}'")
    assert where(error) == (FILE, 2, "programs.web.command")
    assert error.hint == (
        "an expression was split (a command string is split at spaces first: "
        "quote an expression with spaces)"
    )


# -- [sockets.NAME] ------------------------------------------------------------------

SOCKET = ("[sockets.web]", "listen = '127.0.0.1:8080'")


def test_a_program_naming_an_undefined_socket_is_told_the_defined_ones() -> None:
    error = config_error(*SOCKET, "[programs.web]", "command = ['true']", "sockets = ['wbe']")
    assert where(error) == (FILE, 5, "programs.web.sockets[0]")
    assert error.expected == "the name of a [sockets.NAME] table: web"
    assert error.hint == "did you mean web?"


def test_a_listen_that_is_neither_an_address_nor_a_path_says_how_to_write_a_path() -> None:
    error = config_error("[sockets.web]", "listen = 'web.sock'")
    assert where(error) == (FILE, 2, "sockets.web.listen")
    assert error.hint == 'a relative unix socket path starts with "./"'


def test_a_mode_is_for_unix_sockets_only() -> None:
    error = config_error(*SOCKET, "mode = '660'")
    assert where(error) == (FILE, 3, "sockets.web.mode")
    assert "mode applies to unix sockets only" in str(error.hint)


def test_a_unix_socket_path_too_long_for_bind_is_refused_at_its_key() -> None:
    error = config_error("[sockets.web]", f"listen = '/{'x' * 120}/web.sock'")
    assert where(error) == (FILE, 2, "sockets.web.listen")
    assert error.expected == "a unix socket path of at most 107 bytes"


def test_a_socket_listed_twice_by_one_program_is_refused() -> None:
    error = config_error(
        *SOCKET, "[programs.web]", "command = ['true']", "sockets = ['web', 'web']"
    )
    assert where(error) == (FILE, 5, "programs.web.sockets[1]")
    assert (error.expected, error.got) == ("a name not listed before", "'web'")


def test_a_relative_unix_path_resolves_beside_the_config_file() -> None:
    config = parse("[sockets.admin]", "listen = './run/admin.sock'", "mode = 0o660", "backlog = 4")
    (admin,) = config.sockets
    assert (admin.listen, admin.kind, admin.mode, admin.backlog) == (
        "/etc/run/admin.sock", "unix", 0o660, 4
    )  # fmt: skip
