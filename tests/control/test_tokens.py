"""Bearer tokens of the TCP listener: private files, 16 bytes at least, several by name.

Each refusal is a real daemon that does not start (exit 2) and says in one line which
file and why; each acceptance is a real request over a real TCP socket.
"""

from __future__ import annotations

import http.client
import os
import sys
from pathlib import Path

import pytest

import corral
from corral._control.client import Client
from corral._control.server.http.auth import Tokens
from corral._errors import ApiError
from tests.control.remote import TOKENS, tcp_port, token_keys, write_secret
from tests.support.daemon import SLEEP_FOREVER, Daemon, daemon_argv, running_daemon
from tests.support.waiting import DEADLINE

PROGRAMS = f"""
[programs.idle]
command = {SLEEP_FOREVER}
autostart = false
"""
NOBODY = 65534


def _refusal(tmp_path: Path, keys: str) -> str:
    """The daemon's stderr when it refuses to start on these [daemon] keys (exit 2)."""
    daemon = Daemon(tmp_path, PROGRAMS, keys)
    result = corral.run(daemon_argv(daemon.config), check=False, timeout=DEADLINE)
    assert result.exit_code == 2, result.stderr_text
    assert not os.path.exists(daemon.socket)
    lines = result.stderr_text.strip().splitlines()
    assert len(lines) == 1, result.stderr_text  # one line, no traceback
    return lines[0]


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o620, 0o602, 0o644])
def test_a_token_file_group_or_others_can_read_or_write_stops_the_daemon(
    tmp_path: Path, mode: int
) -> None:
    token = write_secret(tmp_path / "token", "a" * 32, mode)
    line = _refusal(tmp_path, f"http_listen = '127.0.0.1:0'\nhttp_token_file = '{token}'\n")
    assert "daemon.http_token_file" in line
    assert f"{token}: mode {mode:04o} lets group or others read or write it" in line
    assert f"chmod 600 {token}" in line


def test_a_token_file_owned_by_another_user_stops_the_daemon(tmp_path: Path) -> None:
    token = write_secret(tmp_path / "token", "a" * 32)
    os.chown(token, NOBODY, NOBODY)
    line = _refusal(tmp_path, f"http_listen = '127.0.0.1:0'\nhttp_token_file = '{token}'\n")
    assert f"{token}: owned by uid {NOBODY}, not by the daemon's user (uid 0)" in line


def test_a_token_shorter_than_16_bytes_stops_the_daemon(tmp_path: Path) -> None:
    token = write_secret(tmp_path / "token", "x" * 15 + "\n")
    line = _refusal(tmp_path, f"http_listen = '127.0.0.1:0'\nhttp_token_file = '{token}'\n")
    assert "expected a token of at least 16 visible ASCII characters" in line
    assert f"got {token}: 15 bytes" in line


def test_a_named_token_file_is_checked_too_and_reported_at_its_entry(tmp_path: Path) -> None:
    good = write_secret(tmp_path / "good", "g" * 20)
    bad = write_secret(tmp_path / "bad", "b" * 20, 0o644)
    keys = (
        "http_listen = '127.0.0.1:0'\n"
        f"[[daemon.tokens]]\nname = 'good'\nfile = '{good}'\n"
        f"[[daemon.tokens]]\nname = 'bad'\nfile = '{bad}'\n"
    )
    line = _refusal(tmp_path, keys)
    assert "daemon.tokens[1].file" in line
    assert f"{bad}: mode 0644" in line


def test_two_tokens_with_one_name_are_refused(tmp_path: Path) -> None:
    one = write_secret(tmp_path / "one", "1" * 20)
    keys = "http_listen = '127.0.0.1:0'\n" + 2 * f"[[daemon.tokens]]\nname = 'ci'\nfile = '{one}'\n"
    line = _refusal(tmp_path, keys)
    assert "daemon.tokens[1].name: expected a name no other token has; got 'ci'" in line


def test_a_token_file_that_is_a_fifo_is_refused_without_hanging(tmp_path: Path) -> None:
    fifo = tmp_path / "token"
    os.mkfifo(fifo, 0o600)
    line = _refusal(tmp_path, f"http_listen = '127.0.0.1:0'\nhttp_token_file = '{fifo}'\n")
    assert f"{fifo}: not a regular file" in line


def _status_with(port: int, authorization: str | None) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=DEADLINE)
    try:
        headers = {} if authorization is None else {"Authorization": authorization}
        connection.request("GET", "/v1/status", headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def test_every_named_token_is_let_in_and_the_scheme_is_case_insensitive(tmp_path: Path) -> None:
    ops, ci = TOKENS["ops"], TOKENS["ci"]
    with running_daemon(tmp_path, PROGRAMS, token_keys(tmp_path)) as daemon:
        port = tcp_port(daemon)
        accepted = [
            _status_with(port, f"{scheme} {token}")
            for scheme in ("Bearer", "bearer", "BEARER", "bEaReR")
            for token in (ops, ci)
        ]
        refused = [
            _status_with(port, value)
            for value in (None, f"Basic {ops}", f"Bearer {ops[:-1]}", f"Bearer {ops}x", "Bearer")
        ]
    assert accepted == [200] * 8
    assert refused == [401] * 5


def test_the_legacy_token_file_and_named_tokens_work_together(tmp_path: Path) -> None:
    legacy = write_secret(tmp_path / "legacy", "legacy-token-0123456789\n")
    keys = f"http_token_file = '{legacy}'\n" + token_keys(tmp_path, {"ci": TOKENS["ci"]})
    with running_daemon(tmp_path, PROGRAMS, keys) as daemon:
        port = tcp_port(daemon)
        for token in ("legacy-token-0123456789", TOKENS["ci"]):
            with Client(tcp=("127.0.0.1", port), token=token) as client:
                assert isinstance(client.request("GET", "/v1/status"), dict)
        wrong = Client(tcp=("127.0.0.1", port), token="legacy-token-012345678")
        with wrong, pytest.raises(ApiError) as caught:
            wrong.request("GET", "/v1/status")
    assert caught.value.status == 401


def test_the_check_names_the_token_that_matched_whatever_the_schemes_case() -> None:
    tokens = Tokens(TOKENS)
    assert tokens.name_of(f"Bearer {TOKENS['ops']}") == "ops"
    assert tokens.name_of(f"bearer   {TOKENS['ci']} ") == "ci"  # RFC 7235: 1*SP, any case
    assert tokens.name_of(f"Token {TOKENS['ops']}") is None
    assert tokens.name_of(TOKENS["ops"]) is None
    assert tokens.name_of("") is None
    assert repr(tokens) == "<Tokens ops, ci>"  # names only, never a secret


def test_the_cli_refuses_a_token_file_without_tcp_and_a_bad_address(tmp_path: Path) -> None:
    token = write_secret(tmp_path / "t", TOKENS["ops"])
    cli = [sys.executable, "-m", "corral", "--socket", str(tmp_path / "s.sock"), "status"]
    without_tcp = corral.run([*cli, "--token-file", str(token)], check=False)
    bad_address = corral.run([*cli, "--tcp", "localhost", "--token-file", str(token)], check=False)
    assert (without_tcp.exit_code, bad_address.exit_code) == (2, 2)
    assert without_tcp.stderr_text == "corral: --token-file and --tls-ca need --tcp HOST:PORT\n"
    assert bad_address.stderr_text == (
        "corral: --tcp 'localhost': expected HOST:PORT, e.g. 127.0.0.1:9180\n"
    )
