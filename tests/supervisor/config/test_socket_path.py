"""[daemon] socket must fit a unix socket address: a longer path is a config error at load."""

from __future__ import annotations

import pytest

from corral._errors import ConfigError
from corral._platform import max_unix_socket_path
from corral._supervisor.config.load import parse_config
from tests.supervisor.config.parsing import FILE, config_error, parse, toml

LIMIT = max_unix_socket_path()


def socket_of(length: int) -> str:
    """An absolute socket path `length` bytes long."""
    return "/run/" + "s" * (length - len("/run/"))


def test_a_socket_path_of_the_limit_is_accepted() -> None:
    socket = socket_of(LIMIT)
    assert parse("[daemon]", f"socket = '{socket}'").daemon.socket == socket


def test_one_byte_more_names_file_line_key_limit_and_length() -> None:
    socket = socket_of(LIMIT + 1)
    error = config_error("[programs.w]", "command = 'true'", "[daemon]", f"socket = '{socket}'")
    assert (error.file, error.line, error.key) == (FILE, 4, "daemon.socket")
    assert str(error) == (
        f"{FILE}:4: daemon.socket: expected a unix socket path of at most {LIMIT} bytes; "
        f"got {LIMIT + 1} bytes: {socket}"
    )


def test_the_length_is_of_the_resolved_path_in_bytes() -> None:
    relative = "é" * ((LIMIT - len("/etc/")) // 2 + 1)  # two bytes each in UTF-8
    error = config_error("[daemon]", f"socket = '{relative}'")
    assert error.key == "daemon.socket"
    assert error.got == f"{len(('/etc/' + relative).encode())} bytes: /etc/{relative}"


def test_the_default_beside_a_deep_config_is_checked_and_the_hint_says_it_is_the_default() -> None:
    socket = "/" + "d" * (LIMIT - len("//corral.sock") + 1) + "/corral.sock"
    assert len(socket) == LIMIT + 1
    deep = socket.removesuffix("/corral.sock")
    file = f"{deep}/corral.toml"
    with pytest.raises(ConfigError) as caught:
        parse_config(toml("[programs.w]", "command = 'true'"), path=file)
    assert str(caught.value) == (
        f"{file}: daemon.socket: expected a unix socket path of at most {LIMIT} bytes; "
        f"got {LIMIT + 1} bytes: {deep}/corral.sock; "
        "the default, corral.sock beside the config file: set a shorter socket"
    )


def test_it_is_reported_with_the_other_problems_of_the_daemon_table() -> None:
    error = config_error(
        "[daemon]", f"socket = '{socket_of(LIMIT + 1)}'", "http_listen = '127.0.0.1:1'"
    )
    assert [(error.line, error.key), *((m.line, m.key) for m in error.more)] == [
        (2, "daemon.socket"),
        (3, "daemon.http_listen"),
    ]
