"""Stray file descriptors: the inheritable fds of ours that no child should get.

An fd without FD_CLOEXEC survives exec(2), so every child would get it: a pipe a
caller made inheritable, a socket a C library opened without the flag, an fd our
own launcher leaked to us. Python opens its fds close-on-exec (PEP 446), but it
cannot vouch for the rest. subprocess closes them in the child (`close_fds=True`);
corral does too, on both spawn paths:

- posix_spawn: `os.posix_spawn` offers no closefrom, so the parent lists its open
  fds (`/proc/self/fd`), tests each for FD_CLOEXEC (fcntl F_GETFD) and adds one
  close action per inheritable fd the child is not given. glibc's child ignores a
  close action that fails on an fd below its RLIMIT_NOFILE (sysdeps/unix/sysv/linux/
  spawni.c, `__spawni_child`, `case spawn_do_close`: "Signal errors only for file
  descriptors out of range"), and musl ignores every close error, so an fd another
  thread closed after the listing is harmless. An inheritable fd *opened* by another
  thread between the listing and the spawn still reaches that one child
  (docs/decisions/0001-spawn-path.md). The listing is most of the cost (16-22 µs
  right after a child's exit, with cold caches), so `StrayFinder` skips it while the
  open fds are provably the ones it saw last: their count (the size of /proc/self/fd,
  Linux 6.2+) is unchanged and each is still open. It costs about 0.5 µs per open fd
  in the kernel and as much again in Python, so a process holding more than `MANY`
  fds spawns through libc's `posix_spawn_file_actions_addclosefrom_np` (glibc 2.34+),
  whose fixed cost (a ctypes call: 40-100 µs, docs/performance.md) does not grow
  with the fd count.
- Without `/proc/self/fd`, the closefrom action where libc has it; else every number
  below the soft RLIMIT_NOFILE (at most `PROBE_CEILING`) is probed.
- The fork path (sandboxed spawns) marks every fd above stderr close-on-exec in the
  child, after the stdio dup2s, with one close_range(2) call (`CLOSE_RANGE_CLOEXEC`,
  Linux 5.11+), then clears the flag on `pass_fds` again. Marking rather than closing
  keeps the fds the sandbox steps still use until exec (the error-report pipe, a
  namespace fd); the kernel closes them all at exec. Without close_range it marks
  each listed (or probed) fd.
"""

from __future__ import annotations

import os
import resource
from collections.abc import Collection, Iterable
from dataclasses import dataclass

MANY = 64
"""Above this many open fds, the posix_spawn path stops listing them (closefrom instead)."""
PROBE_CEILING = 65_536
"""Without a listing, fd numbers are probed up to the soft RLIMIT_NOFILE, at most this."""
FD_DIRECTORY = "/proc/self/fd"
OWN: set[int] = set()
"""Long-lived fds of ours, opened close-on-exec (the shared /dev/null): never probed."""

_CLOSE_RANGE_CLOEXEC = 1 << 2  # linux/close_range.h
_ALL = -1  # passed as a C int: the bits of ~0U, the highest fd close_range accepts


