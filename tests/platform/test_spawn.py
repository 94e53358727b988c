"""The fork-free spawn paths (posix_spawn, with chdir or through /bin/sh) and exit notifiers."""

from __future__ import annotations

import errno
import json
import os
import select
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from corral._platform import WaitStatus, decode_status, open_exit_notifier, spawn
from corral._platform.linux.pidfd import PidfdExitNotifier
from corral._platform.posix.exits import ThreadExitNotifier
from corral._platform.posix.spawn import shell_chdir_argv
from corral.lowlevel import Feature, override_feature
from tests.helpers import argv
from tests.support.waiting import DEADLINE


@pytest.fixture(
    params=[
        pytest.param("spawn-chdir", marks=pytest.mark.requires(Feature.SPAWN_CHDIR)),
        "shell",
    ]
)
def chdir_path(request: pytest.FixtureRequest) -> Iterator[str]:
    """posix_spawn's chdir file action, then the /bin/sh fallback."""
    if request.param == "shell":
        with override_feature(Feature.SPAWN_CHDIR, False):
            yield request.param
    else:
        yield request.param


def spawn_and_read(
    command: list[str], *, cwd: str | None, env: dict[bytes, bytes] | None = None, **kw: Any
) -> tuple[int, bytes]:
    """Spawn with stdout on a pipe; return (raw wait status, everything it printed)."""
    read, write = os.pipe()
    try:
        pid = spawn(
            command[0],
            command,
            os.environb if env is None else env,
            cwd=cwd,
            fd_map=[(write, 1)],
            pgroup=kw.get("pgroup", 0),
            new_session=kw.get("new_session", False),
        )
    except BaseException:
        os.close(read)
        raise
    finally:
        os.close(write)
    with os.fdopen(read, "rb") as out:
        output = out.read()  # EOF: the child (the only writer) has exited
    _, raw = os.waitpid(pid, 0)
    return raw, output


def report(cwd: str | None, **kw: Any) -> dict[str, Any]:
    raw, output = spawn_and_read(argv("report_self", "CORRAL_TEST_VAR"), cwd=cwd, **kw)
    assert decode_status(raw) == WaitStatus(code=0, signal=None)
    decoded: dict[str, Any] = json.loads(output)
    return decoded


@pytest.mark.usefixtures("chdir_path")
def test_both_chdir_paths_start_the_same_process(tmp_path: Path) -> None:
    env = {**os.environb, b"CORRAL_TEST_VAR": b"seen"}
    seen = report(str(tmp_path), env=env)
    assert seen["cwd"] == str(tmp_path)
    assert seen["env"] == {"CORRAL_TEST_VAR": "seen"}
    assert seen["argv0"] == argv("report_self")[1]
    assert seen["ppid"] == os.getpid()
    assert seen["pgid"] == seen["pid"]
    assert seen["sid"] == os.getsid(0)
    assert seen["fds"][:3] == [0, 1, 2]


@pytest.mark.usefixtures("chdir_path")
def test_both_chdir_paths_honour_new_session(tmp_path: Path) -> None:
    seen = report(str(tmp_path), new_session=True)
    assert seen["sid"] == seen["pid"]


@pytest.mark.usefixtures("chdir_path")
def test_both_chdir_paths_resolve_a_relative_cwd_against_ours(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "-sub").mkdir()  # a leading dash must not read as an option to cd
    monkeypatch.chdir(tmp_path)
    env = {**os.environb, b"CDPATH": b"/"}
    assert report("-sub", env=env)["cwd"] == str(tmp_path / "-sub")


def test_spawn_chdir_reports_a_missing_directory_as_an_oserror(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as caught:
        spawn_and_read(argv("report_self"), cwd=str(tmp_path / "missing"))
    assert caught.value.errno == errno.ENOENT


def test_the_shell_fallback_exits_127_for_a_missing_directory(tmp_path: Path) -> None:
    with override_feature(Feature.SPAWN_CHDIR, False):
        raw, output = spawn_and_read(argv("report_self"), cwd=str(tmp_path / "missing"))
    assert decode_status(raw) == WaitStatus(code=127, signal=None)
    assert output == b""


def test_shell_chdir_argv_passes_everything_as_arguments() -> None:
    path, shell_argv = shell_chdir_argv("/bin/prog", ["prog", "a b", "$HOME"], "/some dir")
    assert path == "/bin/sh"
    assert shell_argv[:2] == ["sh", "-c"]
    assert shell_argv[3:] == ["sh", "/some dir", "/bin/prog", "a b", "$HOME"]
    assert shell_chdir_argv("/bin/prog", ["prog"], "rel")[1][4] == "./rel"


def test_spawn_without_cwd_joins_a_given_group() -> None:
    raw, output = spawn_and_read(argv("report_self"), cwd=None, pgroup=os.getpgid(0))
    assert decode_status(raw).code == 0
    assert json.loads(output)["pgid"] == os.getpgid(0)


def test_an_exec_failure_is_an_oserror_with_errno(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as caught:
        spawn_and_read([str(tmp_path / "absent")], cwd=None)
    assert caught.value.errno == errno.ENOENT


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(0, WaitStatus(0, None)), (3 << 8, WaitStatus(3, None)), (9, WaitStatus(None, 9))],
)
def test_decode_status(raw: int, expected: WaitStatus) -> None:
    assert decode_status(raw) == expected


@pytest.mark.parametrize(
    ("pidfd", "kind"),
    [
        pytest.param(True, PidfdExitNotifier, marks=pytest.mark.requires(Feature.PIDFD)),
        (False, ThreadExitNotifier),
    ],
)
def test_exit_notifiers_turn_an_exit_into_a_readable_fd(pidfd: bool, kind: type) -> None:
    command = argv("trap_term", "exit")
    read, write = os.pipe()
    try:
        pid = spawn(command[0], command, os.environb, cwd=None, fd_map=[(write, 1)], pgroup=0,
                    new_session=False)  # fmt: skip
    finally:
        os.close(write)
    with override_feature(Feature.PIDFD, pidfd), os.fdopen(read, "rb") as out:
        notifier = open_exit_notifier(pid)
        try:
            assert isinstance(notifier, kind)
            assert out.readline() == b"ready\n"
            assert notifier.collect() is None  # still running
            os.kill(pid, signal.SIGKILL)
            poller = select.poll()
            poller.register(notifier.fd, select.POLLIN)
            assert poller.poll(DEADLINE * 1000), "the exit fd never became readable"
            assert notifier.collect() == WaitStatus(code=None, signal=signal.SIGKILL)
        finally:
            notifier.close()
