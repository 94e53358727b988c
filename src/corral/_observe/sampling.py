"""Resource use of process trees: CPU seconds and RSS summed over each tree.

Generic: a tree is named by any key and given by its identity (root, group, marker,
cgroup); its members are the ones `_platform.tree_members` finds, the same ones
stopping it would signal. One /proc pass serves every tree.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from corral._platform import ProcStat, TreeIdentity, tree_members


@dataclass(frozen=True, slots=True)
class Usage:
    """A tree's totals at one moment."""

    cpu_seconds: float
    """CPU time (user + system) used by the tree's live members."""
    rss_bytes: int
    """Resident memory of the tree's live members."""
    processes: int
    """Live members counted."""


OFF_LOOP_TREES = 256
"""Live trees from which a /proc pass over them runs in a worker thread, off the loop.

`status` (which then also builds its views in slices) and the metrics tick use it.
Below it the pass stays on the loop (at 200 instances 5 ms, and the handoff to a
thread cost status of one instance 1.3x); at 1,000 it held the loop 110 ms."""


def tree_usage(
    trees: Mapping[str, TreeIdentity], only: Collection[str] | None = None
) -> dict[str, Usage]:
    """Usage of each tree, by key, from one pass over /proc; with `only`, of those keys.

    The other trees still take part, so that each claims its own processes and none is
    counted in a tree of `only` (the scan reads no environ for a claimed process).
    """
    if not trees:
        return {}
    keys = list(trees)
    wanted = None if only is None else [i for i, key in enumerate(keys) if key in only]
    if wanted == []:
        return {}
    found = tree_members(list(trees.values()), wanted)
    indexes = range(len(keys)) if wanted is None else wanted
    return {keys[i]: total(found[i]) for i in indexes}


def total(members: Iterable[ProcStat]) -> Usage:
    """The sums over a tree's members."""
    cpu, rss, count = 0.0, 0, 0
    for proc in members:
        cpu += proc.cpu_seconds
        rss += proc.rss_bytes
        count += 1
    return Usage(cpu_seconds=cpu, rss_bytes=rss, processes=count)
