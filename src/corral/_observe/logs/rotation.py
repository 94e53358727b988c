"""Size-based rotation: where to cut a write, and the rename chain NAME -> NAME.1 -> ...

A log file rotates when the next write would push it past `max_bytes`. Two rules
hold for every file: it never exceeds `max_bytes` (so a program that never writes
a newline still cannot fill the disk), and a line is split across two files only
when it is longer than `max_bytes`. The cut is made at the last newline that fits;
a line the old file has begun (its chunk ended mid-line) moves to the new file
with its continuation, when the whole line fits in a file.

Backups are numbered from the newest: NAME.1 is the file rotated most recently,
NAME.<backups> the oldest kept; rotating drops the oldest by renaming over it.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from corral._observe.logs.directory import LogDirectory

__all__ = ["Cut", "backup_path", "cut_before_rotation", "shift_backups"]


class Cut(NamedTuple):
    """How to rotate in the middle of a write."""

    write: int
    """Leading bytes of the data to write to the old file first (0: none)."""
    carry: bool
    """Move the line the old file has begun (its last `partial` bytes) to the new file."""


def cut_before_rotation(data: bytes, *, size: int, max_bytes: int, partial: int) -> Cut:
    """Where to rotate while writing `data`, which does not fit under `max_bytes`.

    Args:
        data: what is about to be written (timestamps already in).
        size: bytes in the current file (may exceed `max_bytes`).
        max_bytes: the limit; > 0.
        partial: bytes of the current file after its last newline (a begun line).
    """
    room = max(max_bytes - size, 0)
    cut = data.rfind(b"\n", 0, room) + 1
    if cut:
        return Cut(cut, carry=False)  # whole lines fit: the rest starts the next file
    newline = data.find(b"\n")
    line_end = newline + 1 if newline >= 0 else len(data)
    if partial + line_end <= max_bytes and partial < size:
        return Cut(0, carry=partial > 0)  # the line fits a fresh file: start it there
    return Cut(room, carry=False)  # a line longer than a file: fill this one, go on


def backup_path(path: str, index: int) -> str:
    """The name of the `index`-th backup of `path` (1 is the newest); 0 is `path` itself."""
    return f"{path}.{index}" if index else path


def shift_backups(directory: LogDirectory, name: str, backups: int) -> None:
    """Rename name.(backups-1) -> name.(backups), ..., name -> name.1; the oldest is dropped.

    Names are in `directory` (renamed and removed by its fd, never through a path
    another user could redirect). The oldest is removed first, so no rename replaces
    an existing file: ext4 (auto_da_alloc) flushes a file renamed over another, a
    stall in the writer. Missing files in the chain are skipped, so a half-made chain
    (or a file removed underneath) rotates as far as it exists. Other OSErrors
    propagate.
    """
    with contextlib.suppress(FileNotFoundError):
        directory.unlink(backup_path(name, backups))
    for index in range(backups - 1, -1, -1):
        with contextlib.suppress(FileNotFoundError):
            directory.rename(backup_path(name, index), backup_path(name, index + 1))
