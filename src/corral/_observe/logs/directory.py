"""LogDirectory: the log directory held open, so no log file is reached through a path.

The daemon is root, and the user a program runs as may own the log directory
(an operator's chown, a shared volume). Every file is therefore opened, renamed
and removed relative to this directory's fd, by plain name, with O_NOFOLLOW: a
symlink planted in place of a log is refused, not followed, and the file opened
must be a regular file with one link owned by the daemon's user (so neither a
hard link to another file nor a file the other user made is appended to). The
directory's own path is trusted at daemon start (`_platform/posix/trust.py`).

Files are created `file_mode` (0640) with the directory's `group`, and an existing
file opened is brought to both, so older 0644 logs become private too. A
directory removed underneath is made again (`refresh`), with `mode` (0750).
One LogDirectory is shared by every writer in it; not thread-safe.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat

from corral._observe.logs.held import HeldFd
from corral._platform import exchange_names

__all__ = ["DIRECTORY_MODE", "FILE_MODE", "LogDirectory", "NotOurFile", "not_ours"]

FILE_MODE = 0o640
"""Log files: the daemon's user writes, the log group reads, nobody else."""
DIRECTORY_MODE = 0o750
"""A log directory the daemon (re)creates."""

_APPEND_FLAGS = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK
_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


def not_ours(status: os.stat_result) -> str | None:
    """Why an open file is not a log of ours to write or serve, or None if it is."""
    if not stat.S_ISREG(status.st_mode):
        return "not a regular file"
    if status.st_nlink != 1:
        return f"a file with {status.st_nlink} links"
    if status.st_uid != os.geteuid():
        return f"owned by uid {status.st_uid}, not by the daemon"
    return None


class NotOurFile(OSError):
    """The name in the log directory is not a log file the daemon may write (or read)."""


class LogDirectory:
    """An open log directory: files in it opened, renamed and removed by name, never followed."""

    __slots__ = ("_held", "file_mode", "group", "mode", "path")

    def __init__(
        self,
        path: str,
        *,
        mode: int = DIRECTORY_MODE,
        file_mode: int = FILE_MODE,
        group: int = -1,
    ) -> None:
        """Open `path` (it must exist); `group` -1 keeps the daemon's own group."""
        self.path = path
        self.mode = mode
        self.file_mode = file_mode
        self.group = group
        self._held = HeldFd()
        self._held.adopt(os.open(path, _DIRECTORY_FLAGS))

    @property
    def fd(self) -> int:
        """The directory's descriptor, for `dir_fd=` (changes when `refresh` remakes it)."""
        return self._held.fd

    def __repr__(self) -> str:
        return f"<LogDirectory {self.path} fd={self._held.fd}>"

    def open_for_append(self, name: str, *, truncate: bool = False, new: bool = False) -> int:
        """Open (or create) `name` for appending; NotOurFile if it is not a log of ours.

        `new` creates it or fails (FileExistsError). Raises OSError as the kernel
        says (ELOOP for a symlink), or NotOurFile.
        """
        flags = _APPEND_FLAGS | (os.O_TRUNC if truncate else 0) | (os.O_EXCL if new else 0)
        fd = os.open(name, flags, self.file_mode, dir_fd=self._held.fd)
        try:
            self._make_private(fd, os.fstat(fd))
        except BaseException:
            os.close(fd)
            raise
        return fd

    def stat(self, name: str) -> os.stat_result:
        """`name` in the directory, not followed if it is a symlink."""
        return os.stat(name, dir_fd=self._held.fd, follow_symlinks=False)

    def rename(self, old: str, new: str) -> None:
        """Rename within the directory (renames never follow symlinks)."""
        os.rename(old, new, src_dir_fd=self._held.fd, dst_dir_fd=self._held.fd)

    def exchange(self, first: str, second: str) -> None:
        """Swap the files two names refer to, atomically (see `_platform/linux/exchange.py`)."""
        exchange_names(first, second, dir_fd=self._held.fd)

    def unlink(self, name: str) -> None:
        """Remove `name` from the directory."""
        os.unlink(name, dir_fd=self._held.fd)

    def refresh(self) -> None:
        """Make sure `path` is still this directory: remade (and reopened) if it was removed.

        A path that now names another directory (renamed away, replaced) is reopened, so
        new files go where the configuration says. Raises OSError if it cannot be made.
        """
        try:
            current = os.stat(self.path, follow_symlinks=False)
        except FileNotFoundError:
            with contextlib.suppress(FileExistsError):
                os.mkdir(self.path, self.mode)
            current = os.stat(self.path, follow_symlinks=False)
            if stat.S_ISDIR(current.st_mode) and current.st_uid == os.geteuid():
                self._set_directory_mode()
        if not self._held.holds(current):
            self._held.adopt(os.open(self.path, _DIRECTORY_FLAGS | os.O_NOFOLLOW))

    def close(self) -> None:
        """Close the directory; harmless twice."""
        self._held.close()

    def _set_directory_mode(self) -> None:
        fd = os.open(self.path, _DIRECTORY_FLAGS | os.O_NOFOLLOW)
        try:
            os.fchown(fd, -1, self.group)
            os.fchmod(fd, self.mode)
        finally:
            os.close(fd)

    def _make_private(self, fd: int, status: os.stat_result) -> None:
        refused = not_ours(status)
        if refused is not None:
            raise NotOurFile(errno.EPERM, f"{refused}; not written")
        group_ok = self.group < 0 or status.st_gid == self.group
        if stat.S_IMODE(status.st_mode) != self.file_mode or not group_ok:
            os.fchown(fd, -1, self.group)
            os.fchmod(fd, self.file_mode)
