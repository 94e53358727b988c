"""Size-based rotation: where to cut a write, and the chain NAME -> NAME.1 -> ...

A log file rotates when the next write would push it past `max_bytes`. Two rules
hold for every file: it never exceeds `max_bytes` (so a program that never writes
a newline still cannot fill the disk), and a line is split across two files only
when it is longer than `max_bytes`. The cut is made at the last newline that fits;
a line the old file has begun (its chunk ended mid-line) moves to the new file
with its continuation, when the whole line fits in a file.

Backups are numbered from the newest: NAME.1 is the file rotated most recently,
NAME.<backups> the oldest kept; rotating drops the oldest. NAME itself never
goes missing where the filesystem can exchange two names (see `rotate_files`).
"""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING, NamedTuple

from corral._platform import EXCHANGE_REFUSED
from corral._platform.features import Feature, has

if TYPE_CHECKING:
    from corral._observe.logs.directory import LogDirectory

__all__ = ["Cut", "backup_path", "cut_before_rotation", "rotate_files"]


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


def rotate_files(directory: LogDirectory, name: str, backups: int) -> int:
    """Move `name` to name.1 (name.1 to name.2, ...; the oldest dropped); a fresh `name`'s fd.

    Names are in `directory` (renamed and removed by its fd, never through a path
    another user could redirect). The oldest is removed first, so no rename replaces
    an existing file: ext4 (auto_da_alloc) flushes a file renamed over another, a
    stall in the writer. The fresh file is made as name.1 and exchanged with `name`,
    so a reader always finds `name`; where the filesystem cannot exchange, `name` is
    renamed and made again (it is missing in between). Missing files in the chain
    are skipped, so a half-made chain (or a file removed underneath) rotates as far
    as it exists. Other OSErrors propagate, with nothing left open.
    """
    with contextlib.suppress(FileNotFoundError):
        directory.unlink(backup_path(name, backups))
    for index in range(backups - 1, 0, -1):
        with contextlib.suppress(FileNotFoundError):
            directory.rename(backup_path(name, index), backup_path(name, index + 1))
    newest = backup_path(name, 1)
    if has(Feature.RENAME_EXCHANGE):
        fd = _exchange_fresh(directory, name, newest)
        if fd is not None:
            return fd
    with contextlib.suppress(FileNotFoundError):
        directory.rename(name, newest)
    return directory.open_for_append(name)


def _exchange_fresh(directory: LogDirectory, name: str, newest: str) -> int | None:
    """Make `newest` a fresh file and swap it with `name`: its fd, or None if refused."""
    fd = directory.open_for_append(newest, new=True)
    try:
        try:
            directory.exchange(newest, name)
        except FileNotFoundError:  # `name` was removed underneath: the fresh file takes it
            directory.rename(newest, name)
    except OSError as exc:
        os.close(fd)
        with contextlib.suppress(OSError):
            directory.unlink(newest)
        if exc.errno in EXCHANGE_REFUSED:
            return None
        raise
    return fd
