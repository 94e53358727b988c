"""The daemon keeps `ssl` out unless its config needs TLS: a TLS key, or an https webhook."""

from __future__ import annotations

from pathlib import Path

import pytest

from corral._control.ssl_gate import wants_tls


@pytest.mark.parametrize(
    ("text", "wanted"),
    [
        ('[programs.web]\ncommand = ["true"]\n', False),
        ('[daemon]\ntls_cert_file = "c.pem"\n', True),
        ('[alerts.a]\ncondition = "cpu > 1"\nwebhook = "http://127.0.0.1:9/"\n', False),
        ('[alerts.a]\ncondition = "cpu > 1"\nwebhook = "https://hooks.example/x"\n', True),
        ("alerts = 3\n", False),
    ],
)
def test_tls_is_wanted_for_a_tls_key_or_an_https_webhook(
    tmp_path: Path, text: str, wanted: bool
) -> None:
    config = tmp_path / "corral.toml"
    config.write_text(text)
    assert wants_tls(str(config)) is wanted
