"""LogWriter: bytes in, the same bytes out (plus one timestamp per line when asked)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from corral._errors import InvalidSpec
from corral._observe.logs.writer import LogWriter

from .support import T0, FakeClock, stamp

MiB = 1024 * 1024


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    return tmp_path / "web-0.out.log"


@pytest.fixture
def plain(log_path: Path, clock: FakeClock) -> Iterator[LogWriter]:
    with LogWriter(str(log_path), timestamps=False, max_bytes=0, backups=0, clock=clock) as w:
        yield w


@pytest.fixture
def stamped(log_path: Path, clock: FakeClock) -> Iterator[LogWriter]:
    with LogWriter(str(log_path), timestamps=True, max_bytes=0, backups=0, clock=clock) as w:
        yield w


def test_the_timestamp_is_utc_rfc3339_with_milliseconds_and_a_space() -> None:
    assert stamp(T0) == b"2026-11-24T23:11:05.125Z "


@pytest.mark.parametrize(
    "chunks",
    [
        [b"one\ntwo\n"],
        [b"on", b"e\ntw", b"o\n"],
        [b"one\n", b"two\n", b"partial"],
        [b"\n\n\n"],
    ],
)
def test_without_timestamps_the_file_holds_exactly_what_was_written(
    plain: LogWriter, log_path: Path, chunks: list[bytes]
) -> None:
    for chunk in chunks:
        plain.write(chunk)
    assert log_path.read_bytes() == b"".join(chunks)
    assert plain.size == len(b"".join(chunks))


def test_each_line_of_a_chunk_gets_the_chunk_prefix(stamped: LogWriter, log_path: Path) -> None:
    stamped.write(b"GET /a\nGET /b\n\nGET /c\n")
    p = stamp(T0)
    assert log_path.read_bytes() == p + b"GET /a\n" + p + b"GET /b\n" + p + b"\n" + p + b"GET /c\n"


def test_a_line_split_across_chunks_gets_one_prefix_from_the_chunk_where_it_began(
    stamped: LogWriter, log_path: Path, clock: FakeClock
) -> None:
    stamped.write(b"hel")
    clock.advance(0.25)
    stamped.write(b"lo\nwor")
    clock.advance(1.5)
    stamped.write(b"ld\n")
    assert log_path.read_bytes() == stamp(T0) + b"hello\n" + stamp(T0 + 0.25) + b"world\n"


def test_a_line_starting_a_chunk_gets_that_chunks_time(
    stamped: LogWriter, log_path: Path, clock: FakeClock
) -> None:
    stamped.write(b"first\n")
    clock.advance(2.0)
    stamped.write(b"second\n")
    assert log_path.read_bytes() == stamp(T0) + b"first\n" + stamp(T0 + 2.0) + b"second\n"


def test_milliseconds_and_seconds_change_between_chunks(
    stamped: LogWriter, log_path: Path, clock: FakeClock
) -> None:
    times = [T0, T0 + 0.5, T0 + 0.875, T0 + 60.0]
    for t in times:
        clock.now = t
        stamped.write(b"x\n")
    assert log_path.read_bytes() == b"".join(stamp(t) + b"x\n" for t in times)
    assert stamp(T0 + 0.875).endswith(b":06.000Z ")


def test_flush_partial_ends_a_trailing_partial_line_once(
    stamped: LogWriter, log_path: Path
) -> None:
    stamped.write(b"no newline yet")
    stamped.flush_partial()
    stamped.flush_partial()
    stamped.write(b"next\n")
    assert log_path.read_bytes() == stamp(T0) + b"no newline yet\n" + stamp(T0) + b"next\n"


def test_flush_partial_after_a_complete_line_writes_nothing(
    plain: LogWriter, log_path: Path
) -> None:
    plain.write(b"done\n")
    plain.flush_partial()
    assert log_path.read_bytes() == b"done\n"


@pytest.mark.parametrize("chunk_size", [MiB + 1, 64 * 1024])
def test_a_one_mebibyte_line_is_written_intact(
    stamped: LogWriter, log_path: Path, chunk_size: int
) -> None:
    line = bytes(range(256)).replace(b"\n", b"") * (MiB // 255 + 1)
    line = line[:MiB] + b"\n"
    for start in range(0, len(line), chunk_size):
        stamped.write(line[start : start + chunk_size])
    assert log_path.read_bytes() == stamp(T0) + line


def test_a_writer_appends_to_an_existing_file(log_path: Path, clock: FakeClock) -> None:
    log_path.write_bytes(b"from the last run\n")
    with LogWriter(str(log_path), timestamps=False, max_bytes=0, backups=0, clock=clock) as w:
        assert w.size == 18
        w.write(b"from this run\n")
    assert log_path.read_bytes() == b"from the last run\nfrom this run\n"


def test_empty_chunks_change_nothing(stamped: LogWriter, log_path: Path) -> None:
    stamped.write(b"")
    assert log_path.read_bytes() == b""


def test_a_closed_writer_refuses_writes_and_closes_twice_harmlessly(
    plain: LogWriter, log_path: Path
) -> None:
    plain.close()
    plain.close()
    with pytest.raises(ValueError, match="closed"):
        plain.write(b"late\n")
    with pytest.raises(ValueError, match="closed"):
        plain.reopen()
    assert repr(plain) == f"<LogWriter {log_path} closed dropped=0 timestamps=off>"


def test_repr_shows_size_drops_and_timestamps(stamped: LogWriter, log_path: Path) -> None:
    stamped.write(b"x\n")
    assert repr(stamped) == f"<LogWriter {log_path} size=27 dropped=0 timestamps=on>"


def test_a_missing_directory_fails_at_construction(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        LogWriter(str(tmp_path / "nope" / "x.log"), timestamps=False, max_bytes=0, backups=0)


@pytest.mark.parametrize(("max_bytes", "backups"), [(-1, 0), (0, -1)])
def test_negative_limits_are_refused(log_path: Path, max_bytes: int, backups: int) -> None:
    with pytest.raises(InvalidSpec):
        LogWriter(str(log_path), timestamps=False, max_bytes=max_bytes, backups=backups)


def test_a_partial_line_is_on_disk_at_once_not_held_back(
    stamped: LogWriter, log_path: Path
) -> None:
    stamped.write(b"no newline")
    assert log_path.read_bytes() == stamp(T0) + b"no newline"


def test_a_clock_stepping_back_gets_the_earlier_time(
    stamped: LogWriter, log_path: Path, clock: FakeClock
) -> None:
    clock.now = T0 + 3600.5
    stamped.write(b"later\n")
    clock.now = T0
    stamped.write(b"earlier\n")
    assert log_path.read_bytes() == stamp(T0 + 3600.5) + b"later\n" + stamp(T0) + b"earlier\n"


def test_a_closed_writer_does_not_rotate_or_reopen(log_path: Path) -> None:
    w = LogWriter(str(log_path), timestamps=False, max_bytes=10, backups=1)
    w.close()
    with pytest.raises(ValueError, match="closed"):
        w.write(b"0123456789abcdef\n")
    assert sorted(p.name for p in log_path.parent.iterdir()) == [log_path.name]
