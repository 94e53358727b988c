"""TreeSampler: CPU %, RSS and process count of many process trees, one call per tick.

A tree's members are the ones stopping it would signal (`_platform.tree_members`:
root, process group, marker, cgroup, descendants), so a double-forked grandchild
that left the group is counted and charged as well as killed.

Cost is what makes a sampler fit to leave on. Finding a tree's members needs every
process's parent: a full pass over /proc (`tree_members`), whose cost grows with
every process on the machine, not only ours. So the sampler keeps a CPU budget: a
full pass that took d seconds is not repeated for d / `budget` seconds (at most
`max_gap`). With the default budget (0.05 % of one core) and a few hundred
processes on the machine every tick is a full pass; on a crowded machine the ticks
in between read only the pids already known to belong to a tree (`read_stats`),
one small read per member. A process a tree forks between passes is counted from
the next full pass (with its CPU since its start, as it was born after the
previous sample); a new root is counted from its first tick.

CPU % is per interval, 100 = one core: the CPU seconds each member gained since
the previous sample, over the wall time between the two. A member is the same
process only while its start time matches (pids are reused). A member that exited
between two samples takes its last interval's CPU with it; on a tree's first sample
the figure is the average since the root started.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass

from corral._platform import (
    ProcStat,
    TreeIdentity,
    boot_clock,
    open_fds,
    read_stats,
    tree_members,
)

BUDGET = 0.0005
"""Share of one core that full /proc passes may use: 0.05 %."""
MAX_GAP = 60.0
"""Seconds after which a full pass is made whatever it costs, so new members are found."""


@dataclass(frozen=True, slots=True)
class Sample:
    """One tree at one tick."""

    cpu_percent: float | None
    """CPU use over the last interval, 100 = one core busy; None if not measurable yet."""
    cpu_seconds: float
    """CPU time of the tree's live members so far."""
    rss_bytes: int
    """Resident memory of the tree's live members."""
    processes: int
    """Live members counted."""
    fds: int | None = None
    """Open fds of the members (entries of /proc/PID/fd), when the sampler counts them;
    None when it does not, or could read none of them."""


class _Tree:
    __slots__ = ("members", "root", "when")

    def __init__(self, root: int) -> None:
        self.root = root
        self.members: dict[int, tuple[float, float]] = {}
        """pid -> (start time, CPU seconds at the last sample)."""
        self.when: float | None = None
        """Boot-clock time of the last sample."""


class TreeSampler:
    """Samples trees named by key, each given by its identity (root, group, marker, cgroup)."""

    def __init__(
        self, *, budget: float = BUDGET, max_gap: float = MAX_GAP, fds: bool = False
    ) -> None:
        """With `fds`, each sample also counts its members' open fds (one directory
        read per member per tick: bench/metrics.py measures it)."""
        if budget <= 0 or max_gap < 0:
            raise ValueError("budget must be > 0 and max_gap >= 0")
        self.fds = fds
        self._budget = budget
        self._max_gap = max_gap
        self._trees: dict[str, _Tree] = {}
        self._next_full = -math.inf
        """Boot-clock time from which the next tick may make a full pass."""
        self.full_passes = 0
        """Full /proc passes made so far (for tests and the sampler's own metrics)."""

    def sample(self, trees: Mapping[str, TreeIdentity]) -> dict[str, Sample]:
        """One tick: a Sample for every key in `trees` whose root is alive."""
        now = boot_clock()
        self._trees = {
            key: tree
            for key, tree in self._trees.items()
            if (named := trees.get(key)) is not None and named.root == tree.root
        }  # a restarted root is a new tree
        found = self._discover(trees, now) if now >= self._next_full else self._known(trees)
        samples: dict[str, Sample] = {}
        for key, named in trees.items():
            root = named.root
            tree = self._trees.get(key)
            if tree is None:
                tree = self._trees[key] = _Tree(root)
            procs = found.get(key, [])
            if any(p.pid == root for p in procs):
                sample = _update(tree, procs, now)
                samples[key] = _with_fds(sample, procs) if self.fds else sample
            else:  # the root is gone: nothing to sample until the caller names a new one
                del self._trees[key]
        return samples

    def _discover(self, trees: Mapping[str, TreeIdentity], now: float) -> dict[str, list[ProcStat]]:
        if not trees:
            return {}
        began = time.perf_counter()
        found = dict(zip(trees, tree_members(list(trees.values())), strict=True))
        cost = time.perf_counter() - began
        self._next_full = now + min(self._max_gap, cost / self._budget)
        self.full_passes += 1
        return found

    def _known(self, trees: Mapping[str, TreeIdentity]) -> dict[str, list[ProcStat]]:
        wanted = {named.root for named in trees.values()}
        for known in self._trees.values():
            wanted.update(known.members)
        table = read_stats(wanted)
        found: dict[str, list[ProcStat]] = {}
        for key, named in trees.items():
            root = named.root
            tree = self._trees.get(key)
            members = tree.members if tree is not None else {}
            procs = [p for pid, (started, _) in members.items()
                     if (p := table.get(pid)) is not None and p.started == started]  # fmt: skip
            if root not in members and root in table:
                procs.append(table[root])
            found[key] = procs
        return found


def _with_fds(sample: Sample, procs: list[ProcStat]) -> Sample:
    counts = [n for proc in procs if (n := open_fds(proc.pid)) is not None]
    fds = sum(counts) if counts else None
    return Sample(sample.cpu_percent, sample.cpu_seconds, sample.rss_bytes, sample.processes, fds)


def _update(tree: _Tree, procs: list[ProcStat], now: float) -> Sample:
    """Fold one tick's members into `tree`; returns the tree's Sample."""
    previous, since = tree.members, tree.when
    if len(procs) == 1 and since is not None and now > since:  # the common case, quicker
        proc = procs[0]
        seen = previous.get(proc.pid)
        if seen is not None and seen[0] == proc.started:
            tree.members = {proc.pid: (proc.started, proc.cpu_seconds)}
            tree.when = now
            gained = max(0.0, proc.cpu_seconds - seen[1])
            busy = round(100.0 * gained / (now - since), 1)
            return Sample(busy, proc.cpu_seconds, proc.rss_bytes, 1)
    gained = 0.0
    members: dict[int, tuple[float, float]] = {}
    for proc in procs:
        seen = previous.get(proc.pid)
        if seen is not None and seen[0] == proc.started:
            gained += max(0.0, proc.cpu_seconds - seen[1])
        elif since is not None and proc.started >= since:
            gained += proc.cpu_seconds  # born since the last sample: all its CPU is new
        members[proc.pid] = (proc.started, proc.cpu_seconds)
    tree.members, tree.when = members, now
    cpu = sum(p.cpu_seconds for p in procs)
    if since is not None:
        percent = 100.0 * gained / (now - since) if now > since else None
    else:
        started = members[tree.root][0]
        percent = 100.0 * cpu / (now - started) if now > started else None
    return Sample(
        cpu_percent=None if percent is None else round(percent, 1),
        cpu_seconds=cpu,
        rss_bytes=sum(p.rss_bytes for p in procs),
        processes=len(procs),
    )
