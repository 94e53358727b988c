"""Read back the end of a log: the last lines across a file and its rotated backups.

Files are read from the end in blocks, so asking for the last 100 lines of a
1 GiB log reads a few blocks, not the file. The file and its backups are treated
as one stream (oldest backup first), so a line that rotation split across two
files comes back whole.

What is read is bounded whatever the file holds: a line longer than `LINE_LIMIT`
comes back as its last `LINE_LIMIT` bytes after the `CUT` marker, and reading
stops at such a line (finding where it began would mean reading all of it), so
lines older than it are not returned; nor is more than `READ_LIMIT` read in all.

The daemon runs as root and another user may own the log directory, so files are
opened relative to the directory's fd with O_NOFOLLOW, and only a regular file
with one link, owned by the reader, is read: a symlink or hard link planted there
is skipped as if the file were missing (the writer reports it, see writer.py).
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterable

from corral._observe.logs.directory import not_ours
from corral._observe.logs.rotation import backup_path

__all__ = ["CUT", "LINE_LIMIT", "READ_LIMIT", "open_log_file", "tail_lines"]

_BLOCK = 64 * 1024
LINE_LIMIT = 64 * 1024
"""The most bytes of one line `tail_lines` returns (its end); a longer line is cut."""
READ_LIMIT = 16 * 1024 * 1024
"""The most bytes one `tail_lines` call reads, however many lines were asked for."""
CUT = b"[cut] "
"""Put before a line that was longer than LINE_LIMIT (or began before READ_LIMIT)."""

_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK


def tail_lines(path: str, n: int, *, backups: int = 5) -> list[bytes]:
    """The last `n` lines of `path` and its backups path.1 ... path.<backups>, oldest first.

    Lines come without their newline. A trailing partial line (a line still being
    written) counts as a line. Missing files are skipped; no file at all gives [].
    """
    if n <= 0:
        return []
    try:
        directory = os.open(os.path.dirname(path) or ".", _DIRECTORY_FLAGS)
    except FileNotFoundError:
        return []
    try:
        names = [os.path.basename(backup_path(path, index)) for index in range(backups + 1)]
        blocks, whole = _read_back(_blocks_backwards(directory, names), n)
    finally:
        os.close(directory)
    lines = b"".join(reversed(blocks)).split(b"\n")
    if lines[-1] == b"":
        lines.pop()  # the stream ended with a newline, not with a partial line
    # Without the stream's start, the oldest line read is only its end: marked as cut.
    return [_bounded(line, cut=not whole and index == 0) for index, line in _last(lines, n)]


def _read_back(reader: Generator[bytes, None, None], n: int) -> tuple[list[bytes], bool]:
    """Blocks from the end until n whole lines, a line over LINE_LIMIT, or READ_LIMIT.

    Returns the blocks (newest first) and whether the stream was read to its start.
    """
    blocks: list[bytes] = []
    newlines = total = 0
    open_line = 0  # bytes of the oldest line, as far as it has been read
    try:
        for block in reader:
            blocks.append(block)
            total += len(block)
            count = block.count(b"\n")
            newlines += count
            open_line = block.find(b"\n") if count else open_line + len(block)
            if newlines > n:  # n + 1 newlines: the n-th line from the end is complete
                return blocks, True
            if open_line > LINE_LIMIT or total >= READ_LIMIT:
                return blocks, False
        return blocks, True
    finally:
        reader.close()


def _last(lines: list[bytes], n: int) -> Iterable[tuple[int, bytes]]:
    start = max(len(lines) - n, 0)
    return ((index, lines[index]) for index in range(start, len(lines)))


def _bounded(line: bytes, *, cut: bool) -> bytes:
    if cut or len(line) > LINE_LIMIT:
        return CUT + line[-LINE_LIMIT:]
    return line


def open_log_file(directory: int, name: str) -> int | None:
    """Open `name` in `directory` (an fd) for reading; None if missing or not ours to read.

    Not ours: a symlink (O_NOFOLLOW refuses it), anything but a regular file, a file
    with more than one link (a hard link planted to another file) or owned by
    another user.
    """
    try:
        fd = os.open(name, _READ_FLAGS, dir_fd=directory)
    except OSError:
        return None  # missing, rotated away meanwhile, or a symlink (ELOOP)
    if not_ours(os.fstat(fd)) is None:
        return fd
    os.close(fd)
    return None


def _blocks_backwards(directory: int, names: Iterable[str]) -> Generator[bytes, None, None]:
    """The contents of the files `names` (newest first), each read from its end, in blocks."""
    for name in names:
        fd = open_log_file(directory, name)
        if fd is None:
            continue
        try:
            position = os.fstat(fd).st_size
            while position > 0:
                start = max(position - _BLOCK, 0)
                yield os.pread(fd, position - start, start)
                position = start
        finally:
            os.close(fd)
