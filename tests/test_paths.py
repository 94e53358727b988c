"""corral._paths: the one resolver of config paths, shared by the daemon and the CLI."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from corral._paths import DaemonPaths, config_dir, daemon_paths, resolve


@pytest.mark.parametrize(
    ("path", "resolved"),
    [
        ("corral.sock", "/etc/corral/corral.sock"),
        ("run/./api.sock", "/etc/corral/run/api.sock"),
        ("../../var/log", "/var/log"),
        ("/run/corral/api.sock", "/run/corral/api.sock"),
        ("/run//corral/../api.sock", "/run/api.sock"),
        ("~/api.sock", "/home/tester/api.sock"),
        ("~", "/home/tester"),
        ("~/../shared/./x", "/home/shared/x"),
    ],
)
def test_a_path_is_home_expanded_joined_to_the_config_dir_and_normalised(
    monkeypatch: pytest.MonkeyPatch, path: str, resolved: str
) -> None:
    monkeypatch.setenv("HOME", "/home/tester")
    assert resolve("/etc/corral", path) == resolved


def test_a_tilde_not_at_the_start_is_a_plain_name() -> None:
    assert resolve("/etc", "a/~/b") == "/etc/a/~/b"


def test_the_config_dir_of_a_relative_file_is_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert config_dir("corral.toml") == str(tmp_path)
    assert config_dir("etc/corral.toml") == os.path.join(str(tmp_path), "etc")


def test_defaults_follow_the_config_then_the_socket_then_the_state_file() -> None:
    assert daemon_paths("/etc/corral/corral.toml", {}) == DaemonPaths(
        socket="/etc/corral/corral.sock",
        log_dir="/etc/corral/logs",
        state_file="/etc/corral/corral.state",
        audit_log="/etc/corral/corral.audit",
        http_token_file=None,
        tls_cert_file=None,
        tls_key_file=None,
    )


def test_given_paths_resolve_and_the_state_file_follows_the_socket(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HOME", "/home/tester")
    paths = daemon_paths("/etc/corral/corral.toml", {"socket": "~/run/api.sock"})
    assert paths.socket == "/home/tester/run/api.sock"
    assert paths.state_file == "/home/tester/run/corral.state"
    paths = daemon_paths(
        "/etc/corral/corral.toml",
        {
            "socket": "/run/api.sock",
            "log_dir": "../log",
            "state_file": "state/corral.state",
            "http_token_file": "~/token",
            "tls_key_file": "tls/key.pem",
        },
    )
    assert paths == DaemonPaths(
        socket="/run/api.sock",
        log_dir="/etc/log",
        state_file="/etc/corral/state/corral.state",
        audit_log="/etc/corral/state/corral.audit",
        http_token_file="/home/tester/token",
        tls_cert_file=None,
        tls_key_file="/etc/corral/tls/key.pem",
    )