class _Directory:
    """/proc/self/fd, held open (close-on-exec): listing through it skips the path walk,
    about a quarter of a listing's cost. A forked child's /proc/self is another
    directory, so the child forgets it and opens its own on first use."""

    __slots__ = ("fd",)

    def __init__(self) -> None:
        self.fd = -1

    def list(self) -> list[str]:
        if self.fd < 0:
            self.fd = os.open(FD_DIRECTORY, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        return os.listdir(self.fd)

    def count(self) -> int:
        """The directory's size: how many fds are open on Linux 6.2+, 0 before."""
        if self.fd < 0:
            self.fd = os.open(FD_DIRECTORY, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        return os.fstat(self.fd).st_size

    def forget(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


_directory = _Directory()
os.register_at_fork(after_in_child=_directory.forget)


def listed_fds() -> list[int] | None:
    """Every fd open in this process, from /proc/self/fd; None where it cannot be listed.

    The list holds the held directory's own fd too (`inheritable` skips it).
    """
    try:
        names = _directory.list()
    except OSError:
        return None
    return [int(name) for name in names]


def _listed_by_path() -> list[int] | None:
    try:
        return [int(name) for name in os.listdir(FD_DIRECTORY)]
    except OSError:
        return None


def probed_range() -> range:
    """Every fd number that can be open: 3 up to the soft RLIMIT_NOFILE (bounded)."""
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    limit = PROBE_CEILING if soft == resource.RLIM_INFINITY else min(soft, PROBE_CEILING)
    return range(3, limit)


def open_fd_count() -> int | None:
    """How many fds are open, from the size of /proc/self/fd (Linux 6.2+); None if unknown."""
    try:
        size = _directory.count()
    except OSError:
        return None
    return size or None  # an older kernel says 0


def inheritable(candidates: Iterable[int], keep: Collection[int]) -> list[int]:
    """The fds above stderr among `candidates` that are open without FD_CLOEXEC, less `keep`."""
    found = []
    get = os.get_inheritable
    held = _directory.fd
    for fd in candidates:
        if fd > 2 and fd != held and fd not in keep and fd not in OWN:
            try:
                if get(fd):
                    found.append(fd)
            except OSError:  # not open (closed meanwhile, or never was)
                continue
    return found


def mark_all_close_on_exec(close_range: object) -> None:
    """In a forked child: every fd above stderr close-on-exec (close_range, else one by one).

    `close_range` is libc's function or None; the caller looks it up in the parent,
    so the child neither loads nor imports anything.
    """
    if callable(close_range) and close_range(3, _ALL, _CLOSE_RANGE_CLOEXEC) == 0:
        return
    listed = _listed_by_path()  # a clone child may hold our directory: it lists the parent
    for fd in probed_range() if listed is None else listed:
        if fd > 2:
            try:
                os.set_inheritable(fd, False)
            except OSError:
                continue


@dataclass(frozen=True, slots=True)
class Strays:
    """The fds a posix_spawn child must close: these, or (`close_from`) every fd above
    the ones it is given."""

    fds: tuple[int, ...]
    close_from: bool = False


class StrayFinder:
    """Finds the fds a posix_spawn child must close; says when closefrom is cheaper.

    Listing /proc/self/fd is most of the cost, so it remembers the fds open at its
    last look (`seen`). When the count of open fds (the size of /proc/self/fd, Linux
    6.2+) equals the number seen and every fd seen is still open, the open fds are
    exactly those: it probes them again instead of listing. It also remembers whether
    the last listing was crowded (more than `MANY` fds): while it is, it counts instead
    of listing and answers None (close from the first fd the child does not need).
    """

    __slots__ = ("crowded", "seen")

    def __init__(self) -> None:
        self.crowded = False
        """The last listing found more than MANY fds open."""
        self.seen: tuple[int, ...] = ()
        """The fds open at the last listing, the held directory's among them."""

    def find(
        self, keep: Collection[int], *, can_list: bool, can_close_from: bool
    ) -> list[int] | None:
        """The inheritable fds above stderr, less `keep`; None: use a closefrom action.

        None only when `can_close_from`; `can_list` says /proc/self/fd may be listed.
        """
        if can_close_from:
            if not can_list:
                return None
            if self.crowded:
                count = open_fd_count()
                if count is None or count > MANY:
                    return None
                self.crowded = False
        if not can_list:
            return inheritable(probed_range(), keep)
        if self.seen:
            found = self._recheck(keep)
            if found is not None:
                return found
        listed = listed_fds()
        if listed is None:
            self.seen = ()
            return None if can_close_from else inheritable(probed_range(), keep)
        self.crowded = can_close_from and len(listed) > MANY
        found, self.seen = _probe(listed, keep)
        return found

    def _recheck(self, keep: Collection[int]) -> list[int] | None:
        """The strays among the fds seen last, if the open fds are still exactly those."""
        if open_fd_count() != len(self.seen):
            return None
        found = []
        held = _directory.fd
        for fd in self.seen:
            if fd == held:
                continue
            try:
                stray = os.get_inheritable(fd)
            except OSError:  # one seen is gone, so another is new: list again
                return None
            if stray and fd > 2 and fd not in keep:
                found.append(fd)
        return found

    def __repr__(self) -> str:
        return f"<StrayFinder crowded={self.crowded} seen={len(self.seen)}>"


def _probe(listed: Iterable[int], keep: Collection[int]) -> tuple[list[int], tuple[int, ...]]:
    """(the strays among `listed`, the ones still open): one F_GETFD each."""
    found: list[int] = []
    still_open = []
    held = _directory.fd
    for fd in listed:
        if fd == held:
            still_open.append(fd)
            continue
        try:
            stray = os.get_inheritable(fd)
        except OSError:  # the listing's own fd, or closed meanwhile
            continue
        still_open.append(fd)
        if stray and fd > 2 and fd not in keep:
            found.append(fd)
    return found, tuple(still_open)
