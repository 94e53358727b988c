"""LogWriter against a hostile disk: full, file removed or moved, directory gone.

Nothing may raise from write(), and every byte that does not reach the file is
counted (dropped_bytes) and reported through on_drop, once per episode of drops.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import pytest

from corral._observe.logs.writer import LogWriter

from .support import T0, FakeClock, stamp

TINY_FS_BYTES = 64 * 1024


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs mounted for this test (needs root and the mount(8) tool)."""
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("disk-full tests need root and mount(8) to mount a 64 KiB tmpfs")
    command = ["mount", "-t", "tmpfs", "-o", f"size={TINY_FS_BYTES}", "tmpfs", str(mount_point)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"disk-full tests need a tmpfs mount, which failed: {done.stderr.strip()}")
    yield mount_point
    subprocess.run(["umount", str(mount_point)], check=True)


def fill(directory: Path) -> Path:
    """Fill the file system of `directory` to the last byte; returns the filler file."""
    filler = directory / "filler"
    with (
        filler.open("wb", buffering=0) as file,
        pytest.raises(OSError, match="No space left") as full,
    ):
        write_forever(file)
    assert full.value.errno == errno.ENOSPC
    return filler


def write_forever(file: BinaryIO) -> None:
    while True:
        file.write(b"\0" * 4096)


class Drops:
    """Records on_drop calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, str]] = []

    def __call__(self, nbytes: int, reason: str) -> None:
        self.calls.append((nbytes, reason))

    @property
    def total(self) -> int:
        return sum(nbytes for nbytes, _ in self.calls)


def test_a_full_disk_drops_counts_and_reports_then_writing_resumes(tiny_fs: Path) -> None:
    log, drops = tiny_fs / "app.log", Drops()
    with LogWriter(str(log), timestamps=False, max_bytes=0, backups=0, on_drop=drops) as w:
        filler = fill(tiny_fs)
        w.write(b"x" * 1000 + b"\n")
        assert w.dropped_bytes == 1001
        assert drops.calls == [(1001, f"cannot write {log}: ENOSPC (No space left on device)")]
        filler.unlink()
        w.write(b"after\n")
        assert w.dropped_bytes == 1001
    assert log.read_bytes() == b"after\n"


@pytest.mark.parametrize("timestamps", [False, True])
def test_every_byte_is_either_in_the_file_or_counted_as_dropped(
    tiny_fs: Path, timestamps: bool
) -> None:
    log, drops = tiny_fs / "app.log", Drops()
    line = b"y" * 999 + b"\n"  # 1000 bytes: the last one that fits is cut short
    with LogWriter(
        str(log), timestamps=timestamps, max_bytes=0, backups=0, on_drop=drops, clock=FakeClock()
    ) as w:
        for _ in range(100):
            w.write(line)
        on_disk = log.read_bytes()
        assert w.size == len(on_disk)
        expected = (stamp(T0) if timestamps else b"") + line
        assert len(on_disk) + w.dropped_bytes == 100 * len(expected)
        assert w.dropped_bytes > 0
        assert len(drops.calls) == 1  # one report when dropping starts, not one per chunk
        assert on_disk.startswith(expected * (TINY_FS_BYTES // len(expected)))
        assert len(on_disk) == TINY_FS_BYTES


def test_a_removed_file_is_recreated_on_the_first_write_of_the_next_second(tmp_path: Path) -> None:
    log, clock = tmp_path / "app.log", FakeClock()
    with LogWriter(str(log), timestamps=False, max_bytes=0, backups=0, clock=clock) as w:
        w.write(b"one\n")
        log.unlink()
        w.write(b"two\n")  # same second: still goes to the removed file, as documented
        assert not log.exists()
        clock.advance(1.0)
        w.write(b"three\n")
    assert log.read_bytes() == b"three\n"


def test_reopen_recreates_a_removed_file_at_once(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    with LogWriter(str(log), timestamps=False, max_bytes=0, backups=0, clock=FakeClock()) as w:
        w.write(b"one\n")
        log.unlink()
        w.reopen()
        w.write(b"two\n")
    assert log.read_bytes() == b"two\n"


def test_a_file_moved_away_by_another_tool_is_replaced_by_a_fresh_one(tmp_path: Path) -> None:
    log, moved, clock = tmp_path / "app.log", tmp_path / "app.log-20261124", FakeClock()
    with LogWriter(str(log), timestamps=False, max_bytes=0, backups=0, clock=clock) as w:
        w.write(b"before\n")
        log.rename(moved)
        clock.advance(1.0)
        w.write(b"after\n")
    assert (moved.read_bytes(), log.read_bytes()) == (b"before\n", b"after\n")


def test_a_file_truncated_by_another_tool_is_measured_again(tmp_path: Path) -> None:
    log, clock = tmp_path / "app.log", FakeClock()
    with LogWriter(str(log), timestamps=False, max_bytes=100, backups=1, clock=clock) as w:
        w.write(b"a" * 59 + b"\n")
        os.truncate(log, 0)  # logrotate's copytruncate
        clock.advance(1.0)
        w.write(b"b" * 59 + b"\n")  # fits: no rotation
        assert w.size == 60
    assert log.read_bytes() == b"b" * 59 + b"\n"
    assert not (tmp_path / "app.log.1").exists()


def test_a_removed_directory_is_made_again_at_the_next_check(tmp_path: Path) -> None:
    directory, clock, drops = tmp_path / "logs", FakeClock(), Drops()
    directory.mkdir()
    log = directory / "app.log"
    with LogWriter(
        str(log), timestamps=False, max_bytes=0, backups=0, on_drop=drops, clock=clock
    ) as w:
        log.unlink()
        directory.rmdir()
        clock.advance(1.0)
        w.write(b"back\n")
        assert w.dropped_bytes == 0
    assert log.read_bytes() == b"back\n"
    assert drops.calls == []
