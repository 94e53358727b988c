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
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ProcStat:
    """The fields of /proc/PID/stat that tree-finding needs."""

    pid: int
    state: str
    ppid: int
    pgid: int
    sid: int


def read_stat(pid: int) -> ProcStat | None:
    """Parse /proc/PID/stat, or None when the process is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # comm is in parentheses and may itself contain ") ", so split on the last one.
    fields = raw[raw.rfind(b")") + 2 :].split()
    return ProcStat(
        pid=pid,
        state=fields[0].decode(),
        ppid=int(fields[1]),
        pgid=int(fields[2]),
        sid=int(fields[3]),
    )


def read_environ(pid: int) -> bytes:
    """The NUL-separated start-up environment of a process; empty if unreadable."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return f.read()
    except OSError:
        return b""


def all_pids() -> list[int]:
    """Every pid currently listed in /proc."""
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def find_tree(marker: bytes, pgid: int | None) -> list[ProcStat]:
    """Live processes that carry `marker` (b"KEY=value"), share `pgid`, or descend from one."""
    return find_trees([(marker, pgid)])[0]


def find_trees(requests: list[tuple[bytes, int | None]]) -> list[list[ProcStat]]:
    """`find_tree` for many trees in ONE pass over /proc (a daemon stopping 1,000 programs).

    Each process's stat is read once; its environ only when its group is none of the
    requested ones, and then the value of its marker variable is looked up in a dict.
    All markers must share one variable name (b"CORRAL_TREE=...").
    """
    if not requests:
        return []
    by_group = {pgid: i for i, (_, pgid) in enumerate(requests) if pgid is not None}
    by_marker = {marker: i for i, (marker, _) in enumerate(requests)}
    key = requests[0][0].partition(b"=")[0] + b"="
    members: list[dict[int, ProcStat]] = [{} for _ in requests]
    others: list[ProcStat] = []
    me = os.getpid()
    for pid in all_pids():
        stat = read_stat(pid) if pid != me else None
        if stat is None or stat.state in ("Z", "X"):
            continue
        index = by_group.get(stat.pgid)
        if index is None:
            index = by_marker.get(_entry(read_environ(pid), key))
        if index is None:
            others.append(stat)
        else:
            members[index][pid] = stat
    return [list(found.values()) + _descendants(found, others) for found in members]


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


def _descendants(members: dict[int, ProcStat], others: list[ProcStat]) -> list[ProcStat]:
    found: list[ProcStat] = []
    frontier = set(members)
    remaining = others
    while frontier and remaining:
        children = [s for s in remaining if s.ppid in frontier]
        found.extend(children)
        frontier = {s.pid for s in children}
        remaining = [s for s in remaining if s.pid not in frontier]
    return found
