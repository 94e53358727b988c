"""One real daemon for the `corral top` tests, and a way to wait inside a pilot session."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.daemon import SLEEP_FOREVER, Daemon, running_daemon
from tests.support.waiting import DEADLINE

pytest.importorskip("textual", reason="corral top needs the `top` extra (textual)")

PROGRAMS = f"""
[metrics]
interval = 0.2

[programs.web]
command = {SLEEP_FOREVER}
numprocs = 3
start_seconds = 0
backoff = {{ initial = 0.05 }}

[programs.crash]
command = ["sh", "-c", "echo about to fail; exit 3"]
autostart = false
restart = "never"
"""
"""Three sleeping instances, and one that exits 3 once started (the tests start it)."""


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with running_daemon(tmp_path_factory.mktemp("top"), PROGRAMS) as running:
        for n in range(3):
            running.wait_state(f"web:{n}", "RUNNING")
        yield running


async def until(pause: Callable[[float], object], check: Callable[[], object], what: str) -> None:
    """Let the app run until `check()` holds; AssertionError after DEADLINE seconds.

    `pause` is the pilot's: the app's loop processes messages between checks.
    """
    deadline = time.monotonic() + DEADLINE
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {DEADLINE:g} s for {what}")
        await pause(0.02)  # type: ignore[misc]


def repo_root() -> Path:
    return Path(__file__).resolve().parents[3]
