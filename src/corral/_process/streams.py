"""Our ends of a child's pipes and what has come through them, shared by both twins.

The sync handle drives these with poll(); the async handle with loop readers and
writers. Both call the same `on_readable` / `on_writable` / `take_line`, so
buffering, line splitting and stdin feeding behave identically. Lines read by the
caller are removed from the buffer; what is left becomes the Result's output.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from corral._process.reading import Sink, read_ready

_WRITE_SIZE = 1 << 16

STDOUT = 1
STDERR = 2


class Streams:
    """Buffers and fds for stdin (ours to write), stdout and stderr (ours to read)."""

    __slots__ = ("broken", "buffers", "close_stdin_when_drained", "pending", "readers", "stdin")

    def __init__(self, stdin: int | None, stdout: int | None, stderr: int | None) -> None:
        self.stdin = stdin
        self.pending = bytearray()
        self.close_stdin_when_drained = False
        self.broken: int | None = None
        """Bytes that could not be written when stdin's pipe broke (EPIPE); None while whole."""
        self.buffers: dict[int, bytearray] = {STDOUT: bytearray(), STDERR: bytearray()}
        self.readers: dict[int, int] = {}  # open read fd -> STDOUT / STDERR
        for fd, stream in ((stdout, STDOUT), (stderr, STDERR)):
            if fd is not None:
                os.set_blocking(fd, False)  # read_ready reads until the pipe is empty
                self.readers[fd] = stream

    # -- events -------------------------------------------------------------

    def on_readable(self, fd: int) -> bool:
        """Read what is there; True at EOF (then unregister the fd and `close_reader` it)."""
        return read_ready(fd, self.buffers[self.readers[fd]].extend)

    def close_reader(self, fd: int) -> None:
        """Close an output pipe that reached EOF."""
        del self.readers[fd]
        os.close(fd)

    def sink(self, fd: int, changed: Callable[[], None]) -> Sink:
        """A `PipeReader` sink for output fd `fd`: it owns the fd from now on."""
        return _Capture(self, fd, changed)

    def on_writable(self) -> bool:
        """Write the next chunk of pending input; True when stdin should now be closed."""
        if self.stdin is None:
            return False
        if self.pending:
            try:
                written = os.write(self.stdin, self.pending[:_WRITE_SIZE])
            except BlockingIOError:
                return False
            except BrokenPipeError:  # the child closed its stdin: keep count of what is lost
                self.broken = len(self.pending)
                self.pending.clear()
                return True
            del self.pending[:written]
        return not self.pending and self.close_stdin_when_drained

    # -- requests -----------------------------------------------------------

    def feed(self, data: bytes | str, *, then_close: bool = False) -> None:
        """Queue input for the child's stdin."""
        if self.stdin is None:
            raise ValueError("stdin is not a pipe: start the process with stdin='pipe'")
        self.pending += data.encode() if isinstance(data, str) else data
        self.close_stdin_when_drained = self.close_stdin_when_drained or then_close

    def close_stdin(self) -> None:
        """Close our end of stdin so the child reads EOF."""
        if self.stdin is not None:
            os.close(self.stdin)
            self.stdin = None
        self.pending.clear()

    def wants_write(self) -> bool:
        """Whether there is input to write (or a close to perform)."""
        return self.stdin is not None and (bool(self.pending) or self.close_stdin_when_drained)

    def is_open(self, stream: int) -> bool:
        """Whether `stream`'s pipe is still open (no EOF yet)."""
        return stream in self.readers.values()

    def all_closed(self) -> bool:
        """Whether every output pipe has reached EOF."""
        return not self.readers

    def has_line(self, stream: int) -> bool:
        """Whether take_line(stream) would return something now."""
        return b"\n" in self.buffers[stream] or (
            not self.is_open(stream) and bool(self.buffers[stream])
        )

    def take_line(self, stream: int) -> str | None:
        """Remove and return the next line (without its newline), or None if none is ready."""
        buf = self.buffers[stream]
        end = buf.find(b"\n")
        if end < 0:
            if self.is_open(stream) or not buf:
                return None
            end = len(buf)
        line = bytes(buf[:end])
        del buf[: end + 1]
        return line.decode("utf-8", "replace")

    def output(self, stream: int) -> bytes:
        """Everything captured from `stream` that the caller has not read as lines."""
        return bytes(self.buffers[stream])

    def close(self) -> None:
        """Close every fd still open."""
        self.close_stdin()
        for fd in list(self.readers):
            os.close(fd)
        self.readers.clear()


class _Capture:
    """Output a `PipeReader` reads into a `Streams` buffer; `changed` wakes the waiter."""

    __slots__ = ("_buffer", "_changed", "_fd", "_streams")

    def __init__(self, streams: Streams, fd: int, changed: Callable[[], None]) -> None:
        self._streams = streams
        self._fd = fd
        self._buffer = streams.buffers[streams.readers[fd]]
        self._changed = changed

    def data(self, chunk: bytes) -> None:
        self._buffer += chunk
        self._changed()

    def eof(self) -> None:
        self._streams.readers.pop(self._fd, None)  # the reader closed it
        self._changed()
