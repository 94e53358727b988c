"""Read back the end of a log: the last lines across a file and its rotated backups.

Files are read from the end in blocks, so asking for the last 100 lines of a
1 GiB log reads a few blocks, not the file. The file and its backups are treated
as one stream (oldest backup first), so a line that rotation split across two
files comes back whole.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterable
from contextlib import closing

from corral._observe.logs.rotation import files_oldest_first

__all__ = ["tail_lines"]

_BLOCK = 64 * 1024


def tail_lines(path: str, n: int, *, backups: int = 5) -> list[bytes]:
    """The last `n` lines of `path` and its backups path.1 ... path.<backups>, oldest first.

    Lines come without their newline. A trailing partial line (a line still being
    written) counts as a line. Missing files are skipped; no file at all gives [].
    """
    if n <= 0:
        return []
    newest_first = reversed(files_oldest_first(path, backups))
    blocks: list[bytes] = []
    newlines = 0
    with closing(_blocks_backwards(newest_first)) as reader:
        for block in reader:
            blocks.append(block)
            newlines += block.count(b"\n")
            if newlines > n:  # n + 1 newlines: the n-th line from the end is complete
                break
    lines = b"".join(reversed(blocks)).split(b"\n")
    if lines[-1] == b"":
        lines.pop()  # the stream ended with a newline, not with a partial line
    return lines[-n:]


def _blocks_backwards(paths: Iterable[str]) -> Generator[bytes, None, None]:
    """The contents of `paths`, each read from its end, one block at a time."""
    for path in paths:
        try:
            file = open(path, "rb")  # noqa: SIM115 - closed below, around the yields
        except FileNotFoundError:
            continue  # rotated away between listing and opening
        with file:
            position = file.seek(0, os.SEEK_END)
            while position > 0:
                start = max(position - _BLOCK, 0)
                file.seek(start)
                yield file.read(position - start)
                position = start
