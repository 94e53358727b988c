"""Reading /proc: one parser per file, and the scan that finds a process tree.

Why a scan: a program can leave its process group (setpgid) or session (setsid)
and double-fork, so the grandchild is re-parented to init or the nearest
subreaper (prctl(2) PR_SET_CHILD_SUBREAPER) and no parent link leads to it any
more. What such a process keeps is its environment: corral puts a unique
`CORRAL_TREE=<id>` in every child's environment, and /proc/PID/environ (proc(5))
shows the environment the process was started with, inherited through fork and
exec unless a program scrubs it.

THE definition of a member, used by stopping a tree and by counting and charging it
(status, metrics, Prometheus) alike: a member of a tree is any live process that is
its root, is in its process group, carries its marker, is named by the tree's other
list of members (a sandbox's cgroup, which holds every descendant whatever its
group, environment or parent), or descends from a member. Zombies have exited
already (their environ reads empty), so they are not members.

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
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import NamedTuple

_GONE = (FileNotFoundError, ProcessLookupError, PermissionError)
_STAT_SIZE = 1024
"""More than any stat line: 52 numbers and a command name of at most 64 bytes."""
_TICK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


class ProcStat(NamedTuple):
    """One process as /proc/PID/stat shows it: parentage, state and resource use.

    The one record of that file, for tree scans and for sampling alike. A NamedTuple,
    not a frozen dataclass: a sampler builds one per process on the machine per tick,
    and a frozen dataclass with eight fields costs several times more to build.
    """

    pid: int
    state: str
    """One letter (proc(5)): R, S, D, ..., Z a zombie (exited, not yet reaped), X dead."""
    ppid: int
    pgid: int
    sid: int
    cpu_seconds: float
    """CPU time used so far, user + system."""
    rss_bytes: int
    """Resident memory."""
    started: float
    """Start time in seconds since boot (the clock of `boot_clock`): with the pid it
    names one process, so a reused pid is not mistaken for the old one."""

    @property
    def live(self) -> bool:
        """Not a zombie (exited, not yet reaped) and not dead."""
        return self.state not in ("Z", "X")


def boot_clock() -> float:
    """Seconds since boot, the clock `ProcStat.started` is on (CLOCK_BOOTTIME)."""
    return time.clock_gettime(time.CLOCK_BOOTTIME)


def read_stat(pid: int) -> ProcStat | None:
    """Parse /proc/PID/stat (a zombie's too), or None when the process is gone."""
    return read_stats((pid,), zombies=True).get(pid)


def read_stats(pids: Iterable[int], *, zombies: bool = False) -> dict[int, ProcStat]:
    """The stat of each of `pids` that still exists, by pid (zombies only if asked).

    THE parser of /proc/PID/stat. proc(5): after the parenthesised comm come state,
    ppid, pgrp, session, ..., utime and stime (fields 14 and 15, clock ticks),
    starttime (22, ticks since boot) and rss (24, pages). Costs, at a thousand
    processes per metrics tick: os.open and os.read, not open() (a buffered file
    object per process costs about a third of a scan); one read, as the kernel formats
    the whole line at once; one loop with the parse inline, and positional
    construction.
    """
    table: dict[int, ProcStat] = {}
    for pid in pids:
        try:
            fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY | os.O_CLOEXEC)
        except _GONE:
            continue
        try:
            raw = os.read(fd, _STAT_SIZE)
        except _GONE:
            continue
        finally:
            os.close(fd)
        # comm is in parentheses and may itself contain ") ", so split after the last one.
        fields = raw[raw.rfind(b")") + 2 :].split(None, 22)  # the fields up to rss, split
        state = fields[0]
        if not zombies and state in (b"Z", b"X"):
            continue
        table[pid] = ProcStat(
            pid,
            state.decode(),
            int(fields[1]),  # ppid
            int(fields[2]),  # pgrp
            int(fields[3]),  # session
            (int(fields[11]) + int(fields[12])) / _TICK,  # utime + stime
            int(fields[21]) * _PAGE,  # rss
            int(fields[19]) / _TICK,  # starttime
        )
    return table


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


def count_fds(pid: int) -> int | None:
    """How many fds the process has open (entries of /proc/PID/fd); None if unreadable."""
    try:
        with os.scandir(f"/proc/{pid}/fd") as entries:
            return sum(1 for _ in entries)
    except OSError:
        return None


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


