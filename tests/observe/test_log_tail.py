"""tail_lines: the last lines of a log, across its rotated files, oldest first."""

from __future__ import annotations

from pathlib import Path

import pytest

from corral._observe.logs.tail import tail_lines
from corral._observe.logs.writer import LogWriter

from .support import FakeClock


@pytest.fixture
def log(tmp_path: Path) -> Path:
    return tmp_path / "app.log"


def test_the_last_n_lines_of_one_file_without_newlines(log: Path) -> None:
    log.write_bytes(b"one\ntwo\nthree\nfour\n")
    assert tail_lines(str(log), 2) == [b"three", b"four"]


def test_fewer_lines_than_asked_gives_them_all(log: Path) -> None:
    log.write_bytes(b"one\n\ntwo\n")
    assert tail_lines(str(log), 10) == [b"one", b"", b"two"]


def test_a_trailing_partial_line_counts_as_a_line(log: Path) -> None:
    log.write_bytes(b"one\ntwo\nstill being writ")
    assert tail_lines(str(log), 2) == [b"two", b"still being writ"]


@pytest.mark.parametrize("n", [0, -3])
def test_no_lines_asked_gives_none(log: Path, n: int) -> None:
    log.write_bytes(b"one\n")
    assert tail_lines(str(log), n) == []


def test_no_file_at_all_gives_nothing(log: Path) -> None:
    assert tail_lines(str(log), 5) == []


def test_lines_come_from_rotated_files_oldest_first(log: Path) -> None:
    with LogWriter(str(log), timestamps=False, max_bytes=20, backups=3, clock=FakeClock()) as w:
        for index in range(12):
            w.write(b"line %02d\n" % index)  # 8 bytes: two per file
    assert Path(f"{log}.3").exists()
    assert tail_lines(str(log), 5) == [b"line %02d" % index for index in range(7, 12)]
    assert tail_lines(str(log), 100) == [b"line %02d" % index for index in range(4, 12)]


def test_backups_limits_the_files_read(log: Path) -> None:
    Path(f"{log}.2").write_bytes(b"oldest\n")
    Path(f"{log}.1").write_bytes(b"older\n")
    log.write_bytes(b"newest\n")
    assert tail_lines(str(log), 10, backups=1) == [b"older", b"newest"]
    assert tail_lines(str(log), 10, backups=0) == [b"newest"]


def test_a_missing_link_in_the_chain_is_skipped(log: Path) -> None:
    Path(f"{log}.3").write_bytes(b"c\n")
    Path(f"{log}.1").write_bytes(b"a\n")
    assert tail_lines(str(log), 10) == [b"c", b"a"]


def test_a_line_split_by_rotation_comes_back_whole(log: Path) -> None:
    with LogWriter(str(log), timestamps=False, max_bytes=100, backups=2, clock=FakeClock()) as w:
        w.write(b"a" * 150 + b"\n")  # longer than a file: split in two
    assert tail_lines(str(log), 1) == [b"a" * 150]


def test_lines_across_block_boundaries_are_whole(log: Path) -> None:
    lines = [b"%06d " % index + b"z" * (index % 300) for index in range(2000)]
    log.write_bytes(b"\n".join(lines) + b"\n")  # about 300 KiB: several 64 KiB blocks
    assert tail_lines(str(log), 1500) == lines[-1500:]
    assert tail_lines(str(log), 1) == lines[-1:]
    assert tail_lines(str(log), 5000) == lines
