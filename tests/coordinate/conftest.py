"""The session's real etcd (started on first use, restarted by any test that killed it)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tests.support.etcd import Etcd


@pytest.fixture(scope="session")
def etcd_server() -> Iterator[Etcd]:
    if shutil.which("etcd") is None:
        pytest.skip("needs etcd (Debian's etcd-server package, installed by the test command)")
    server = Etcd()
    server.start()
    yield server
    server.close()


@pytest.fixture
def etcd(etcd_server: Etcd) -> Iterator[Etcd]:
    """The running etcd; a test may kill it, and it is running again after the test."""
    if not etcd_server.running:
        etcd_server.start()
    yield etcd_server
    if not etcd_server.running:
        etcd_server.start()
