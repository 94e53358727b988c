"""How the child is started: cwd, environment, process group or session, passed fds."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import corral
from corral._process.spec import ProcessSpec
from corral.lowlevel import TREE_VARIABLE, Feature, launch, override_feature
from corral.sandbox import Sandbox
from tests.helpers import argv
from tests.support.twins import Twin


def report(twin: Twin, *names: str, **options: Any) -> dict[str, Any]:
    """Run report_self and return what it saw."""
    result = twin.run(argv("report_self", *names), **options)
    decoded: dict[str, Any] = json.loads(result.stdout)
    return decoded


@pytest.fixture(
    params=[
        pytest.param("spawn-chdir", marks=pytest.mark.requires(Feature.SPAWN_CHDIR)),
        "shell",
    ]
)
def chdir_path(request: pytest.FixtureRequest) -> Iterator[str]:
    """Enter the cwd through posix_spawn's chdir action, then through the /bin/sh fallback."""
    if request.param == "shell":
        with override_feature(Feature.SPAWN_CHDIR, False):
            yield request.param
    else:
        yield request.param


@pytest.mark.usefixtures("chdir_path")
def test_cwd_is_the_childs_working_directory(twin: Twin, tmp_path: Path) -> None:
    assert report(twin, cwd=tmp_path)["cwd"] == str(tmp_path)


@pytest.mark.usefixtures("chdir_path")
def test_a_relative_program_path_is_relative_to_cwd(twin: Twin, tmp_path: Path) -> None:
    script = tmp_path / "tool.sh"
    script.write_text('#!/bin/sh\necho tool ran in "$PWD"\n')
    script.chmod(0o755)
    result = twin.run(["./tool.sh"], cwd=tmp_path)
    assert result.stdout_text == f"tool ran in {tmp_path}\n"


@pytest.mark.usefixtures("chdir_path")
def test_a_missing_cwd_is_a_bad_working_directory(twin: Twin, tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    with pytest.raises(corral.BadWorkingDirectory) as caught:
        twin.run(argv("report_self"), cwd=missing)
    assert caught.value.step == "chdir"
    assert str(missing) in str(caught.value)
    assert "does not exist" in str(caught.value)


@pytest.mark.usefixtures("chdir_path")
def test_a_file_as_cwd_is_a_bad_working_directory(twin: Twin, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.write_text("")
    with pytest.raises(corral.BadWorkingDirectory, match="is not a directory"):
        twin.run(argv("report_self"), cwd=plain)


@pytest.mark.usefixtures("chdir_path")
def test_a_relative_cwd_ignores_cdpath(
    twin: Twin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A shell's `cd sub` would look in $CDPATH first; corral's cwd means ./sub.
    (tmp_path / "sub").mkdir()
    decoy = tmp_path / "decoy"
    (decoy / "sub").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    seen = report(twin, cwd="sub", extra_env={"CDPATH": str(decoy)})
    assert seen["cwd"] == str(tmp_path / "sub")


def test_env_is_inherited_by_default(twin: Twin, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORRAL_TEST_INHERITED", "from the parent")
    seen = report(twin, "CORRAL_TEST_INHERITED")
    assert seen["env"] == {"CORRAL_TEST_INHERITED": "from the parent"}


def test_extra_env_adds_to_and_overrides_the_inherited_environment(
    twin: Twin, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CORRAL_TEST_KEEP", "kept")
    monkeypatch.setenv("CORRAL_TEST_CHANGE", "old")
    seen = report(
        twin,
        "CORRAL_TEST_KEEP",
        "CORRAL_TEST_CHANGE",
        "CORRAL_TEST_NEW",
        extra_env={"CORRAL_TEST_CHANGE": "new", "CORRAL_TEST_NEW": "added"},
    )
    assert seen["env"] == {
        "CORRAL_TEST_KEEP": "kept",
        "CORRAL_TEST_CHANGE": "new",
        "CORRAL_TEST_NEW": "added",
    }


def test_env_replaces_the_whole_environment(twin: Twin, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORRAL_TEST_INHERITED", "must not leak")
    seen = report(
        twin,
        "CORRAL_TEST_INHERITED",
        "ONLY",
        "EXTRA",
        env={"ONLY": "this"},
        extra_env={"EXTRA": "and this"},
    )
    assert seen["env"] == {"CORRAL_TEST_INHERITED": None, "ONLY": "this", "EXTRA": "and this"}


def test_every_child_carries_a_fresh_tree_marker(twin: Twin) -> None:
    first = report(twin, TREE_VARIABLE, env={})["env"][TREE_VARIABLE]
    second = report(twin, TREE_VARIABLE)["env"][TREE_VARIABLE]
    assert first
    assert second
    assert first != second


def test_a_child_gets_its_own_process_group_in_our_session(twin: Twin) -> None:
    seen = report(twin)
    assert seen["pgid"] == seen["pid"]
    assert seen["sid"] == os.getsid(0)
    assert seen["ppid"] == os.getpid()


def test_new_session_makes_the_child_a_session_leader(twin: Twin) -> None:
    seen = report(twin, new_session=True)
    assert seen["sid"] == seen["pid"] == seen["pgid"]


def test_pass_fds_gives_the_child_that_fd_under_the_same_number(twin: Twin) -> None:
    read, write = os.pipe()
    try:
        seen = report(twin, pass_fds=[write])
        assert write in seen["fds"]
    finally:
        os.close(read)
        os.close(write)


def test_our_other_fds_do_not_leak_into_the_child(twin: Twin) -> None:
    read, write = os.pipe()
    try:
        seen = report(twin)
        assert read not in seen["fds"]
        assert write not in seen["fds"]
    finally:
        os.close(read)
        os.close(write)


def test_pass_fds_below_three_are_invalid() -> None:
    with pytest.raises(corral.InvalidSpec, match="pass_fds"):
        corral.Command("true").pass_fds(2)


@pytest.mark.parametrize("sandboxed", [False, True], ids=["posix_spawn", "fork"])
def test_map_fds_gives_the_child_our_fd_at_the_number_asked(sandboxed: bool) -> None:
    read, write = os.pipe()
    script = "import os; os.write(3, b'at 3\\n'); os.write(4, b'at 4\\n')"
    spec = ProcessSpec(
        argv=(sys.executable, "-c", script),
        stdout="devnull",
        stderr="devnull",
        map_fds=((write, 4), (write, 3)),
        sandbox=Sandbox(rlimits={"nofile": (256, 256)}) if sandboxed else None,
    )
    try:
        launched = launch(spec)
        os.close(write)
        write = -1
        try:
            assert os.waitpid(launched.pid, 0)[1] == 0
        finally:
            launched.notifier.close()
        with os.fdopen(read, "rb") as pipe:
            read = -1
            assert pipe.read() == b"at 3\nat 4\n"
    finally:
        for fd in (read, write):
            if fd >= 0:
                os.close(fd)


@pytest.mark.parametrize(
    "pairs", [((5, 2),), ((5, 3), (6, 3)), ((5, "3"),)], ids=["stdio", "twice", "type"]
)
def test_map_fds_must_name_distinct_child_fds_above_stdio(pairs: Any) -> None:
    with pytest.raises(corral.InvalidSpec, match="map_fds"):
        ProcessSpec(argv=("true",), map_fds=pairs)
