"""Reading /proc: one parser per file, and the scan that finds a process tree.

Why a scan: a program can leave its process group (setpgid) or session (setsid)
and double-fork, so the grandchild is re-parented to init or the nearest
subreaper (prctl(2) PR_SET_CHILD_SUBREAPER) and no parent link leads to it any
more. What such a process keeps is its environment: corral puts a unique
`CORRAL_TREE=<id>` in every child's environment, and /proc/PID/environ (proc(5))
shows the environment the process was started with, inherited through fork and
exec unless a program scrubs it. A member of a tree is any live process that
carries the marker, is in the tree's process group, or descends from a member.
Zombies have exited already (their environ reads empty), so they are not members.

Where to look for the marker: reading environ is the dear part of a scan, and a
machine may run thousands of processes that have nothing to do with us. When the
caller is a child subreaper, and was one when it spawned the trees, an orphan of a
tree is re-parented to the caller or to a subreaper below it, never above it
(prctl(2)); a process cannot otherwise change its parent. Every member then
descends from the caller, so `within=<caller's pid>` reads environ only for the
caller's descendants, found by walking the parent links of the stat files the scan
reads anyway. A process whose parent vanished during the scan may have been a
descendant, so its environ is read too. A marked process outside that subtree is
deliberately not a member then: a library caller that is not a subreaper
(orphans go to init) passes `within=None` and searches every process.

The stat file of every process is still read: the parent link is only in the
child's own stat (or status) file, and this kernel lacks
/proc/PID/task/TID/children (CONFIG_PROC_CHILDREN), the one list of a process's
children. Everything is read in one pass: one listing of /proc, then each stat
file once, then the environ of each process that needs it, once.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection
from dataclasses import dataclass

_GONE = (FileNotFoundError, ProcessLookupError, PermissionError)
_STAT_SIZE = 1024
"""More than any stat line: 52 numbers and a command name of at most 64 bytes."""


@dataclass(frozen=True, slots=True)
class ProcStat:
    """The fields of /proc/PID/stat that tree-finding needs."""

    pid: int
    state: str
    ppid: int
    pgid: int
    sid: int

    @property
    def live(self) -> bool:
        """Not a zombie (exited, not yet reaped) and not dead."""
        return self.state not in ("Z", "X")


def read_stat(pid: int) -> ProcStat | None:
    """Parse /proc/PID/stat, or None when the process is gone.

    os.open and os.read, not open(): a buffered file object costs about a third of a
    scan of 10,000 processes.
    """
    try:
        fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY | os.O_CLOEXEC)
    except _GONE:
        return None
    try:
        raw = os.read(fd, _STAT_SIZE)  # one read: the kernel formats the whole line at once
    except _GONE:
        return None
    finally:
        os.close(fd)
    # comm is in parentheses and may itself contain ") ", so split on the last one.
    state, ppid, pgid, sid, _ = raw[raw.rfind(b")") + 2 :].split(b" ", 4)
    return ProcStat(pid, state.decode(), int(ppid), int(pgid), int(sid))


def read_environ(pid: int) -> bytes:
    """The NUL-separated start-up environment of a process; empty if unreadable."""
    try:
        fd = os.open(f"/proc/{pid}/environ", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return b""
    chunks: list[bytes] = []
    try:
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
    except OSError:
        return b""
    finally:
        os.close(fd)
    return b"".join(chunks)


def all_pids() -> list[int]:
    """Every pid currently listed in /proc."""
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def own_pid() -> int | None:
    """Our pid as this /proc numbers it (it may show another pid namespace); None if absent."""
    try:
        return int(os.readlink("/proc/self"))
    except (OSError, ValueError):
        return None


def subreaper_scope() -> int | None:
    """The `within` a scan by this process may use: our pid while we are a child subreaper.

    None (search every process) when we are not one, or cannot tell.
    """
    from corral._platform.linux.prctl import is_child_subreaper

    try:
        return own_pid() if is_child_subreaper() else None
    except OSError:
        return None


def find_tree(marker: bytes, pgid: int | None, *, within: int | None = None) -> list[ProcStat]:
    """Live processes that carry `marker` (b"KEY=value"), share `pgid`, or descend from one.

    With `within`, the marker is looked for only below that pid (see the module docstring).
    """
    return find_trees([(marker, pgid)], within=within)[0]


def find_trees(
    requests: list[tuple[bytes, int | None]], *, within: int | None = None
) -> list[list[ProcStat]]:
    """`find_tree` for many trees in ONE pass over /proc (a daemon stopping 1,000 programs).

    Each process's stat is read once; its environ only when its group is none of the
    requested ones (and, with `within`, when it descends from that pid), and then the
    value of its marker variable is looked up in a dict. All markers must share one
    variable name (b"CORRAL_TREE=...").
    """
    if not requests:
        return []
    table = _stat_table()
    children = _children(table.values())
    searched = table.keys() if within is None else _subtree(within, children, table)
    found = _classify(requests, table, searched)
    members = [{stat.pid for stat in tree} for tree in found]
    claimed = set().union(*members)
    me = os.getpid()
    for tree, pids in zip(found, members, strict=True):
        tree.extend(_descendants(pids, children, lambda s: s.pid not in claimed and s.pid != me))
    return found


def _stat_table() -> dict[int, ProcStat]:
    """pid -> stat of every process listed (zombies and ourselves too: parent links)."""
    table: dict[int, ProcStat] = {}
    for pid in all_pids():
        stat = read_stat(pid)
        if stat is not None:
            table[pid] = stat
    return table


def _children(stats: Collection[ProcStat]) -> dict[int, list[ProcStat]]:
    """ppid -> the stats of its children."""
    children: dict[int, list[ProcStat]] = {}
    for stat in stats:
        children.setdefault(stat.ppid, []).append(stat)
    return children


def _subtree(
    root: int, children: dict[int, list[ProcStat]], table: dict[int, ProcStat]
) -> set[int]:
    """Pids below `root`, and below any parent that vanished during the scan (maybe ours)."""
    vanished = [ppid for ppid in children if ppid not in table and ppid != 0]
    return {stat.pid for stat in _descendants({root, *vanished}, children, lambda s: True)}


def _classify(
    requests: list[tuple[bytes, int | None]],
    table: dict[int, ProcStat],
    searched: Collection[int],
) -> list[list[ProcStat]]:
    """The members of each tree by group or marker (descendants not yet added)."""
    by_group = {pgid: i for i, (_, pgid) in enumerate(requests) if pgid is not None}
    by_marker = {marker: i for i, (marker, _) in enumerate(requests)}
    key = requests[0][0].partition(b"=")[0] + b"="
    found: list[list[ProcStat]] = [[] for _ in requests]
    me = os.getpid()
    for pid, stat in table.items():
        if pid == me or not stat.live:
            continue
        index = by_group.get(stat.pgid)
        if index is None and pid in searched:
            index = by_marker.get(_entry(read_environ(pid), key))
        if index is not None:
            found[index].append(stat)
    return found


def _entry(environ: bytes, key: bytes) -> bytes:
    """The whole b"KEY=value" entry for `key` in a NUL-separated environ, or b""."""
    if environ.startswith(key):
        start = 0
    else:
        at = environ.find(b"\0" + key)
        if at < 0:
            return b""
        start = at + 1
    end = environ.find(b"\0", start)
    return environ[start : end if end >= 0 else None]


def _descendants(
    roots: Collection[int],
    children: dict[int, list[ProcStat]],
    admit: Callable[[ProcStat], bool],
) -> list[ProcStat]:
    """Live processes below `roots` through admitted live processes (not the roots)."""
    found: list[ProcStat] = []
    seen = set(roots)
    frontier = list(roots)
    while frontier:
        for stat in children.get(frontier.pop(), ()):
            if stat.pid not in seen and stat.live and admit(stat):
                seen.add(stat.pid)
                found.append(stat)
                frontier.append(stat.pid)
    return found
