"""Exact logs across a daemon crash: every byte is in a pipe or in the file, never both.

Under a keeper (decision 0020) each instance stream is read through a staging pipe:
a chunk is spliced from the program's pipe into the staging pipe (one syscall, so a
byte is in one pipe or the other), a record notes the log file's size and the chunk's
length (two 8-byte stores in a shared memory page, a memfd the keeper holds), the
chunk is peeked with tee(2) and written to the log, and only then taken out of the
staging pipe, and the record cleared. The staging pipe holds at most that one chunk.

A successor takes the staging pipes and the record over from the keeper and finds in
each staging pipe either nothing, or the chunk of the moment of the crash: it was
written already when the record names a chunk of that length and the file has grown
past the recorded size; otherwise it was not, and it is written now. Then reading goes
on from the program's pipe, through the same staging pipe.
"""

from __future__ import annotations

import asyncio
import mmap
import os
import struct
from typing import TYPE_CHECKING

from corral._platform import pipe_staging
from corral._process.reading import READ_SIZE, READS_PER_WAKEUP, Sink

if TYPE_CHECKING:
    from corral._observe.logs.writer import LogWriter

_SLOT = 16
"""Bytes of the record per stream: the file's size before the chunk, the chunk's length."""
_SCRATCH: list[int] = []
"""The daemon's one scratch pipe (read end, write end) that chunks are peeked into."""


def _scratch() -> tuple[int, int]:
    if not _SCRATCH:
        read, write = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)  # holds what tee put: never waits
        _SCRATCH.extend((read, write))
    return _SCRATCH[0], _SCRATCH[1]


class Staging:
    """One instance's staging pipes (one per stream) and its record, made once per instance."""

    __slots__ = ("_map", "pipes", "record")

    def __init__(self, streams: int) -> None:
        self.record = os.memfd_create("corral-log-record", os.MFD_CLOEXEC)
        os.ftruncate(self.record, _SLOT * streams)
        self._map = mmap.mmap(self.record, _SLOT * streams)
        self.pipes = [os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK) for _ in range(streams)]

    @classmethod
    def take_over(cls, fds: dict[str, int], streams: tuple[str, ...]) -> Staging | None:
        """A dead daemon's staging, from the fds the keeper held (taken out of `fds`);
        None (what was there closed) if any is missing."""
        wanted = ["record", *(f"{s}_staging{end}" for s in streams for end in ("", "_w"))]
        taken = {kind: fds.pop(kind) for kind in wanted if kind in fds}
        if len(taken) != len(wanted):
            for fd in taken.values():
                os.close(fd)
            return None
        staging = cls.__new__(cls)
        staging.record = taken["record"]
        staging._map = mmap.mmap(staging.record, _SLOT * len(streams))
        staging.pipes = [(taken[f"{s}_staging"], taken[f"{s}_staging_w"]) for s in streams]
        for read, write in staging.pipes:
            os.set_blocking(read, False)
            os.set_blocking(write, False)
        return staging

    def handed(self, streams: tuple[str, ...]) -> dict[str, int]:
        """The fds the keeper holds for it: the record and each staging pipe's two ends."""
        fds = {"record": self.record}
        for stream, (read, write) in zip(streams, self.pipes, strict=True):
            fds[f"{stream}_staging"] = read
            fds[f"{stream}_staging_w"] = write
        return fds

    def recover(self, writers: dict[str, LogWriter]) -> dict[str, int]:
        """At adoption: write what the dead daemon staged and had not written.

        Returns the bytes written now per stream (0: nothing was pending, or it was in
        the file already). The record's chunk counts as written when the file grew past
        the recorded size: a rotation in between is not told apart (decision 0020).
        """
        done: dict[str, int] = {}
        for index, (stream, writer) in enumerate(writers.items()):
            read = self.pipes[index][0]
            data = _read_all(read, pipe_staging.queued(read))
            size, count = struct.unpack_from("qq", self._map, index * _SLOT)
            if 0 < count <= len(data) and writer.size > size:  # the chunk in flight was
                data = data[count:]  # written before the crash: its bytes are in the file
            if data:
                writer.write(data)
            struct.pack_into("q", self._map, index * _SLOT + 8, 0)
            done[stream] = len(data)
        return done

    def reader(
        self,
        loop: asyncio.AbstractEventLoop,
        fd: int,
        sink: Sink,
        index: int,
        writer: LogWriter,
    ) -> StagedReader:
        read, write = self.pipes[index]
        return StagedReader(
            loop,
            fd,
            sink,
            staged_r=read,
            staged_w=write,
            record=self._map,
            at=index * _SLOT,
            writer=writer,
        )

    def close(self) -> None:
        self._map.close()
        os.close(self.record)
        for read, write in self.pipes:
            os.close(read)
            os.close(write)
        self.pipes = []


class StagedReader:
    """Reads one program pipe into a sink through its staging pipe (see the module)."""

    __slots__ = ("_at", "_fd", "_loop", "_map", "_sink", "_staged_r", "_staged_w", "_writer")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        fd: int,
        sink: Sink,
        *,
        staged_r: int,
        staged_w: int,
        record: mmap.mmap,
        at: int,
        writer: LogWriter,
    ) -> None:
        self._loop = loop
        self._fd = fd
        self._sink = sink
        self._staged_r = staged_r
        self._staged_w = staged_w
        self._map = record
        self._at = at
        self._writer = writer
        os.set_blocking(fd, False)
        loop.add_reader(fd, self._on_readable)

    @property
    def closed(self) -> bool:
        return self._fd < 0

    def _on_readable(self) -> None:
        for _ in range(READS_PER_WAKEUP):  # the one read policy's numbers (reading.py)
            try:
                count = pipe_staging.move(self._fd, self._staged_w, READ_SIZE)
            except BlockingIOError:
                return
            if count == 0:
                self.close()
                return
            self._deliver(count)
            if count < READ_SIZE // 2:
                return

    def _deliver(self, count: int) -> None:
        record, at, staged = self._map, self._at, self._staged_r
        while count > 0:
            struct.pack_into("q", record, at, self._writer.size)  # first: a pending count
            chunk = _peek(staged, count)  # is only ever read with this size beside it
            struct.pack_into("q", record, at + 8, len(chunk))
            self._sink.data(chunk)  # into the log (and any followers)
            _discard(staged, len(chunk))
            struct.pack_into("q", record, at + 8, 0)
            count -= len(chunk)

    def close(self) -> None:
        if self._fd < 0:
            return
        self._loop.remove_reader(self._fd)
        os.close(self._fd)
        self._fd = -1
        self._sink.eof()


def _peek(staged: int, count: int) -> bytes:
    """Up to `count` bytes from the staging pipe's head, left there (tee(2) into the
    scratch pipe, which holds 64 KiB: a whole chunk)."""
    scratch_r, scratch_w = _scratch()
    copied = pipe_staging.peek(staged, scratch_w, count)
    parts: list[bytes] = []
    while copied > 0:
        part = os.read(scratch_r, copied)
        parts.append(part)
        copied -= len(part)
    return b"".join(parts)


def _discard(fd: int, count: int) -> None:
    while count > 0:
        count -= len(os.read(fd, count))


def _read_all(fd: int, count: int) -> bytes:
    parts: list[bytes] = []
    while count > 0:
        try:
            part = os.read(fd, count)
        except BlockingIOError:
            break
        if not part:
            break
        parts.append(part)
        count -= len(part)
    return b"".join(parts)
