"""Byte ranges of a log as supervisord's readLog and tailLog calls ask for them.

`read_range`: a negative offset is that many bytes from the end (length must be 0);
else `length` bytes from `offset`, 0 meaning to the end. `tail_range`: up to `length`
bytes ending at the end of the log, with the next offset and whether bytes were skipped.
A reply carries at most MAX_READ bytes, whatever was asked.
"""

from __future__ import annotations

from corral._control.server.supervisord.faults import Fault, Faults

__all__ = ["MAX_READ", "read_range", "tail_range"]

MAX_READ = 1 << 20
"""Bytes one read answers with at most (a 10 MB log read whole would be 10 MB of XML)."""


def read_range(path: str, offset: int, length: int) -> bytes:
    """The bytes of the file at `path` supervisord's readLog(offset, length) names."""
    if (offset < 0 and length != 0) or length < 0:
        raise Fault(Faults.BAD_ARGUMENTS)
    try:
        with open(path, "rb") as file:
            size = file.seek(0, 2)
            start = max(0, size + offset) if offset < 0 else offset
            wanted = -offset if offset < 0 else (length or size - start)
            file.seek(start)
            return file.read(max(0, min(wanted, MAX_READ)))
    except FileNotFoundError:
        raise Fault(Faults.NO_FILE, path) from None
    except OSError as exc:
        raise Fault(Faults.FAILED, exc.strerror or str(exc)) from None


def read_bytes(data: bytes, offset: int, length: int) -> bytes:
    """`read_range` over bytes held in memory (the daemon's log of events)."""
    if (offset < 0 and length != 0) or length < 0:
        raise Fault(Faults.BAD_ARGUMENTS)
    start = max(0, len(data) + offset) if offset < 0 else offset
    wanted = -offset if offset < 0 else (length or len(data) - start)
    return data[start : start + max(0, min(wanted, MAX_READ))]


def tail_range(path: str, offset: int, length: int) -> tuple[bytes, int, bool]:
    """(bytes, next offset, overflow) as supervisord's tailProcessLog answers: past
    `offset + length` the log overflowed and its last `length` bytes come; a log shorter
    than that gives its last `length` bytes, or none when `offset` is at its end."""
    length = max(0, min(length, MAX_READ))
    try:
        with open(path, "rb") as file:
            size = file.seek(0, 2)
            overflow = size > offset + length
            if overflow or offset + length > size:
                if not overflow and offset >= size:
                    length = 0
                offset = max(0, size - length)
            file.seek(offset)
            return file.read(length), size, overflow
    except OSError:
        return b"", offset, False
