"""The audit log: one JSON line per recorded call, appended to a file only root may read.

`AuditLog.record(who, what, result)` is the one recorder: the HTTP API calls it for
every mutating request and every refused one, and any other control surface calls
the same object. Each record is one `os.write` of one line to an fd opened with
O_APPEND (lines from one writer never interleave or overwrite), so a record costs a
few microseconds on the loop and nothing is buffered to lose at a crash.

The file is opened without following a symlink (O_NOFOLLOW) and kept out of
children (O_CLOEXEC); an existing file must be a regular file of our own user, and
it is made 0600 if it was not. A write that fails (disk full) is counted in
`failed`, never raised: auditing must not take the API down. A line a failure cut
short is ended by a newline before the next record, so each record keeps a line of
its own. `on_error` hears of the first failure after a success (the daemon turns it
into a warning event), not of every one.

Line format (docs/security.md): `{"time": "2026-12-02T13:30:38.123Z", "who": {...},
"what": {...}, "result": {...}}`, keys in that order.
"""

from __future__ import annotations

import json
import os
import stat
import time
from collections.abc import Callable, Mapping

__all__ = ["AuditLog", "AuditRefused", "read_records"]

_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NOCTTY
_MODE = 0o600


class AuditRefused(Exception):
    """The audit log's path is not a file we may append to; the message says why."""


class AuditLog:
    """An open audit log; `record()` appends one line, `close()` ends it."""

    def __init__(self, path: str, on_error: Callable[[str], None] | None = None) -> None:
        self.path = path
        self.written = 0
        """Records appended."""
        self.failed = 0
        """Records lost to a failed write (the reason of the last one is `last_error`)."""
        self.last_error: str | None = None
        self._on_error = on_error
        self._failing = False
        self._cut = False
        self._fd: int | None = _open(path)

    def __repr__(self) -> str:
        state = "open" if self._fd is not None else "closed"
        return f"<AuditLog {self.path} {state} written={self.written} failed={self.failed}>"

    def record(
        self,
        who: Mapping[str, object],
        what: Mapping[str, object],
        result: Mapping[str, object],
    ) -> None:
        """Append one record stamped with the time now (UTC); never raises for I/O."""
        line = {"time": utc_stamp(time.time()), "who": who, "what": what, "result": result}
        data = (json.dumps(line, ensure_ascii=False, default=str) + "\n").encode()
        if self._fd is None:
            self._lost("the audit log is closed")
            return
        if self._cut:  # a line left cut by a failed write ends here; ours starts afresh
            data = b"\n" + data
        done = 0
        try:
            while done < len(data):  # a short write (disk filling up): go on with the rest
                done += os.write(self._fd, data[done:])
        except OSError as exc:
            self._cut = self._cut or done > 0
            self._lost(exc.strerror or str(exc))
            return
        self._cut = False
        self.written += 1
        self._failing = False

    def reopen(self) -> bool:
        """Open `path` afresh (logrotate moved the file away); False, with the old file
        kept and the failure counted, when the path cannot be opened."""
        try:
            fd = _open(self.path)
        except AuditRefused as exc:
            self._lost(str(exc))
            return False
        old, self._fd = self._fd, fd
        if old is not None:
            os.close(old)
        self._cut = False  # a line cut short stays in the old file; the new one starts clean
        return True

    def close(self) -> None:
        """Close the file; later records are counted as failed."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _lost(self, reason: str) -> None:
        self.failed += 1
        self.last_error = reason
        if not self._failing and self._on_error is not None:
            self._on_error(reason)
        self._failing = True


def utc_stamp(seconds: float) -> str:
    """ISO-8601 UTC with milliseconds and a Z: 2026-12-02T13:30:38.123Z."""
    whole = int(seconds)
    millis = int((seconds - whole) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{millis:03d}Z"


def _open(path: str) -> int:
    try:
        fd = os.open(path, _FLAGS | os.O_NONBLOCK, _MODE)  # a FIFO planted there: ENXIO
    except OSError as exc:
        reason = "it is a symbolic link" if _is_link(path) else exc.strerror or str(exc)
        raise AuditRefused(f"cannot open the audit log {path}: {reason}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise AuditRefused(f"the audit log {path} is not a regular file")
        if info.st_uid != os.geteuid():
            owner = f"uid {info.st_uid}, not the daemon's user (uid {os.geteuid()})"
            raise AuditRefused(f"the audit log {path} is owned by {owner}")
        if stat.S_IMODE(info.st_mode) != _MODE:
            os.fchmod(fd, _MODE)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _is_link(path: str) -> bool:
    try:
        return stat.S_ISLNK(os.lstat(path).st_mode)
    except OSError:
        return False


def read_records(path: str, count: int | None) -> list[bytes]:
    """The last `count` lines of the audit log (all with None), oldest first, as bytes.

    Raises OSError when the file cannot be opened (missing, or not ours to read).
    """
    from corral._observe.logs.tail import tail_lines  # read from the end, in blocks

    with open(path, "rb") as stream:
        if count is None:
            return stream.read().splitlines()
    return tail_lines(path, count, backups=0)
