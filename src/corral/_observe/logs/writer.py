"""LogWriter: one output stream of one instance, written to a file as it arrives.

This is the log-capture hot path, so a chunk is never split into Python line
objects. Without timestamps a chunk goes to the file as is, in one `write(2)` on
an O_APPEND descriptor (no user-space buffer, so nothing waits in memory). With
timestamps the prefix is formatted once per chunk and put after every newline by
one `bytes.replace`; every line carries the arrival time of the chunk in which it
began, and a line continued by the next chunk gets no second prefix.

Timestamp format: UTC, RFC 3339 with milliseconds, then one space::

    2026-11-24T23:11:05.123Z GET /health 200

Nothing is dropped silently. A failed write (ENOSPC, EIO, ...) counts its bytes in
`dropped_bytes` and returns; the next chunk tries again. Drops are reported per
episode, not per chunk: `on_drop(nbytes, reason)` when dropping starts,
`on_resume(nbytes)` with the episode's total when a write succeeds again.

A file removed or renamed underneath is noticed on the first write of each new
wall-clock second (one `stat` of its name, so at most one a second however fast
the chunks come) or at once by `reopen()`; the writer then creates a fresh file
(bytes written in between went to the old file). A log directory removed
underneath is made again. Files are opened through a `LogDirectory` (directory
fd, O_NOFOLLOW, only our own regular files): a symlink put in place of the log
is never followed; writes are dropped (and reported) until the name is ours
again, retried once a second.
"""

from __future__ import annotations

import errno
import os
import sys
import time
from collections.abc import Callable
from types import TracebackType

from corral._errors import InvalidSpec
from corral._observe.logs.directory import LogDirectory
from corral._observe.logs.held import HeldFd
from corral._observe.logs.rotation import cut_before_rotation, rotate_files

__all__ = ["LogWriter"]

_NEWLINE = 10  # b"\n"[0]


