"""The health keys: `[programs.NAME.health]` and `on_unhealthy`, errors at file:line:key."""

from __future__ import annotations

import pytest

from corral._lifecycle.health import HealthCheck
from tests.supervisor.config.parsing import FILE, config_error, parse

PROGRAM = ("[programs.web]", "command = ['true']")
T = "'127.0.0.1:1'"
K = "programs.web.health"


def test_no_health_table_means_no_probe_and_on_unhealthy_restart() -> None:
    restart = parse(*PROGRAM).programs[0].restart
    assert (restart.health, restart.on_unhealthy) == (None, "restart")


def test_the_table_fills_the_health_check_with_dockers_defaults_for_the_rest() -> None:
    restart = (
        parse(
            *PROGRAM,
            'on_unhealthy = "stop"',
            "[programs.web.health]",
            'http = "http://127.0.0.1:8080/healthz"',
            "interval = 5",
            'status = "200-204"',
            'body = "ok"',
        )
        .programs[0]
        .restart
    )
    assert restart.on_unhealthy == "stop"
    assert restart.health == HealthCheck(
        http="http://127.0.0.1:8080/healthz", interval=5.0, status="200-204", body="ok"
    )


def test_exec_and_tcp_targets() -> None:
    check = parse(*PROGRAM, "[programs.web.health]", "exec = 'test -e /tmp/up'").programs[0]
    assert check.restart.health == HealthCheck(exec=("test", "-e", "/tmp/up"))
    check = parse(*PROGRAM, "[programs.web.health]", "tcp = '[::1]:5432'").programs[0]
    assert check.restart.health == HealthCheck(tcp="[::1]:5432")


@pytest.mark.parametrize(
    ("lines", "line", "key", "words"),
    [
        (("interval = 5",), 3, K, "exactly one of exec, http, tcp; got none"),
        (("tcp = " + T, "exec = ['true']"), 5, K + ".exec", "got exec and tcp"),
        (("tcp = " + T, "interval = -1"), 5, K + ".interval", "expected seconds >= 0; got -1"),
        (("tcp = " + T, "timeout = 0"), 5, K + ".timeout", "must be a number of seconds > 0"),
        (("tcp = '127.0.0.1'",), 4, K + ".tcp", "with a port 1-65535"),
        (("tcp = 5432",), 4, K + ".tcp", "expected a string; got an integer 5432"),
        (("http = 'ftp://127.0.0.1:21/'",), 4, K + ".http", "http://HOST:PORT/PATH"),
        (("http = 'http://127.0.0.1:8080/'", "status = '2xx'"), 5, K + ".status", "a range like"),
        (("tcp = " + T, "body = 'ok'"), 5, K + ".body", "for http probes only"),
        (("tcp = " + T, "retries = 0"), 5, K + ".retries", "expected an integer >= 1; got 0"),
        (("tcp = " + T, "retry = 3"), 5, K + ".retry", "did you mean retries?"),
    ],
)  # fmt: skip
def test_a_bad_health_table_names_file_line_and_key(
    lines: tuple[str, ...], line: int, key: str, words: str
) -> None:
    error = config_error(*PROGRAM, "[programs.web.health]", *lines)
    assert (error.file, error.line, error.key) == (FILE, line, key)
    assert words in str(error)
    assert str(error).startswith(f"{FILE}:{line}: {key}")


def test_a_bad_on_unhealthy_names_its_line() -> None:
    error = config_error(*PROGRAM, 'on_unhealthy = "kill"')
    assert (error.line, error.key) == (3, "programs.web.on_unhealthy")
    assert "expected one of restart, stop, none; got 'kill'" in str(error)


def test_an_index_probe_address_is_checked_for_each_instance() -> None:
    # {index} arithmetic in a probe address is checked rendered: port 65535 + 1 is none
    error = config_error(
        "[programs.web]",
        'command = ["true"]',
        "numprocs = 2",
        "[programs.web.health]",
        'tcp = "127.0.0.1:{65535 + index}"',
    )
    assert (error.file, error.line, error.key) == (FILE, 5, "programs.web.health.tcp")
    assert "65536" in str(error)
