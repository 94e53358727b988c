"""Issue #11: a child gets its stdio and `pass_fds`, never another fd of ours.

subprocess closes the parent's other fds in the child by default (`close_fds=True`,
CPython's test_subprocess `test_close_fds`); trio and anyio inherit that. corral
closes them on every spawn path: posix_spawn with close actions from a listing of
/proc/self/fd, libc's closefrom when we hold many fds or cannot list them, a probe
of every fd number when neither is there, and close_range(2) on the fork path.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from corral import Command
from corral.lowlevel import Feature, override_feature
from corral.sandbox import Identity, Sandbox
from tests.helpers import argv
from tests.support.twins import Twin

STDIO = [0, 1, 2]
FORK_PATH = Sandbox(identity=Identity(umask=0o022))
"""A sandbox that needs no privilege and no feature, only the fork path's child steps."""


@pytest.fixture
def stray() -> Iterator[tuple[int, int]]:
    """A pipe both of whose ends are inheritable, as a careless caller or C library leaves them."""
    read, write = os.pipe()
    os.set_inheritable(read, True)
    os.set_inheritable(write, True)
    try:
        yield read, write
    finally:
        os.close(read)
        os.close(write)


@pytest.fixture
def crowded() -> Iterator[None]:
    """Hold more fds than a spawn lists (posix/fds.py MANY), so it closes from the first unused."""
    from corral._platform.posix.fds import MANY

    pipes = [os.pipe() for _ in range(MANY)]
    try:
        yield
    finally:
        for pair in pipes:
            for fd in pair:
                os.close(fd)


def fds_of(twin: Twin, **options: Any) -> list[int]:
    seen: dict[str, Any] = json.loads(twin.run(argv("report_self"), **options).stdout)
    fds: list[int] = seen["fds"]
    return fds


# -- the posix_spawn path ------------------------------------------------------------


def test_an_inheritable_fd_does_not_reach_the_child(twin: Twin, stray: tuple[int, int]) -> None:
    assert fds_of(twin) == STDIO


def test_pass_fds_still_hands_an_fd_on_and_only_that_one(
    twin: Twin, stray: tuple[int, int]
) -> None:
    _, write = stray
    assert fds_of(twin, pass_fds=[write]) == [*STDIO, write]


def test_an_inheritable_fd_given_as_stdout_reaches_the_child_only_as_stdout(
    twin: Twin, stray: tuple[int, int]
) -> None:
    read, write = stray
    twin.run(argv("report_self"), stdout=write)
    with os.fdopen(os.dup(read), "rb", buffering=0) as out:
        seen = json.loads(out.read(65536))
    assert seen["fds"] == STDIO


def test_a_working_directory_closes_them_too(
    twin: Twin, stray: tuple[int, int], tmp_path: Path
) -> None:
    assert fds_of(twin, cwd=tmp_path) == STDIO


def test_the_shell_chdir_fallback_closes_them_too(
    twin: Twin, stray: tuple[int, int], tmp_path: Path
) -> None:
    with override_feature(Feature.SPAWN_CHDIR, False):
        assert fds_of(twin, cwd=tmp_path, pass_fds=[stray[1]]) == [*STDIO, stray[1]]


@pytest.mark.requires(Feature.SPAWN_CLOSEFROM)
@pytest.mark.usefixtures("crowded")
def test_a_process_holding_many_fds_closes_from_the_first_unused_one(
    twin: Twin, stray: tuple[int, int]
) -> None:
    assert fds_of(twin) == STDIO
    assert fds_of(twin, pass_fds=[stray[1]]) == [*STDIO, stray[1]]
    with override_feature(Feature.SPAWN_CHDIR, False):
        assert fds_of(twin, cwd="/") == STDIO


@pytest.mark.requires(Feature.SPAWN_CLOSEFROM)
def test_without_a_listing_of_our_fds_closefrom_closes_them(
    twin: Twin, stray: tuple[int, int]
) -> None:
    with override_feature(Feature.FD_LISTING, False):
        assert fds_of(twin, pass_fds=[stray[1]]) == [*STDIO, stray[1]]


def test_without_a_listing_or_closefrom_every_fd_number_is_probed(
    twin: Twin, stray: tuple[int, int]
) -> None:
    with (
        override_feature(Feature.FD_LISTING, False),
        override_feature(Feature.SPAWN_CLOSEFROM, False),
    ):
        assert fds_of(twin, pass_fds=[stray[1]]) == [*STDIO, stray[1]]


def test_an_fd_made_inheritable_after_a_spawn_is_closed_at_the_next(twin: Twin) -> None:
    read, write = os.pipe()  # close-on-exec; the spawn below sees it and remembers it
    try:
        assert fds_of(twin) == STDIO
        os.set_inheritable(write, True)  # same fds open, one of them now a stray
        assert fds_of(twin) == STDIO
    finally:
        os.close(read)
        os.close(write)


def test_an_fd_swapped_for_an_inheritable_one_is_closed(twin: Twin) -> None:
    read, write = os.pipe()
    try:
        assert fds_of(twin) == STDIO
        os.close(write)  # as many fds open as before, but not the same ones
        write = os.dup2(read, 200, inheritable=True)
        assert fds_of(twin) == STDIO
    finally:
        os.close(read)
        os.close(write)


def test_our_own_fds_keep_their_inheritability(twin: Twin, stray: tuple[int, int]) -> None:
    fds_of(twin)
    assert os.get_inheritable(stray[0])
    assert os.get_inheritable(stray[1])


# -- the fork path (a sandboxed spawn) -----------------------------------------------


def test_the_fork_path_closes_them(twin: Twin, stray: tuple[int, int]) -> None:
    assert fds_of(twin, sandbox=FORK_PATH) == STDIO


def test_the_fork_path_hands_on_pass_fds(twin: Twin, stray: tuple[int, int]) -> None:
    assert fds_of(twin, sandbox=FORK_PATH, pass_fds=[stray[1]]) == [*STDIO, stray[1]]


def test_the_fork_path_without_close_range_marks_them_one_by_one(
    stray: tuple[int, int],
) -> None:
    from corral._platform.posix import fds

    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        fds.mark_all_close_on_exec(None)
        os._exit(1 if any(os.get_inheritable(fd) for fd in stray) else 0)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


# -- pipelines -----------------------------------------------------------------------


def test_no_pipeline_stage_gets_them(twin: Twin, stray: tuple[int, int]) -> None:
    report = Command(*argv("report_self"))
    drain_then_report = Command("sh", "-c", 'cat >/dev/null; exec "$0" "$@"', *argv("report_self"))
    first = twin.run_pipeline(report | Command(*argv("copy_stdin")))
    last = twin.run_pipeline(report | drain_then_report)
    assert json.loads(first.stdout)["fds"] == STDIO
    assert json.loads(last.stdout)["fds"] == STDIO


def test_a_started_process_does_not_get_them(twin: Twin, stray: tuple[int, int]) -> None:
    with twin.start(argv("report_self")) as proc:
        line = proc.readline()
    assert line is not None
    assert json.loads(line)["fds"] == STDIO
