"""[web] enabled: the dashboard needs the TCP listener, and TLS unless it is on loopback."""

from __future__ import annotations

from pathlib import Path

import pytest

from corral._errors import ConfigError
from corral._supervisor.config.load import load_config
from corral._supervisor.config.settings import WebSettings


def _config(tmp_path: Path, listen: str | None, web: str) -> Path:
    token = tmp_path / "api.token"
    token.write_text("t" * 32 + "\n")
    token.chmod(0o600)
    lines = ["[daemon]"]
    if listen is not None:
        lines += [f"http_listen = '{listen}'", f"http_token_file = '{token}'"]
    file = tmp_path / "corral.toml"
    file.write_text("\n".join([*lines, "[web]", web, ""]))
    return file


def test_the_dashboard_is_off_unless_asked_for(tmp_path: Path) -> None:
    (tmp_path / "corral.toml").write_text("[daemon]\n")
    assert load_config(tmp_path / "corral.toml").web == WebSettings(enabled=False)


@pytest.mark.parametrize("listen", ["127.0.0.1:9180", "127.0.0.2:0", "[::1]:9180", "localhost:1"])
def test_on_a_loopback_listener_it_needs_no_tls(tmp_path: Path, listen: str) -> None:
    assert load_config(_config(tmp_path, listen, "enabled = true")).web.enabled


def test_without_a_tcp_listener_it_is_refused_at_its_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(_config(tmp_path, None, "enabled = true"))
    assert caught.value.key == "web.enabled"
    assert "set [daemon] http_listen" in str(caught.value)


@pytest.mark.parametrize("listen", ["0.0.0.0:9180", "192.0.2.1:9180", "[::]:9180", "127.0.0:9"])
def test_off_loopback_without_tls_it_is_refused(tmp_path: Path, listen: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(_config(tmp_path, listen, "enabled = true"))
    assert caught.value.key == "web.enabled"
    assert caught.value.expected == "TLS on a listener that is not loopback"
    assert "set tls_cert_file" in str(caught.value)


def test_a_value_that_is_not_a_boolean_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(_config(tmp_path, "127.0.0.1:9180", "enabled = 1"))
    assert (caught.value.key, caught.value.expected) == ("web.enabled", "true or false")
