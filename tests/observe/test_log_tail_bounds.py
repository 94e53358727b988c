"""tail_lines reads a bounded amount whatever the log holds, and only files that are ours.

A program can write one endless line; another user may own the log directory and
plant links there. `corral logs` must answer with bounded memory and never serve
a file the daemon did not write.
"""

from __future__ import annotations

import os
import pwd
import tracemalloc
from pathlib import Path

from corral._observe.logs.tail import CUT, LINE_LIMIT, READ_LIMIT, tail_lines

MiB = 1024 * 1024


def _sparse_line(path: Path, size: int, end: bytes) -> None:
    """A file of one `size`-byte line (NULs, sparse: no disk) ending with `end`."""
    with path.open("wb") as file:
        file.truncate(size - len(end))
        file.seek(0, os.SEEK_END)
        file.write(end)


def test_the_last_line_of_a_256_mib_line_is_its_last_64_kib_marked_cut(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    _sparse_line(log, 256 * MiB, b"the end\n")
    tracemalloc.start()
    try:
        (line,) = tail_lines(str(log), 1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert line == CUT + b"\0" * (LINE_LIMIT - 7) + b"the end"
    assert peak < 2 * MiB  # a few 64 KiB blocks, not the line


def test_an_unterminated_huge_line_is_cut_too(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    _sparse_line(log, 32 * MiB, b"still going")
    (line,) = tail_lines(str(log), 1)
    assert line.startswith(CUT)
    assert line.endswith(b"still going")
    assert len(line) == len(CUT) + LINE_LIMIT


def test_lines_after_a_huge_line_are_whole_and_reading_stops_at_it(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"older\n" + b"x" * (LINE_LIMIT * 3) + b"\nshort one\nshort two\n")
    assert tail_lines(str(log), 2) == [b"short one", b"short two"]
    assert tail_lines(str(log), 10) == [CUT + b"x" * LINE_LIMIT, b"short one", b"short two"]


def test_a_whole_line_longer_than_the_limit_is_cut_to_its_end(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"first\n" + b"y" * (LINE_LIMIT + 10) + b"z\nlast\n")
    assert tail_lines(str(log), 2) == [CUT + b"y" * (LINE_LIMIT - 1) + b"z", b"last"]


def test_many_lines_asked_read_at_most_the_read_limit(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    line = b"w" * 1023
    log.write_bytes((line + b"\n") * (READ_LIMIT // 1024 + 2048))
    lines = tail_lines(str(log), 10**6)
    assert len(lines) <= READ_LIMIT // 1024 + 1
    assert lines[0].startswith(CUT)
    assert lines[1:] == [line] * (len(lines) - 1)


def test_a_symlink_in_place_of_a_log_is_not_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_bytes(b"root only\n")
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "app.log.1").write_bytes(b"ours\n")
    (logs / "app.log").symlink_to(secret)
    assert tail_lines(str(logs / "app.log"), 10) == [b"ours"]


def test_a_hard_link_or_a_file_of_another_user_is_not_read(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    secret = logs / "secret"
    secret.write_bytes(b"root only\n")
    os.link(secret, logs / "app.log")
    theirs = logs / "app.log.1"
    theirs.write_bytes(b"planted\n")
    nobody = pwd.getpwnam("nobody")
    os.chown(theirs, nobody.pw_uid, nobody.pw_gid)
    (logs / "app.log.2").write_bytes(b"ours\n")
    assert tail_lines(str(logs / "app.log"), 10) == [b"ours"]


def test_a_fifo_in_place_of_a_log_does_not_block(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "app.log")
    assert tail_lines(str(tmp_path / "app.log"), 10) == []
