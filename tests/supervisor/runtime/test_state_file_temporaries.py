"""The state file's temporary files: a name planted in its directory is never followed.

The daemon is root and its state directory may be one another user can write (a
socket directory handed to a service user): what that user plants there must not
turn the daemon's write into a write elsewhere.
"""

from __future__ import annotations

import os
import pwd
import stat
from pathlib import Path

from corral._supervisor.runtime import checkpoint
from corral._supervisor.runtime.checkpoint import DaemonRecord, TreeRecord

RECORD = DaemonRecord(
    pid=4242,
    started=812.37,
    booted=1_700_000_000.25,
    trees=(TreeRecord("web:0", 5001, 5001, 900.5, "CORRAL_TREE=4242.1.ab12cd34"),),
)
NOBODY = pwd.getpwnam("nobody")


def test_a_symlink_at_the_old_predictable_temporary_name_is_not_followed(tmp_path: Path) -> None:
    state_dir = tmp_path / "run"
    state_dir.mkdir()
    os.chown(state_dir, NOBODY.pw_uid, NOBODY.pw_gid)
    victim = tmp_path / "root-only"
    victim.write_bytes(b"precious root data\n")
    victim.chmod(0o600)
    path = state_dir / "corral.state"
    planted = state_dir / f".corral.state.{os.getpid()}.tmp"  # the name used before
    planted.symlink_to(victim)
    os.lchown(planted, NOBODY.pw_uid, NOBODY.pw_gid)

    checkpoint.write(str(path), RECORD)

    assert victim.read_bytes() == b"precious root data\n"
    assert stat.S_IMODE(victim.stat().st_mode) == 0o600
    assert checkpoint.read(str(path)) == RECORD
    assert not path.is_symlink()


def test_temporaries_are_new_private_files_and_none_is_left_behind(tmp_path: Path) -> None:
    path = tmp_path / "corral.state"
    old_umask = os.umask(0)  # a careless umask must not widen the file
    try:
        for _ in range(20):
            checkpoint.write(str(path), RECORD)
    finally:
        os.umask(old_umask)
    assert os.listdir(tmp_path) == ["corral.state"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
