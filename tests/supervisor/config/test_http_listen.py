"""[daemon] http_listen and http_token_file: the opt-in TCP listener's address and token."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from corral._supervisor.config.kinds import split_address
from corral._supervisor.config.settings import ApiToken
from tests.supervisor.config.parsing import FILE, config_error, parse


def test_without_http_listen_there_is_no_tcp_listener() -> None:
    daemon = parse("[daemon]", "socket = '/tmp/x.sock'").daemon
    assert (daemon.http_listen, daemon.http_tokens) == (None, ())


def test_the_token_is_read_from_its_file_when_the_config_is_loaded(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("  s3cret-token-0123456789\n")
    token.chmod(0o600)
    daemon = parse(
        "[daemon]", "http_listen = '127.0.0.1:9180'", f"http_token_file = '{token}'"
    ).daemon
    assert daemon.http_listen == "127.0.0.1:9180"
    assert daemon.http_tokens == (ApiToken("default", "s3cret-token-0123456789"),)
    assert "s3cret" not in repr(daemon)


def test_a_relative_token_file_resolves_beside_the_config() -> None:
    error = config_error("[daemon]", "http_listen = '127.0.0.1:0'", "http_token_file = 'tok'")
    assert (error.line, error.key) == (3, "daemon.http_token_file")
    assert error.got == f"{os.path.join(os.path.dirname(FILE), 'tok')}: No such file or directory"


@pytest.mark.parametrize(
    ("address", "parts"),
    [
        ("127.0.0.1:9180", ("127.0.0.1", 9180)),
        ("[::1]:0", ("::1", 0)),
        ("localhost:80", ("localhost", 80)),
    ],
)
def test_addresses_are_host_and_port(address: str, parts: tuple[str, int]) -> None:
    assert split_address(address) == parts


@pytest.mark.parametrize("address", ["9180", "127.0.0.1:", ":9180", "127.0.0.1:70000", "h:x"])
def test_a_bad_address_names_the_key_and_the_form_expected(address: str) -> None:
    error = config_error("[daemon]", f"http_listen = '{address}'")
    assert (error.file, error.line, error.key) == (FILE, 2, "daemon.http_listen")
    assert error.expected.startswith('a "host:port" string')


def test_http_listen_without_a_token_file_is_refused() -> None:
    error = config_error("[daemon]", "http_listen = '127.0.0.1:9180'")
    assert (error.line, error.key) == (2, "daemon.http_listen")
    assert error.hint == (
        "the TCP listener requires a bearer token: set http_token_file or [[daemon.tokens]]"
    )


@pytest.mark.parametrize(
    ("content", "why"),
    [("", "empty"), ("two words-0123456789", "whitespace, control or non-ASCII bytes inside")],
)
def test_an_unusable_token_is_refused(tmp_path: Path, content: str, why: str) -> None:
    token = tmp_path / "token"
    token.write_text(content)
    token.chmod(0o600)
    error = config_error("[daemon]", "http_listen = '127.0.0.1:0'", f"http_token_file = '{token}'")
    assert (error.line, error.key) == (3, "daemon.http_token_file")
    assert error.got == f"{token}: {why}"
