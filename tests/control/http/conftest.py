"""Fixtures of the HTTP transport tests: a server harness and a short socket path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.control.http.harness import ServerHarness


@pytest.fixture
def harness() -> Iterator[ServerHarness]:
    """A loop thread for servers; every server started on it is closed after the test."""
    started = ServerHarness()
    try:
        yield started
    finally:
        started.close()


@pytest.fixture
def sock_path(tmp_path: Path) -> str:
    """Where the test's server listens (short: unix socket paths are limited to 107 bytes)."""
    return str(tmp_path / "c.sock")
