"""[[daemon.tokens]] and the TLS keys as the config loader reads them: each problem at its key."""

from __future__ import annotations

from pathlib import Path

from corral._supervisor.config.load import load_config
from corral._supervisor.config.settings import ApiToken
from tests.control.remote import write_secret
from tests.supervisor.config.parsing import config_error

LISTEN = "http_listen = '127.0.0.1:0'"


def test_named_tokens_are_read_in_order_and_a_relative_file_resolves_beside_the_config(
    tmp_path: Path,
) -> None:
    write_secret(tmp_path / "a.token", "a" * 16)
    write_secret(tmp_path / "b.token", "b" * 40)
    config_file = tmp_path / "corral.toml"
    lines = ["[daemon]", LISTEN, "[[daemon.tokens]]", "name = 'a'", "file = 'a.token'"]
    lines += ["[[daemon.tokens]]", "name = 'deploy@ci'", f"file = '{tmp_path / 'b.token'}'"]
    config_file.write_text("\n".join(lines) + "\n")
    daemon = load_config(str(config_file)).daemon
    assert daemon.http_tokens == (ApiToken("a", "a" * 16), ApiToken("deploy@ci", "b" * 40))
    assert "a" * 16 not in repr(daemon)


def test_an_entry_without_a_file_or_with_a_bad_name_is_reported_at_its_key() -> None:
    error = config_error("[daemon]", LISTEN, "[[daemon.tokens]]", "name = 'has space'")
    problems = [(e.line, e.key, e.expected) for e in (error, *error.more)]
    assert problems == [  # in file order: the missing file at its table's header
        (3, "daemon.tokens[0].file", "a path string"),
        (4, "daemon.tokens[0].name", "a name of 1 to 64 letters, digits or _ . @ -"),
    ]


def test_an_unknown_key_in_an_entry_is_named() -> None:
    error = config_error(
        "[daemon]", LISTEN, "[[daemon.tokens]]", "name = 'x'", "file = '/t'", "path = '/t'"
    )
    assert (error.line, error.key, error.got) == (6, "daemon.tokens[0].path", "unknown key 'path'")


def test_tokens_must_be_an_array_of_tables() -> None:
    error = config_error("[daemon]", LISTEN, "tokens = 'secret'")
    assert (error.line, error.key) == (3, "daemon.tokens")
    assert error.expected == "an array of tables [[daemon.tokens]], each with name and file"


def test_the_name_default_is_taken_when_http_token_file_is_set(tmp_path: Path) -> None:
    token = write_secret(tmp_path / "t", "t" * 20)
    error = config_error(
        "[daemon]",
        LISTEN,
        f"http_token_file = '{token}'",
        "[[daemon.tokens]]",
        "name = 'default'",
        f"file = '{token}'",
    )
    assert (error.line, error.key, error.got) == (5, "daemon.tokens[0].name", "'default'")
    assert error.hint == "http_token_file's token is named default"


def test_the_listener_needs_a_token_from_one_key_or_the_other() -> None:
    error = config_error("[daemon]", LISTEN)
    assert error.hint == (
        "the TCP listener requires a bearer token: set http_token_file or [[daemon.tokens]]"
    )


def test_a_missing_tls_key_file_is_named_at_load(tmp_path: Path) -> None:
    token = write_secret(tmp_path / "t", "t" * 20)
    error = config_error(
        "[daemon]",
        LISTEN,
        f"http_token_file = '{token}'",
        f"tls_cert_file = '{tmp_path / 'c.pem'}'",
        f"tls_key_file = '{tmp_path / 'k.pem'}'",
    )
    assert (error.line, error.key) == (5, "daemon.tls_key_file")
    assert error.got == f"{tmp_path / 'k.pem'}: No such file or directory"