class LogWriter:
    """Writes one output stream of one instance to a file.

    Timestamps per line (optional), partial lines carried over, rotation by size,
    nothing dropped silently. Opening the file happens here, so a missing directory
    or a permission problem raises `OSError` at once; `write` never raises for disk
    errors. Not thread-safe: one writer belongs to one stream on one event loop.
    """

    # Slots: the daemon keeps two writers per instance, thousands of them.
    __slots__ = (
        "_at_line_start",
        "_backups",
        "_clock",
        "_closed",
        "_directory",
        "_dropped",
        "_dropping",
        "_held",
        "_limit",
        "_lost",
        "_millis",
        "_newline_prefix",
        "_on_drop",
        "_on_error",
        "_on_resume",
        "_own_directory",
        "_partial",
        "_path",
        "_prefix",
        "_second",
        "_second_end",
        "_second_text",
        "_size",
        "_timestamps",
    )

    def __init__(
        self,
        path: str,
        *,
        timestamps: bool,
        max_bytes: int,
        backups: int,
        on_drop: Callable[[int, str], None] | None = None,
        on_error: Callable[[str], None] | None = None,
        on_resume: Callable[[int], None] | None = None,
        clock: Callable[[], float] = time.time,
        directory: LogDirectory | None = None,
    ) -> None:
        """Open (or create, or append to) `path`.

        Args:
            max_bytes: rotate before the file would exceed this; 0 never rotates.
            backups: rotated files kept (path.1 newest ... path.<backups>); 0 truncates.
            on_drop: told `(nbytes, reason)` when writes start failing (the first
                chunk lost); later losses of the same episode are only counted.
            on_error: told `reason` for a failure that lost nothing (a rotation that
                could not rename: writing goes on in the current file).
            on_resume: told the bytes lost in the episode when writing works again.
            clock: wall clock for timestamps and the once-a-second file check.
            directory: the open directory of `path`, shared by its writers; by
                default the writer opens (and closes) its own.
        """
        if max_bytes < 0 or backups < 0:
            raise InvalidSpec(f"log max_bytes and backups must be >= 0: {max_bytes}, {backups}")
        self._path = path
        self._own_directory = directory is None
        self._directory = (
            LogDirectory(os.path.dirname(path) or ".") if directory is None else directory
        )
        self._timestamps = timestamps
        self._limit = max_bytes if max_bytes > 0 else sys.maxsize
        self._backups = backups
        self._on_drop = on_drop
        self._on_error = on_error
        self._on_resume = on_resume
        self._clock = clock
        self._held = HeldFd()  # the open file, and its identity to notice it was replaced
        self._size = 0
        self._dropped = 0
        self._dropping = 0  # bytes lost in the current drop episode (0: writing works)
        self._lost: OSError | None = None  # why the file could not be (re)opened
        self._closed = False
        self._at_line_start = True  # the stream: the last chunk ended with a newline
        self._partial = 0  # the file: bytes after its last newline (a begun line)
        self._second = -1.0  # the wall-clock second of the last chunk, and its end
        self._second_end = -1.0
        self._second_text = b""  # "2026-11-24T23:11:05." for that second
        self._millis = -1
        self._prefix = b""
        self._newline_prefix = b"\n"
        try:
            self._open()
        except BaseException:
            self._close_directory()
            raise

    @property
    def path(self) -> str:
        """The file being written (rotated files are path.1, path.2, ...)."""
        return self._path

    @property
    def _file_name(self) -> str:
        """The file's name in its directory; worked out when used (a rotation, the
        once-a-second check), not kept: a daemon holds two writers per instance."""
        return os.path.basename(self._path)

    @property
    def size(self) -> int:
        """Bytes in the current file, as far as this writer knows."""
        return self._size

    @property
    def dropped_bytes(self) -> int:
        """Bytes (timestamps included) that could not be written since the writer was made."""
        return self._dropped

    def write(self, chunk: bytes) -> None:
        """Append one raw chunk of the stream (any size, any split between lines)."""
        # The hot path: one clock read, one syscall, no per-line Python work.
        if not chunk:
            return
        now = self._clock()
        if not self._second <= now < self._second_end:
            self._start_second(now)
        if self._timestamps:
            self._write_stamped(chunk, now)
            return
        self._at_line_start = chunk[-1] == _NEWLINE
        if self._size + len(chunk) > self._limit or self._held.fd < 0:
            self._write_rotating(chunk)  # also reopens a lost file
            return
        try:
            written = os.write(self._held.fd, chunk)
        except OSError as exc:
            self._drop(len(chunk), exc)
            return
        self._size += written
        if self._dropping:
            self._resumed()
        if written < len(chunk):
            self._emit_rest(chunk, written)
        elif self._at_line_start:
            self._partial = 0
        else:
            self._partial = _begun_after(chunk, self._partial)

    def flush_partial(self) -> None:
        """At the end of the stream: end a trailing partial line with a newline."""
        if not self._at_line_start:
            self.write(b"\n")

    def clear(self) -> None:
        """Empty the current file in place (supervisord's clearLog); rotated files stay."""
        self._refuse_if_closed()
        if self._held.fd >= 0:
            os.ftruncate(self._held.fd, 0)
        self._size = self._partial = 0

    def reopen(self) -> None:
        """Close the file and open `path` afresh (after an outside tool moved it away)."""
        self._refuse_if_closed()
        self._reopen_or_drop_fd()

    def close(self) -> None:
        """Close the file; later writes raise ValueError. Closing twice is harmless."""
        self._closed = True
        self._held.close()
        self._close_directory()

    def _close_directory(self) -> None:
        if self._own_directory:
            self._directory.close()

    def __enter__(self) -> LogWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"size={self._size}"
        stamps = "on" if self._timestamps else "off"
        return f"<LogWriter {self._path} {state} dropped={self._dropped} timestamps={stamps}>"

    # -- timestamps -------------------------------------------------------------

    def _start_second(self, now: float) -> None:
        self._second = float(int(now))
        self._second_end = self._second + 1.0
        self._second_text = time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(now)).encode()
        self._millis = -1
        self._check_file()

    def _write_stamped(self, chunk: bytes, now: float) -> None:
        """Like `write`, with the chunk's arrival time before each line that begins in it."""
        millis = int((now - self._second) * 1000)
        if millis != self._millis:
            self._millis = millis
            self._prefix = self._second_text + b"%03dZ " % millis
            self._newline_prefix = b"\n" + self._prefix
        head = self._prefix if self._at_line_start else b""
        body: bytes | memoryview = chunk
        self._at_line_start = chunk[-1] == _NEWLINE
        if not self._at_line_start or chunk.find(b"\n") < len(chunk) - 1:
            body = chunk.replace(b"\n", self._newline_prefix)
            if self._at_line_start:  # the line after this newline belongs to the next chunk
                body = memoryview(body)[: len(body) - len(self._prefix)]
        elif head:  # exactly one whole line: one small copy beats writev
            head, body = b"", head + chunk
        if self._size + len(head) + len(body) > self._limit or self._held.fd < 0:
            self._write_rotating(head + bytes(body))
        else:
            self._emit(head, body)

    # -- the file ---------------------------------------------------------------

    def _open(self, *, truncate: bool = False) -> None:
        """Open `path` for appending; on failure the current descriptor stays as it was."""
        self._adopt(self._directory.open_for_append(self._file_name, truncate=truncate))

    def _adopt(self, fd: int) -> None:
        self._size = self._held.adopt(fd).st_size
        self._partial = 0  # an existing file ended cleanly (its writer called flush_partial)

    def _check_file(self) -> None:
        """Reopen if `path` no longer names our file; refresh the size if it does.

        Runs once per wall-clock second of output: also the retry of a lost file.
        """
        if self._held.fd < 0:
            self._reopen_or_drop_fd()
            return
        try:
            status = self._directory.stat(self._file_name)
        except OSError:
            self._reopen_or_drop_fd()
            return
        if not self._held.holds(status):
            self._reopen_or_drop_fd()
        else:
            self._size = status.st_size
            self._partial = min(self._partial, self._size)

    def _reopen_or_drop_fd(self) -> None:
        """Open `path` afresh (its directory remade if gone); on failure let go of the old file.

        Writes are then dropped, and reported with why, until the next check opens it.
        """
        try:
            self._directory.refresh()
            self._open()
        except OSError as exc:
            self._held.close()
            self._lost = exc
        else:
            self._lost = None

    def _rotate(self, *, carry: bool) -> bool:
        """Start a fresh file, moving the begun line if `carry`; False if the old must go on."""
        line = self._read_begun_line() if carry else b""
        try:
            if self._backups:
                fd = rotate_files(self._directory, self._file_name, self._backups)
            else:
                fd = self._directory.open_for_append(self._file_name, truncate=True)
        except OSError as exc:
            if self._on_error is not None:
                self._on_error(f"cannot rotate {self._path}: {_describe(exc)}")
            return False
        if line and self._backups:
            line = self._cut_begun_line(line)
        self._adopt(fd)
        if line:
            self._emit(b"", line)
        return True

    def _read_begun_line(self) -> bytes:
        """The old file's trailing partial line, or b"" if it cannot be read back exactly."""
        try:
            size = os.fstat(self._held.fd).st_size
            line = os.pread(self._held.fd, self._partial, size - self._partial)
        except (OSError, ValueError):
            return b""
        return line if len(line) == self._partial and b"\n" not in line else b""

    def _cut_begun_line(self, line: bytes) -> bytes:
        """Take the begun line off the old file's end; b"" (it stays there) on failure."""
        try:
            os.ftruncate(self._held.fd, os.fstat(self._held.fd).st_size - len(line))
        except OSError:
            return b""
        return line

    # -- writing ----------------------------------------------------------------

    def _write_rotating(self, data: bytes) -> None:
        """Write `data`, rotating at line boundaries whenever the file would pass the limit."""
        self._refuse_if_closed()
        while self._size + len(data) > self._limit:
            cut = cut_before_rotation(
                data, size=self._size, max_bytes=self._limit, partial=self._partial
            )
            if cut.write:
                self._emit(b"", data[: cut.write])
                data = data[cut.write :]
            if not self._rotate(carry=cut.carry):
                break
        if data:
            self._emit(b"", data)

    def _emit(self, head: bytes, body: bytes | memoryview) -> None:
        """One write of head + body (usually one syscall); failures become drops."""
        fd = self._held.fd
        if fd < 0:
            self._refuse_if_closed()
            self._drop(len(head) + len(body), self._lost or OSError(errno.EBADF, "not open"))
            return
        try:
            written = os.writev(fd, (head, body)) if head else os.write(fd, body)
        except OSError as exc:
            self._drop(len(head) + len(body), exc)
            return
        self._size += written
        if self._dropping:
            self._resumed()
        if written < len(head) + len(body):
            self._emit_rest(head + bytes(body), written)
        elif body[-1] == _NEWLINE:
            self._partial = 0
        else:  # only bytes bodies end mid-line (see _write_stamped): bytes() copies nothing
            self._partial = _begun_after(bytes(body), self._partial + len(head))

    def _emit_rest(self, data: bytes, written: int) -> None:
        """After a short write: go on until done or until the kernel says why not."""
        self._partial = _begun_after(data[:written], self._partial)
        rest = data[written:]
        while rest:
            try:
                written = os.write(self._held.fd, rest)
            except OSError as exc:
                self._drop(len(rest), exc)
                return
            if written == 0:  # not seen on regular files; do not spin
                self._drop(len(rest), OSError(errno.EIO, "write returned 0"))
                return
            self._size += written
            self._partial = _begun_after(rest[:written], self._partial)
            rest = rest[written:]

    def _refuse_if_closed(self) -> None:
        if self._closed:
            raise ValueError(f"write to closed LogWriter for {self._path}")

    def _drop(self, nbytes: int, exc: OSError) -> None:
        """Count lost bytes; report only the first loss of an episode."""
        self._dropped += nbytes
        first = not self._dropping
        self._dropping += nbytes
        if first and self._on_drop is not None:
            self._on_drop(nbytes, f"cannot write {self._path}: {_describe(exc)}")

    def _resumed(self) -> None:
        """A write worked after drops: the episode ends, its total reported."""
        lost, self._dropping = self._dropping, 0
        if self._on_resume is not None:
            self._on_resume(lost)


def _begun_after(data: bytes, partial: int) -> int:
    """The begun line's length after appending `data` to a file whose begun line was `partial`."""
    last = data.rfind(b"\n")
    return partial + len(data) if last < 0 else len(data) - last - 1


def _describe(exc: OSError) -> str:
    """ "ENOSPC (No space left on device)" — the errno name first, for grepping."""
    name = errno.errorcode.get(exc.errno or 0, "E?")
    if exc.errno == errno.ELOOP:
        return f"{name} (a symlink is in its place; not followed)"
    return f"{name} ({exc.strerror or exc})"