class Query(NamedTuple):
    """What names one tree for a scan (see the module docstring for what a member is)."""

    marker: bytes
    """Its b"CORRAL_TREE=..." environment entry."""
    pgid: int | None
    """Its process group; None for a tree whose group number may have been reused."""
    root: int | None = None
    """Its root's pid, a member while it lives wherever it went (setsid, setpgid)."""
    pids: Collection[int] = ()
    """Pids known to be members otherwise: the members of its cgroup."""


def find_tree(marker: bytes, pgid: int | None, *, within: int | None = None) -> list[ProcStat]:
    """Live processes that carry `marker` (b"KEY=value"), share `pgid`, or descend from one.

    With `within`, the marker is looked for only below that pid (see the module docstring).
    """
    return find_trees([Query(marker, pgid)], within=within)[0]


def find_trees(
    queries: Sequence[Query], *, within: int | None = None, wanted: Collection[int] | None = None
) -> list[list[ProcStat]]:
    """The live members of each tree, in ONE pass over /proc (a daemon with 1,000 programs).

    Each process's stat is read once; its environ only when it is in none of the
    requested groups nor named by pid (and, with `within`, when it descends from that
    pid), and then the value of its marker variable is looked up in a dict. All
    markers must share one variable name (b"CORRAL_TREE=..."). A process that two
    trees could claim is given to one of them only.

    `wanted` (indexes into `queries`) limits the descent to those trees; the others
    still claim their own members, and their lists hold only those claims. A process
    descends through one chain of parents, so no other tree's descent can change a
    wanted tree's members: status of one instance among a thousand walks one tree.
    """
    if not queries:
        return []
    table = _stat_table()
    children = _children(table.values())
    found = _classify(queries, table, None if within is None else _below(within, table))
    claimed = {stat.pid for tree in found for stat in tree}
    me = os.getpid()

    def admit(stat: ProcStat) -> bool:
        return stat.pid not in claimed and stat.pid != me

    for index in range(len(queries)) if wanted is None else wanted:
        roots = [stat.pid for stat in found[index]]
        found[index].extend(_descendants(roots, children, admit))
    return found


def _stat_table() -> dict[int, ProcStat]:
    """pid -> stat of every process listed (zombies and ourselves too: parent links)."""
    return read_stats(all_pids(), zombies=True)


def _children(stats: Collection[ProcStat]) -> dict[int, list[ProcStat]]:
    """ppid -> the stats of its children."""
    children: dict[int, list[ProcStat]] = {}
    for stat in stats:
        children.setdefault(stat.ppid, []).append(stat)
    return children


def _below(root: int, table: Mapping[int, ProcStat]) -> Callable[[int], bool]:
    """Whether a listed pid is below `root`, or below a parent that vanished during the
    scan (maybe ours): its parent links walked up, each answer remembered.

    Asked only of the processes no tree claimed by pid or group, so status of one
    instance among a thousand does not walk the daemon's whole subtree.
    """
    known: dict[int, bool] = {root: True}

    def below(pid: int) -> bool:
        chain: list[int] = []
        at = table[pid].ppid
        while True:
            if at in known:
                answer = known[at]
                break
            stat = table.get(at)
            if stat is None or at in chain:  # vanished (maybe ours), or a reused pid's loop
                answer = stat is None and at != 0
                break
            chain.append(at)
            at = stat.ppid
        for link in chain:
            known[link] = answer
        return answer

    return below


def _classify(
    queries: Sequence[Query],
    table: dict[int, ProcStat],
    searched: Callable[[int], bool] | None,
) -> list[list[ProcStat]]:
    """The members of each tree by pid, group or marker (descendants not yet added)."""
    by_pid: dict[int, int] = {}
    for i, query in enumerate(queries):
        for pid in query.pids:
            by_pid.setdefault(pid, i)
        if query.root is not None:
            by_pid.setdefault(query.root, i)
    by_group = {query.pgid: i for i, query in enumerate(queries) if query.pgid is not None}
    by_marker = {query.marker: i for i, query in enumerate(queries)}
    key = queries[0].marker.partition(b"=")[0] + b"="
    found: list[list[ProcStat]] = [[] for _ in queries]
    me = os.getpid()
    for pid, stat in table.items():
        if pid == me or not stat.live:
            continue
        index = by_pid.get(pid)
        if index is None:
            index = by_group.get(stat.pgid)
        if index is None and (searched is None or searched(pid)):
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
