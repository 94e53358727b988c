"""The etcd client over TLS and with etcd authentication, on a real etcd of this module's own.

The etcd here serves https with a certificate from a throwaway CA made by openssl(1),
and has authentication turned on (a root user), so it cannot share the session's etcd.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from corral.coordinate import CoordinationError, EtcdClient, EtcdLock, StoreUnavailable
from tests.support.etcd import Etcd

PASSWORD = "correct horse"

pytestmark = pytest.mark.skipif(
    shutil.which("etcd") is None or shutil.which("openssl") is None,
    reason="needs etcd (Debian's etcd-server) and openssl(1)",
)


def make_certificates(directory: Path) -> tuple[str, str, str]:
    """(CA, server certificate, server key) for 127.0.0.1, valid for a day."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)

    key = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    openssl(
        "req",
        "-x509",
        *key,
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "1",
        "-subj",
        "/CN=test-ca",
    )
    openssl("req", *key, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    (directory / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.pem", "-days", "1", "-extfile", "san.ext",
    )  # fmt: skip
    return str(directory / "ca.pem"), str(directory / "server.pem"), str(directory / "server.key")


@pytest.fixture(scope="module")
def secure_etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Etcd, str]]:
    ca, cert, key = make_certificates(tmp_path_factory.mktemp("certs"))
    server = Etcd("https", (f"--cert-file={cert}", f"--key-file={key}"))
    try:
        server.start()
        asyncio.run(enable_auth(server.url, ca))
        yield server, ca
    finally:
        server.close()


async def enable_auth(url: str, ca: str) -> None:
    async with EtcdClient([url], ca_file=ca) as client:
        await client.call("/v3/auth/user/add", {"name": "root", "password": PASSWORD})
        await client.call("/v3/auth/role/add", {"name": "root"})
        await client.call("/v3/auth/user/grant", {"user": "root", "role": "root"})
        await client.call("/v3/auth/enable", {})


def lock_once(url: str, **options: str) -> int:
    async def scenario() -> int:
        async with EtcdClient([url], timeout=5, **options) as client:
            lock = EtcdLock(client, "secure", ttl=2)
            token = await lock.acquire(timeout=5)
            await lock.release()
            return token

    return asyncio.run(scenario())


def test_a_lock_over_tls_with_the_right_ca_and_credentials(secure_etcd: tuple[Etcd, str]) -> None:
    server, ca = secure_etcd
    assert lock_once(server.url, ca_file=ca, user="root", password=PASSWORD) > 0


def test_a_server_certificate_from_an_unknown_ca_is_refused_clearly(
    secure_etcd: tuple[Etcd, str],
) -> None:
    server, _ = secure_etcd
    with pytest.raises(StoreUnavailable, match="certificate verify failed"):
        lock_once(server.url, user="root", password=PASSWORD)


def test_a_wrong_password_is_a_clear_error(secure_etcd: tuple[Etcd, str]) -> None:
    server, ca = secure_etcd
    with pytest.raises(
        CoordinationError, match=r"etcd refused the request: .*invalid user ID or password"
    ):
        lock_once(server.url, ca_file=ca, user="root", password="wrong")


def test_no_credentials_on_an_etcd_with_auth_is_a_clear_error(
    secure_etcd: tuple[Etcd, str],
) -> None:
    server, ca = secure_etcd
    with pytest.raises(CoordinationError, match=r"etcd refused the request: .*user name is empty"):
        lock_once(server.url, ca_file=ca)


def test_a_missing_client_certificate_file_is_a_clear_error(secure_etcd: tuple[Etcd, str]) -> None:
    server, ca = secure_etcd
    with pytest.raises(CoordinationError, match=r"etcd client certificate /nonexistent\.pem"):
        lock_once(server.url, ca_file=ca, cert_file="/nonexistent.pem")
