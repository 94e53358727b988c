"""Rotation by size: at line boundaries, within max_bytes, NAME.1 newest, oldest dropped."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from corral._observe.logs.directory import LogDirectory
from corral._observe.logs.rotation import Cut, cut_before_rotation
from corral._observe.logs.writer import LogWriter
from corral.lowlevel import Feature, features, override_feature

from .support import T0, FakeClock, stamp


@pytest.fixture(autouse=True, params=["exchange", "rename chain"])
def rotation_kind(request: pytest.FixtureRequest) -> Iterator[str]:
    """Every rotation test runs with renameat2(RENAME_EXCHANGE) and with its fallback."""
    if request.param == "exchange":
        available = features()[Feature.RENAME_EXCHANGE]
        if not available.supported:
            pytest.skip(f"no RENAME_EXCHANGE here: {available.reason}")
        yield request.param
        return
    with override_feature(Feature.RENAME_EXCHANGE, False):
        yield request.param


def writer(path: Path, *, max_bytes: int, backups: int, timestamps: bool = False) -> LogWriter:
    return LogWriter(
        str(path), timestamps=timestamps, max_bytes=max_bytes, backups=backups, clock=FakeClock()
    )


def chain(path: Path, backups: int) -> list[bytes]:
    """Contents of path.<backups> ... path.1, path: the order they were written in."""
    names = [f"{path}.{index}" for index in range(backups, 0, -1)] + [str(path)]
    return [Path(name).read_bytes() for name in names]


def numbered_lines(count: int, width: int) -> list[bytes]:
    return [b"line %04d ".ljust(width - 1, b".") % index + b"\n" for index in range(count)]


def test_rotation_keeps_n_backups_with_the_newest_as_dot_one(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    lines = numbered_lines(20, 30)  # 3 lines fill a 100-byte file
    with writer(log, max_bytes=100, backups=3) as w:
        for line in lines:
            w.write(line)
    assert chain(log, 3) == [
        b"".join(lines[9:12]),
        b"".join(lines[12:15]),
        b"".join(lines[15:18]),
        b"".join(lines[18:20]),
    ]
    assert not (tmp_path / "app.log.4").exists()


@pytest.mark.parametrize("timestamps", [False, True])
def test_files_stay_within_max_bytes_and_end_at_line_boundaries(
    tmp_path: Path, timestamps: bool
) -> None:
    log = tmp_path / "app.log"
    rng = random.Random(7)
    lines = [b"x" * rng.randrange(0, 120) + b"\n" for _ in range(500)]
    stream = b"".join(lines)
    with writer(log, max_bytes=1000, backups=500, timestamps=timestamps) as w:
        for start in range(0, len(stream), 700):  # chunks that end mid-line
            w.write(stream[start : start + 700])
    files = [path.read_bytes() for path in sorted(tmp_path.iterdir(), key=_age, reverse=True)]
    prefix = stamp(T0) if timestamps else b""
    assert b"".join(files) == b"".join(prefix + line for line in lines)
    assert all(len(content) <= 1000 for content in files)
    assert all(content.endswith(b"\n") for content in files)
    assert len(files) > 30


def _age(path: Path) -> int:
    """0 for app.log, N for app.log.N: larger is older."""
    suffix = path.name.rpartition(".")[2]
    return int(suffix) if suffix.isdigit() else 0


def test_a_line_that_does_not_fit_starts_the_next_file(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    with writer(log, max_bytes=100, backups=1) as w:
        w.write(b"a" * 60 + b"\n")
        w.write(b"b" * 60 + b"\n")
    assert chain(log, 1) == [b"a" * 60 + b"\n", b"b" * 60 + b"\n"]


def test_a_chunk_is_cut_at_its_last_newline_that_fits(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    with writer(log, max_bytes=100, backups=1) as w:
        w.write(b"a" * 39 + b"\n" + b"b" * 39 + b"\n" + b"c" * 39 + b"\n")
    assert chain(log, 1) == [b"a" * 39 + b"\n" + b"b" * 39 + b"\n", b"c" * 39 + b"\n"]


def test_a_line_longer_than_max_bytes_is_split_so_no_file_exceeds_it(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    with writer(log, max_bytes=100, backups=5) as w:
        w.write(b"a" * 250 + b"\n" + b"b\n")
    assert chain(log, 2) == [b"a" * 100, b"a" * 100, b"a" * 50 + b"\nb\n"]


def test_a_line_the_file_has_begun_moves_to_the_next_file(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    with writer(log, max_bytes=100, backups=1) as w:
        w.write(b"a" * 50 + b"\n" + b"x" * 30)  # the x-line began here...
        w.write(b"y" * 30 + b"\n")  # ...and ends past max_bytes
        assert w.size == 61
    assert chain(log, 1) == [b"a" * 50 + b"\n", b"x" * 30 + b"y" * 30 + b"\n"]


def test_a_begun_line_too_long_for_any_file_fills_this_one(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    with writer(log, max_bytes=100, backups=1) as w:
        w.write(b"a" * 50 + b"\n" + b"x" * 30)
        w.write(b"y" * 80 + b"\n")  # the x-line is 111 bytes: it must be split anyway
    assert chain(log, 1) == [b"a" * 50 + b"\n" + b"x" * 30 + b"y" * 19, b"y" * 61 + b"\n"]


def test_a_begun_line_stays_whole_when_backups_is_zero(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    with writer(log, max_bytes=100, backups=0) as w:
        w.write(b"a" * 50 + b"\n" + b"x" * 30)
        w.write(b"y" * 30 + b"\n")
    assert log.read_bytes() == b"x" * 30 + b"y" * 30 + b"\n"


def test_timestamps_count_towards_max_bytes(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    prefixed = stamp(T0) + b"z" * 29 + b"\n"  # 55 bytes: one per 100-byte file
    with writer(log, max_bytes=100, backups=2, timestamps=True) as w:
        w.write(b"z" * 29 + b"\n" + b"z" * 29 + b"\n")
        w.write(b"z" * 29 + b"\n")
    assert chain(log, 2) == [prefixed, prefixed, prefixed]


def test_backups_zero_truncates_in_place(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    with writer(log, max_bytes=100, backups=0) as w:
        for line in numbered_lines(4, 61):
            w.write(line)
        assert w.size == 61
    assert log.read_bytes() == numbered_lines(4, 61)[3]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.log"]


def test_max_bytes_zero_never_rotates(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    with writer(log, max_bytes=0, backups=3) as w:
        w.write(b"q" * 10_000 + b"\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.log"]


def test_a_file_already_over_the_limit_rotates_on_the_first_write(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"old\n" * 50)
    with writer(log, max_bytes=100, backups=1) as w:
        w.write(b"new\n")
    assert chain(log, 1) == [b"old\n" * 50, b"new\n"]


def test_a_rotation_that_cannot_rename_reports_and_keeps_writing(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    (tmp_path / "app.log.1").mkdir()  # renaming a file over a directory fails, even for root
    (tmp_path / "app.log.1" / "keep").touch()
    errors: list[str] = []
    with LogWriter(
        str(log), timestamps=False, max_bytes=10, backups=1, on_error=errors.append
    ) as w:
        w.write(b"12345678\n")
        w.write(b"abcdefgh\n")
        assert w.dropped_bytes == 0
    assert log.read_bytes() == b"12345678\nabcdefgh\n"
    assert len(errors) == 1
    assert errors[0].startswith(f"cannot rotate {log}: EISDIR")


class _Watched(LogDirectory):
    """A log directory that records, after each change it makes, whether `name` exists."""

    def __init__(self, path: Path, name: str) -> None:
        super().__init__(str(path))
        self.watched = name
        self.seen: list[bool] = []

    def _after(self) -> None:
        self.seen.append(os.path.lexists(os.path.join(self.path, self.watched)))

    def rename(self, old: str, new: str) -> None:
        super().rename(old, new)
        self._after()

    def exchange(self, first: str, second: str) -> None:
        super().exchange(first, second)
        self._after()

    def unlink(self, name: str) -> None:
        super().unlink(name)
        self._after()


def test_the_log_name_never_goes_missing_while_it_rotates(
    tmp_path: Path, rotation_kind: str
) -> None:
    # a reader (tail -F, `corral logs`, a test) opening the log mid-rotation must find it
    directory = _Watched(tmp_path, "app.log")
    lines = numbered_lines(40, 30)
    with LogWriter(
        str(tmp_path / "app.log"),
        timestamps=False,
        max_bytes=100,
        backups=2,
        clock=FakeClock(),
        directory=directory,
    ) as w:
        for line in lines:
            w.write(line)
    assert len(directory.seen) > 20  # it rotated, many times
    if rotation_kind == "exchange":
        assert all(directory.seen)
    else:  # the fallback renames the log away before it makes the next: that gap is why
        assert not all(directory.seen)
    assert chain(tmp_path / "app.log", 2)[-1] == b"".join(lines[39:40])
    directory.close()


@pytest.mark.parametrize(
    ("data", "size", "partial", "cut"),
    [
        (b"aa\nbb\ncc\n", 3, 0, Cut(6, carry=False)),  # the whole lines that fit
        (b"aa\nbb\ncc\n", 7, 0, Cut(3, carry=False)),  # exactly one line fits
        (b"aaaa\nb\n", 7, 0, Cut(0, carry=False)),  # none fits: rotate first
        (b"aaaa\nb\n", 7, 2, Cut(0, carry=True)),  # the begun line fits a file: move it
        (b"aaaaaaaaaaaa\n", 0, 0, Cut(10, carry=False)),  # longer than a file: split it
        (b"aaaaaaaa\n", 7, 2, Cut(3, carry=False)),  # begun + rest too long: fill up
        (b"aaaa", 8, 2, Cut(0, carry=True)),  # no newline yet, but it fits a file so far
        (b"aaaa\n", 10, 0, Cut(0, carry=False)),  # the file is full
        (b"aaaa\n", 15, 0, Cut(0, carry=False)),  # the file is over the limit
        (b"aaaa\n", 15, 3, Cut(0, carry=True)),
    ],
)
def test_cut_before_rotation_with_max_bytes_ten(
    data: bytes, size: int, partial: int, cut: Cut
) -> None:
    assert cut_before_rotation(data, size=size, max_bytes=10, partial=partial) == cut
