"""Optional TLS on the TCP listener: HTTPS with a certificate the client checks against its CA.

Certificates are self-signed ones made by openssl for each test. A daemon without TLS
never loads OpenSSL's TLS library, read from its /proc/PID/maps.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

import corral
from corral._control.client import Client
from corral._control.server.http import HttpServer
from corral._errors import DaemonUnavailable, InvalidSpec
from tests.control.http.harness import ServerHarness, demo_router
from tests.control.remote import TOKENS, self_signed, tcp_port, token_keys, write_secret
from tests.support.daemon import PYTHON, SLEEP_FOREVER, Daemon, daemon_argv, running_daemon
from tests.support.waiting import DEADLINE

PROGRAMS = f"""
[programs.web]
command = {SLEEP_FOREVER}
"""


def _tls_keys(tmp_path: Path) -> str:
    cert, key = self_signed(tmp_path)
    return f"tls_cert_file = '{cert}'\ntls_key_file = '{key}'\n" + token_keys(tmp_path)


def _mapped(pid: int) -> set[str]:
    """The file names of the shared objects a process has mapped."""
    with open(f"/proc/{pid}/maps") as maps:
        return {os.path.basename(line.split()[-1]) for line in maps if "/" in line}


def _loads_tls_library(pid: int) -> bool:
    return any(name.startswith(("_ssl.", "libssl.")) for name in _mapped(pid))


def test_over_tls_a_client_that_trusts_the_certificate_is_served(tmp_path: Path) -> None:
    with running_daemon(tmp_path, PROGRAMS, _tls_keys(tmp_path)) as daemon:
        port = tcp_port(daemon, "https")
        ca = str(tmp_path / "cert.pem")
        with Client(tcp=("127.0.0.1", port), token=TOKENS["ops"], tls_ca=ca) as client:
            status = client.request("GET", "/v1/status")
            assert isinstance(status, dict)
            assert client.request("POST", "/v1/stop", {"targets": ["web"]}) is not None
            follow = client.stream("GET", "/v1/events", query={"follow": "1"})
            with follow:
                assert next(follow)  # a streaming reply works over TLS too
        assert daemon.process is not None
        assert _loads_tls_library(daemon.process.pid)


def test_a_plaintext_client_gets_nothing_from_a_tls_listener(tmp_path: Path) -> None:
    with running_daemon(tmp_path, PROGRAMS, _tls_keys(tmp_path)) as daemon:
        port = tcp_port(daemon, "https")
        plain = Client(tcp=("127.0.0.1", port), token=TOKENS["ops"])
        with plain, pytest.raises(DaemonUnavailable) as caught:
            plain.request("GET", "/v1/status")
    assert "the connection closed before any reply" in str(caught.value)


def test_a_certificate_the_client_does_not_trust_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    stranger, _ = self_signed(other)
    with running_daemon(tmp_path, PROGRAMS, _tls_keys(tmp_path)) as daemon:
        port = tcp_port(daemon, "https")
        client = Client(tcp=("127.0.0.1", port), token=TOKENS["ops"], tls_ca=str(stranger))
        with client, pytest.raises(DaemonUnavailable) as caught:
            client.request("GET", "/v1/status")
    assert "its TLS certificate is not trusted (" in str(caught.value)


def test_a_daemon_without_tls_never_loads_openssl(tmp_path: Path) -> None:
    # Neither the TLS library nor libcrypto: the token check hashes and compares with
    # the interpreter's built-ins, which cost no 4 MB of resident memory.
    with running_daemon(tmp_path, PROGRAMS, token_keys(tmp_path)) as daemon:
        with Client(tcp=("127.0.0.1", tcp_port(daemon)), token=TOKENS["ops"]) as client:
            client.request("GET", "/v1/status")  # the token check ran
        assert daemon.process is not None
        mapped = _mapped(daemon.process.pid)
    openssl = ("_ssl.", "libssl.", "_hashlib.", "libcrypto.")
    assert not any(name.startswith(openssl) for name in mapped), sorted(mapped)


def test_the_cli_talks_tls_with_a_token_file_and_a_ca(tmp_path: Path) -> None:
    with running_daemon(tmp_path, PROGRAMS, _tls_keys(tmp_path)) as daemon:
        port = tcp_port(daemon, "https")
        remote = [
            "--tcp", f"127.0.0.1:{port}",
            "--token-file", str(tmp_path / "ci.token"),
            "--tls-ca", str(tmp_path / "cert.pem"),
        ]  # fmt: skip
        result = corral.run([PYTHON, "-m", "corral", "status", *remote], check=False)
        no_ca = corral.run([PYTHON, "-m", "corral", "status", *remote[:4]], check=False)
    assert result.exit_code == 0, result.stderr_text
    assert "web:0" in result.stdout_text
    assert no_ca.exit_code == 3


def _start_fails(tmp_path: Path, keys: str, code: int) -> str:
    daemon = Daemon(tmp_path, PROGRAMS, keys)
    result = corral.run(daemon_argv(daemon.config), check=False, timeout=DEADLINE)
    assert result.exit_code == code, result.stderr_text
    lines = result.stderr_text.strip().splitlines()
    assert len(lines) == 1, result.stderr_text
    return lines[0]


def test_a_tls_key_others_can_read_stops_the_daemon(tmp_path: Path) -> None:
    keys = _tls_keys(tmp_path)
    (tmp_path / "key.pem").chmod(0o644)
    line = _start_fails(tmp_path, keys, 2)
    assert "daemon.tls_key_file: expected a key file only the daemon's user may read" in line
    assert "mode 0644 lets group or others read or write it" in line


def test_a_certificate_that_is_not_one_stops_the_daemon_naming_it(tmp_path: Path) -> None:
    keys = _tls_keys(tmp_path)
    (tmp_path / "cert.pem").write_text("not a certificate\n")
    line = _start_fails(tmp_path, keys, 1)
    cert = tmp_path / "cert.pem"
    assert line == f"corral: cannot use the TLS certificate {cert}: it holds no PEM certificate"


def test_a_key_of_another_certificate_stops_the_daemon_naming_the_key(tmp_path: Path) -> None:
    keys = _tls_keys(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    _, stranger_key = self_signed(other)
    (tmp_path / "key.pem").write_bytes(stranger_key.read_bytes())
    line = _start_fails(tmp_path, keys, 1)
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    assert line.startswith(
        f"corral: cannot use the TLS key {key}: not a PEM private key of the certificate {cert}"
    )


@pytest.mark.parametrize(
    ("keys", "where"),
    [
        ("tls_cert_file = 'c.pem'\n", "daemon.tls_cert_file: expected tls_key_file set too"),
        ("tls_key_file = 'k.pem'\n", "daemon.tls_key_file: expected tls_cert_file set too"),
    ],
)
def test_tls_needs_both_files(tmp_path: Path, keys: str, where: str) -> None:
    line = _start_fails(tmp_path, keys + token_keys(tmp_path), 2)
    assert where in line


def test_tls_without_a_tcp_listener_is_refused(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    line = _start_fails(tmp_path, f"tls_cert_file = '{cert}'\ntls_key_file = '{key}'\n", 2)
    assert "daemon.tls_cert_file: expected http_listen set too" in line


def test_a_ca_file_without_tcp_or_that_cannot_be_read_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidSpec, match="TLS"):
        Client(str(tmp_path / "x.sock"), tls_ca="ca.pem")
    with pytest.raises(InvalidSpec, match="cannot use the CA file"):
        Client(tcp=("127.0.0.1", 1), tls_ca=str(write_secret(tmp_path / "ca.pem", "junk")))


def test_a_client_that_never_finishes_the_handshake_is_disconnected(tmp_path: Path) -> None:
    from corral._control.server.http.tls import server_context

    cert, key = self_signed(tmp_path)
    harness = ServerHarness()
    try:
        server = HttpServer(demo_router())
        harness.servers.append(server)
        tls = server_context(str(cert), str(key))
        listen = server.listen_tcp("127.0.0.1", 0, TOKENS, tls=tls, tls_handshake_timeout=0.3)
        port = harness.run(listen)
        with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as silent:
            assert silent.recv(1) == b""  # closed by the server; no handshake was ever sent
        assert server.accepted == 0  # it never became a connection that could send a request
    finally:
        harness.close()
