"""Directory trust: a directory another user owns or can write, itself or up its parents, is
refused with a message that says which and why; a private one, even under /tmp, is not."""

from __future__ import annotations

import os
import pwd
import stat
from pathlib import Path

import pytest

from corral._errors import UnsafeDirectory
from corral._platform.posix.trust import ensure_directory, unsafe_reason

NOBODY = pwd.getpwnam("nobody")


@pytest.fixture
def base(tmp_path: Path) -> Path:
    """A private directory (root, 0700) to build each case in."""
    tmp_path.chmod(0o700)
    assert unsafe_reason(str(tmp_path)) is None
    return tmp_path


def test_a_directory_owned_by_another_user_is_refused_by_name_owner_and_mode(base: Path) -> None:
    theirs = base / "logs"
    theirs.mkdir(mode=0o755)
    os.chown(theirs, NOBODY.pw_uid, NOBODY.pw_gid)
    with pytest.raises(UnsafeDirectory) as caught:
        ensure_directory(str(theirs), 0o750, what="log directory")
    assert str(caught.value) == (
        f"refusing the log directory {theirs}: {theirs} (owner nobody, uid {NOBODY.pw_uid}, "
        "mode 0755): another user owns it"
    )


def test_a_parent_owned_by_another_user_is_refused(base: Path) -> None:
    parent = base / "srv"
    parent.mkdir(mode=0o755)
    os.chown(parent, NOBODY.pw_uid, NOBODY.pw_gid)
    (parent / "logs").mkdir()
    reason = unsafe_reason(str(parent / "logs"))
    assert reason is not None
    assert reason.startswith(f"{parent} (owner nobody")
    assert reason.endswith("another user owns it")


@pytest.mark.parametrize("mode", [0o775, 0o757, 0o777])
def test_a_parent_others_can_write_without_the_sticky_bit_is_refused(base: Path, mode: int) -> None:
    parent = base / "shared"
    parent.mkdir()
    parent.chmod(mode)
    (parent / "run").mkdir(mode=0o700)
    reason = unsafe_reason(str(parent / "run"))
    assert reason == (
        f"{parent} (owner root, uid 0, mode {mode:04o}): others can write it without the "
        "sticky bit, so they can rename what is in it"
    )


def test_a_shared_sticky_directory_itself_is_refused(base: Path) -> None:
    shared = base / "tmp"
    shared.mkdir()
    shared.chmod(0o1777)
    with pytest.raises(UnsafeDirectory, match=r"others can write it; give the daemon a directory"):
        ensure_directory(str(shared), 0o700, what="socket directory")


def test_a_private_directory_in_a_shared_sticky_one_is_accepted_and_made_0700(base: Path) -> None:
    shared = base / "tmp"
    shared.mkdir()
    shared.chmod(0o1777)
    old_umask = os.umask(0o022)
    try:
        ensure_directory(str(shared / "corral-x"), 0o700, what="socket directory")
    finally:
        os.umask(old_umask)
    made = (shared / "corral-x").stat()
    assert stat.S_IMODE(made.st_mode) == 0o700
    assert made.st_uid == os.geteuid()


def test_one_squatted_first_by_another_user_in_a_sticky_directory_is_refused(base: Path) -> None:
    shared = base / "tmp"
    shared.mkdir()
    shared.chmod(0o1777)
    squatted = shared / "corral-x"
    squatted.mkdir(mode=0o700)
    os.chown(squatted, NOBODY.pw_uid, NOBODY.pw_gid)
    with pytest.raises(UnsafeDirectory, match="another user owns it"):
        ensure_directory(str(squatted), 0o700, what="socket directory")


def test_missing_directories_are_made_with_the_mode_and_group_given(base: Path) -> None:
    target = base / "a" / "b" / "logs"
    ensure_directory(str(target), 0o750, what="log directory", group=NOBODY.pw_gid)
    for made in (base / "a", base / "a" / "b", target):
        status = made.stat()
        assert (stat.S_IMODE(status.st_mode), status.st_gid) == (0o750, NOBODY.pw_gid)


def test_nothing_is_made_under_a_parent_others_can_write(base: Path) -> None:
    parent = base / "open"
    parent.mkdir()
    parent.chmod(0o777)
    with pytest.raises(UnsafeDirectory, match="without the sticky bit"):
        ensure_directory(str(parent / "logs"), 0o750, what="log directory")
    assert not (parent / "logs").exists()


def test_a_symlink_to_an_unsafe_directory_is_judged_by_where_it_leads(base: Path) -> None:
    theirs = base / "theirs"
    theirs.mkdir()
    os.chown(theirs, NOBODY.pw_uid, NOBODY.pw_gid)
    (base / "link").symlink_to(theirs)
    reason = unsafe_reason(str(base / "link"))
    assert reason is not None
    assert reason.startswith(f"{theirs} (owner nobody")
