"""LogWriter in a log directory another user owns: nothing planted there is followed.

The daemon is root; the program's user (here `nobody`) may own the log directory.
Whatever that user puts in place of a log (a symlink to a root file, a hard link,
a file of its own), the daemon neither appends to it nor serves it, and says so
once; once the name is clear again, writing resumes in a fresh private file.
"""

from __future__ import annotations

import os
import pwd
import stat
import subprocess
from pathlib import Path

import pytest

from corral._observe.logs.directory import FILE_MODE, LogDirectory
from corral._observe.logs.tail import tail_lines
from corral._observe.logs.writer import LogWriter

from .support import FakeClock

NOBODY = pwd.getpwnam("nobody")
SECRET = b"root:only:secret\n"


class Reports:
    """Records on_drop and on_resume calls."""

    def __init__(self) -> None:
        self.drops: list[tuple[int, str]] = []
        self.resumes: list[int] = []

    def drop(self, nbytes: int, reason: str) -> None:
        self.drops.append((nbytes, reason))

    def resume(self, nbytes: int) -> None:
        self.resumes.append(nbytes)


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "root-only"
    path.write_bytes(SECRET)
    path.chmod(0o600)
    return path


@pytest.fixture
def their_dir(tmp_path: Path) -> Path:
    """A log directory owned by nobody (its parent is root's)."""
    logs = tmp_path / "logs"
    logs.mkdir(mode=0o755)
    os.chown(logs, NOBODY.pw_uid, NOBODY.pw_gid)
    return logs


def as_nobody(script: str, cwd: Path) -> None:
    """Run a shell script as user nobody, as the hostile program would."""
    subprocess.run(["sh", "-c", script], cwd=cwd, user="nobody", group="nogroup", check=True)


def _writer(log: Path, reports: Reports, clock: FakeClock, **kw: int) -> LogWriter:
    return LogWriter(
        str(log),
        timestamps=False,
        max_bytes=kw.get("max_bytes", 0),
        backups=kw.get("backups", 0),
        on_drop=reports.drop,
        on_resume=reports.resume,
        clock=clock,
    )


def test_a_symlink_swapped_in_is_not_followed_on_reopen_nor_served(
    their_dir: Path, secret: Path
) -> None:
    log, reports, clock = their_dir / "app.log", Reports(), FakeClock()
    with _writer(log, reports, clock) as w:
        w.write(b"before\n")
        as_nobody(f"mv app.log app.log.1 && ln -s {secret} app.log", their_dir)
        w.reopen()
        for _ in range(50):
            w.write(b"appended?\n")
        assert w.dropped_bytes == 50 * 10
    assert secret.read_bytes() == SECRET
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert reports.drops == [
        (10, f"cannot write {log}: ELOOP (a symlink is in its place; not followed)")
    ]
    assert SECRET.strip() not in b"\n".join(tail_lines(str(log), 10, backups=1))


def test_the_once_a_second_check_refuses_the_symlink_too_and_resumes_when_it_is_gone(
    their_dir: Path, secret: Path
) -> None:
    log, reports, clock = their_dir / "app.log", Reports(), FakeClock()
    with _writer(log, reports, clock) as w:
        w.write(b"one\n")
        as_nobody(f"rm app.log && ln -s {secret} app.log", their_dir)
        clock.advance(1.0)
        w.write(b"two\n")  # the check of the new second sees the swap
        w.write(b"three\n")
        as_nobody("rm app.log", their_dir)
        clock.advance(1.0)
        w.write(b"four\n")
    assert secret.read_bytes() == SECRET
    assert [nbytes for nbytes, _ in reports.drops] == [4]
    assert reports.resumes == [4 + 6]
    assert log.read_bytes() == b"four\n"
    assert stat.S_IMODE(log.stat().st_mode) == FILE_MODE


def test_rotation_renames_over_a_planted_backup_symlink_without_following_it(
    their_dir: Path, secret: Path
) -> None:
    log, reports, clock = their_dir / "app.log", Reports(), FakeClock()
    with _writer(log, reports, clock, max_bytes=20, backups=1) as w:
        as_nobody(f"ln -s {secret} app.log.1", their_dir)
        for index in range(6):
            w.write(b"line %02d\n" % index)  # 8 bytes: rotates twice
    assert secret.read_bytes() == SECRET
    assert not (their_dir / "app.log.1").is_symlink()
    assert reports.drops == []


@pytest.mark.parametrize("plant", ["hard link", "their file"])
def test_a_hard_link_or_a_file_of_theirs_in_place_of_the_log_is_not_written(
    their_dir: Path, secret: Path, plant: str
) -> None:
    log, reports, clock = their_dir / "app.log", Reports(), FakeClock()
    with _writer(log, reports, clock) as w:
        log.unlink()
        if plant == "hard link":  # nobody may not link a root file (protected_hardlinks)
            os.link(secret, log)
            reason = "EPERM (a file with 2 links; not written)"
        else:
            as_nobody("echo theirs > app.log", their_dir)
            reason = f"EPERM (owned by uid {NOBODY.pw_uid}, not by the daemon; not written)"
        w.reopen()
        w.write(b"appended?\n")
    assert secret.read_bytes() == SECRET
    assert reports.drops == [(10, f"cannot write {log}: {reason}")]


def test_new_logs_are_0640_and_an_old_0644_one_is_made_private(tmp_path: Path) -> None:
    old = tmp_path / "old.log"
    old.write_bytes(b"from before\n")
    old.chmod(0o644)
    directory = LogDirectory(str(tmp_path), group=NOBODY.pw_gid)
    try:
        for name in ("new.log", "old.log"):
            with LogWriter(
                str(tmp_path / name), timestamps=False, max_bytes=0, backups=0, directory=directory
            ) as w:
                w.write(b"x\n")
    finally:
        directory.close()
    for name in ("new.log", "old.log"):
        status = (tmp_path / name).stat()
        assert (stat.S_IMODE(status.st_mode), status.st_gid) == (0o640, NOBODY.pw_gid)


def test_a_removed_directory_comes_back_0750_and_drops_while_it_cannot_are_one_episode(
    tmp_path: Path,
) -> None:
    logs, reports, clock = tmp_path / "logs", Reports(), FakeClock()
    logs.mkdir()
    log = logs / "app.log"
    with _writer(log, reports, clock) as w:
        log.unlink()
        logs.rmdir()
        logs.write_bytes(b"")  # a file where the directory was: it cannot be made again
        clock.advance(1.0)
        for _ in range(100):
            w.write(b"lost\n")
        clock.advance(1.0)
        w.write(b"lost\n")  # the next second's retry fails too: still one episode
        logs.unlink()
        clock.advance(1.0)
        w.write(b"back\n")
    assert len(reports.drops) == 1
    assert reports.drops[0][0] == 5
    assert reports.resumes == [101 * 5]
    assert log.read_bytes() == b"back\n"
    assert stat.S_IMODE(logs.stat().st_mode) == 0o750
