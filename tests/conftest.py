"""Fixtures for the whole suite: leak checks, the sync/async twins, the exit notifiers.

The pytest process makes itself a child subreaper at start, so a process a test
leaves behind (even a double-forked one) is re-parented to us, where the autouse
`no_leaked_children` check sees it, kills it and fails the test. `no_leaked_fds`
fails a test that leaves a file descriptor open. `no_blocking_call_on_a_daemon_loop`
fails a test whose daemon under test made a blocking call on its event loop and
ended without `Daemon.stop()` (which checks that itself).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Iterator

import pytest

from corral._platform.features import status as feature_status
from corral.lowlevel import Feature, become_subreaper, override_feature
from tests.support.daemon import take_unchecked_loop_reports
from tests.support.pids import Stat, children_of, cmdline, watch
from tests.support.twins import AsyncTwin, SyncTwin, Twin

_CLEANUP_ROUNDS = 20
_CLEANUP_WAIT = 5.0


def pytest_configure(config: pytest.Config) -> None:
    """Adopt orphans from here on, so no descendant of a test can escape our view."""
    become_subreaper()


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip a test marked `requires(Feature.X)` when this machine lacks X, saying why."""
    for mark in item.iter_markers("requires"):
        status = feature_status(mark.args[0])  # probes only this feature
        if not status.supported:
            pytest.skip(f"needs {status.feature.value}: {status.reason} (needs {status.needs})")


# -- leak checks ----------------------------------------------------------------


@pytest.fixture(autouse=True)
def no_leaked_children() -> Iterator[None]:
    """Fail a test that leaves a child of ours alive or unreaped (then clean it up)."""
    before = {stat.pid for stat in children_of(os.getpid())}
    yield
    leaked = [stat for stat in children_of(os.getpid()) if stat.pid not in before]
    if leaked:
        described = "; ".join(_describe(stat) for stat in leaked)
        _kill_and_reap_children()
        pytest.fail(f"the test left child processes behind: {described}", pytrace=False)


@pytest.fixture(autouse=True)
def no_leaked_fds() -> Iterator[None]:
    """Fail a test that leaves a new file descriptor open (compared by number and target)."""
    before = _open_fds()
    yield
    after = _open_fds()
    leaked = {fd: target for fd, target in after.items() if before.get(fd) != target}
    if leaked:
        described = ", ".join(f"{fd} -> {target}" for fd, target in sorted(leaked.items()))
        pytest.fail(f"the test left file descriptors open: {described}", pytrace=False)


@pytest.fixture(autouse=True)
def no_blocking_call_on_a_daemon_loop() -> Iterator[None]:
    """Fail a test whose daemon (killed, or ended by a signal) blocked its event loop."""
    take_unchecked_loop_reports()
    yield
    text = take_unchecked_loop_reports()
    if text:
        pytest.fail(f"the daemon made blocking calls on its event loop:\n{text}", pytrace=False)


def _open_fds() -> dict[int, str]:
    found: dict[int, str] = {}
    for name in os.listdir("/proc/self/fd"):
        with contextlib.suppress(FileNotFoundError):  # the fd listdir itself used
            found[int(name)] = os.readlink(f"/proc/self/fd/{name}")
    return found


def _describe(stat: Stat) -> str:
    state = "zombie" if stat.state == "Z" else f"state {stat.state}"
    return f"pid {stat.pid} ({state}, {cmdline(stat.pid)})"


def _kill_and_reap_children() -> None:
    for _ in range(_CLEANUP_ROUNDS):
        stats = children_of(os.getpid())
        if not stats:
            return
        for stat in stats:
            with contextlib.suppress(OSError):
                os.kill(stat.pid, signal.SIGKILL)
        with watch((s.pid for s in stats), must_be_alive=False) as deaths:
            deaths.assert_dead(_CLEANUP_WAIT)
        for stat in stats:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(stat.pid, os.WNOHANG)


# -- the twins and the exit notifiers --------------------------------------------


@pytest.fixture(params=["sync", "async"])
def twin(request: pytest.FixtureRequest) -> Iterator[Twin]:
    """The sync API, then the async one (on a debug-mode loop), for the same test body."""
    if request.param == "sync":
        yield SyncTwin()
        return
    with asyncio.Runner(debug=True) as runner:
        yield AsyncTwin(runner)


@pytest.fixture(
    params=[
        pytest.param("pidfd", marks=pytest.mark.requires(Feature.PIDFD)),
        "thread",
    ]
)
def exit_notifier(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run the test with pidfd exit notification, then with the waiter-thread fallback."""
    if request.param == "pidfd":
        yield "pidfd"
        return
    with override_feature(Feature.PIDFD, False):
        yield "thread"
