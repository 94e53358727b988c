"""What the TCP, token, TLS and audit tests share: token files, certificates, the port.

Certificates are made by the openssl command line for each test (a self-signed
certificate for 127.0.0.1 that is its own CA), so no key is ever checked in.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support.daemon import Daemon
from tests.support.waiting import DEADLINE, wait_until

TOKENS = {"ops": "ops-token-0123456789abcdef", "ci": "ci-token-0123456789abcdef"}
"""Two named tokens, each longer than the 16 bytes the daemon requires."""


def write_secret(path: Path, text: str, mode: int = 0o600) -> Path:
    """A file holding `text` with `mode` (private by default)."""
    path.write_text(text)
    path.chmod(mode)
    return path


def token_keys(workdir: Path, tokens: dict[str, str] = TOKENS) -> str:
    """[daemon] lines: a TCP listener on a free loopback port with these named tokens.

    The [[daemon.tokens]] tables end the [daemon] table: put other keys before these.
    """
    lines = ["http_listen = '127.0.0.1:0'"]
    for name, secret in tokens.items():
        file = write_secret(workdir / f"{name}.token", secret + "\n")
        lines.append(f"[[daemon.tokens]]\nname = '{name}'\nfile = '{file}'")
    return "\n".join(lines) + "\n"


def tcp_port(daemon: Daemon, scheme: str = "http") -> int:
    """The port the daemon's TCP listener bound, from its "listening on" event."""
    prefix = f"listening on {scheme}://127.0.0.1:"

    def announced() -> str:
        messages = (str(e["data"].get("message", "")) for e in daemon.events("daemon"))
        return next((m.removeprefix(prefix) for m in messages if m.startswith(prefix)), "")

    return int(wait_until(announced, what="the TCP listener's port"))


def self_signed(workdir: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """(certificate, key) for `host`, made by openssl; the certificate is its own CA."""
    cert, key = workdir / "cert.pem", workdir / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-days", "2", "-subj", f"/CN={host}", "-addext", f"subjectAltName=IP:{host}",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=DEADLINE,
    )  # fmt: skip
    key.chmod(0o600)
    return cert, key
